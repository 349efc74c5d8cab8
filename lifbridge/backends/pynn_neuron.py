"""The pynn.neuron backend: PyNN 0.13 on NEURON, with lifbridge's NMODL point processes.

Path of a model: spec -> :func:`lifbridge.nmodl.to_nmodl` (one ``POINT_PROCESS`` per
model; ``generate --target nmodl``) -> :mod:`lifbridge.nmodl_build` (``nrnivmodl``, cached
by content hash) -> :mod:`lifbridge.pynn.neuron` (a PyNN cell type with PyNN's names and
units, :mod:`lifbridge.pynn.names`) -> runner :mod:`lifbridge.runners.pynn_neuron` (one
PyNN population, PyNN's current sources and spike sources).

This backend stands on its own: its code generator is its own (NMODL), so it needs no
other lifbridge backend.
"""

from __future__ import annotations

from types import MappingProxyType

from ..validation.tolerances import Tolerance
from .base import APPROXIMATE, UNSUPPORTED, Backend, Capability, Generator, gap_of, tolerance_text

NAME = "pynn.neuron"


def capability(model, backend=NAME) -> Capability:
    gap = gap_of(model.name, backend)
    if gap is not None:
        return Capability(model.name, backend, UNSUPPORTED, gap.reason)
    from ..nmodl import solver, to_nmodl

    try:
        to_nmodl(model)
    except Exception as error:  # noqa: BLE001 - the printer's one-line reason is the capability's
        return Capability(model.name, backend, UNSUPPORTED, str(error))
    from ..nmodl import membrane

    others = [x for x in model.state if x != membrane(model).variable]
    method = solver(model, others) if others else "none"
    return Capability(model.name, backend, APPROXIMATE, "NEURON's variable-step solver (CVODE, rtol = atol = 1e-8) "
                      f"on every state (NMODL {method}); spike times found by WATCH between grid points, reported at "
                      "the next grid point", tolerance_text("fi_steady_rate", model.name, backend))


def build_notes() -> str:
    """"" if new NEURON mechanisms can be built here, else one line naming what to install."""
    from ..nmodl_build import NmodlBuildError, check_build_prerequisites

    try:
        check_build_prerequisites()
    except NmodlBuildError as error:
        return f"cannot build new NEURON mechanisms (cached ones still run): {error}"
    return ""


_CVODE = ("NEURON's variable-step solver (CVODE, rtol = atol = 1e-8) integrates the synaptic kinetics too: its error "
          "control, not an exact propagator")

#: Rows of the tolerance table for NEURON's own integration: the value measured with
#: lifbridge validate --quick (dt 0.1 ms, 0.01 ms for hh*), and why.
TOLERANCES = (
    Tolerance("psc_shape", "*", NAME, rel=5e-4, reason=_CVODE + ": measured 1.7e-5 of the peak (lif_psc_alpha) "
              "in a fresh worker, and 1.7e-4 (lif_cond_alpha, tau_syn 0.2 ms) in a worker that had run other models "
              "before; the cause of the difference is not found"),
    Tolerance("psc_peak", "*", NAME, rel=5e-4, reason=_CVODE + ": measured 2.0e-5 (lif_psc_alpha); as psc_shape"),
    Tolerance("psc_integral", "*", NAME, rel=5e-4, reason=_CVODE + ": measured 1.3e-5 (lif_cond_alpha); as "
              "psc_shape"),
    Tolerance("psp_shape", "*", NAME, abs=1e-4, reason=_CVODE + ": measured 3.0e-5 mV (hh_traub)"),
    Tolerance("psp_shape", "hh_traub_psc_*", NAME, abs=3e-3, reason=_CVODE + ": with current synapses the spike-"
              "generating sodium current amplifies the solver's error in the PSP: measured 1.4e-3 mV "
              "(hh_traub_psc_alpha, in a fresh process) and 3.0e-4 mV (hh_traub_psc_delta)"),
)

BACKEND = Backend(
    name=NAME,
    label="PyNN/NEURON",
    description="PyNN 0.13 (pyNN.neuron) running lifbridge's generated NMODL point process as a PyNN cell type",
    packages=(("pyNN", "PyNN"), ("neuron", "neuron")),
    install_hint="pip install 'lifbridge[pynn]' neuron",
    runner="lifbridge.runners.pynn_neuron",
    capability=capability,
    generators=MappingProxyType({
        "nmodl": Generator("lifbridge.nmodl:to_nmodl", "NEURON NMODL point process lb_<model> (membrane = the "
                           "section's v; NEURON units)", ".mod"),
    }),
    probe=build_notes,
    color="tab:brown",
    tolerances=TOLERANCES,
    modules=("lifbridge.backends.pynn_neuron", "lifbridge.nmodl", "lifbridge.nmodl_build", "lifbridge.pynn.neuron",
             "lifbridge.runners.pynn_neuron"),
)
