"""The judge: everything a backend is measured against, none of it a simulator.

* :mod:`lifbridge.analytic`: closed forms (LIF, PIF, EIF, adaptation, opsin plateau
  f-I curves; the Siegert rate under white noise);
* :mod:`lifbridge.reference`: the reference integrator, which reads the model spec
  itself (adaptive DOP853 with exact event location, reset and refractoriness);
* the integrate-and-fire equivalents of the biophysical reference model (``hh``, the
  model with ``[hints].role = "biophysical_reference"``), in three steps:

  - :mod:`.measure`: rest, input resistance, membrane time constant, rheobase, spike
    threshold, reset (AHP trough), spike width, maximal rate and the dynamic I-V curve,
    all measured through the reference integrator (:func:`measure_hh`);
  - :mod:`.fit`: the equivalent LIF and AdEx built from those measurements
    (:func:`equivalent_lif`, :func:`equivalent_adex`);
  - :mod:`.compare`: f-I curves, rheobase and spike times of the three models, as check
    records whose tolerances and known gaps are rows of
    :mod:`lifbridge.validation.tolerances` (:func:`hh_equivalent`).

The numbers are plain data; the command line prints them (``lifbridge hh-equivalent``)
and the report draws them (:mod:`lifbridge.validation.hh_section`).
"""

from .. import analytic, reference
from .compare import COINCIDENCE_WINDOW_MS, coincidence_factor, hh_equivalent, what_does_not_match
from .fit import adex_rest_state, adex_subthreshold_parameters, equivalent_adex, equivalent_lif, lif_parameters
from .measure import (BIOPHYSICAL_REFERENCE, FULL, QUICK, THRESHOLD_SLOPE_MV_PER_MS, biophysical_reference,
                      is_biophysical_reference, measure_hh, ou_current, steady_state_current, steady_state_rest)

__all__ = ["analytic", "reference", "measure_hh", "equivalent_lif", "equivalent_adex", "lif_parameters",
           "adex_subthreshold_parameters", "adex_rest_state", "hh_equivalent", "coincidence_factor",
           "what_does_not_match", "steady_state_current", "steady_state_rest", "ou_current",
           "biophysical_reference", "is_biophysical_reference", "BIOPHYSICAL_REFERENCE", "FULL", "QUICK",
           "THRESHOLD_SLOPE_MV_PER_MS", "COINCIDENCE_WINDOW_MS"]
