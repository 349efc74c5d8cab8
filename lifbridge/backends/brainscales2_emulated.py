"""The brainscales2.emulated backend: BrainScaleS-2's calibrated LIF, emulated with numpy.

Path of a model: spec -> :mod:`lifbridge.brainscales2.mapping` (the pynn_brainscales cell
type, its parameters in CADC units and hardware microseconds, the ranges) ->
:mod:`lifbridge.brainscales2.emulate` (quantisation, per-neuron mismatch, the membrane's
range, accelerated time) -> runner :mod:`lifbridge.runners.brainscales2_emulated`.
``lifbridge generate MODEL --target brainscales2`` writes the pynn_brainscales script
(:mod:`lifbridge.brainscales2.script`). No BrainScaleS-2 hardware or pynn_brainscales is
needed: it shows before a model is queued what the chip can hold and how far the analog
substrate will move it.
"""

from __future__ import annotations

from types import MappingProxyType

from ..validation.tolerances import KnownGap, Tolerance
from .base import (APPROXIMATE, UNSUPPORTED, Backend, Capability, Generator, Option, bundled_model_gaps, gap_of,
                   tolerance_text)

NAME = "brainscales2.emulated"


def capability(model, backend=NAME) -> Capability:
    from ..brainscales2.mapping import cell_type

    gap = gap_of(model.name, backend)
    if gap is not None:
        return Capability(model.name, backend, UNSUPPORTED, gap.reason)
    row = cell_type(model)
    reason = _not_emulated(row, model)
    if reason:
        return Capability(model.name, backend, UNSUPPORTED, reason)
    reason = (f"BrainScaleS-2 {row.cell_type}: {row.note}; emulated in hardware units with CapMem and 6-bit weight "
              "quantisation (mismatch off by default, --mismatch calibrated draws it per neuron)")
    return Capability(model.name, backend, APPROXIMATE, reason, tolerance_text("fi_steady_rate", model.name, backend))


def _not_emulated(row, model) -> str:
    """Why the emulation cannot run ``model`` (its mapping's ``row``), or ""."""
    from ..brainscales2.mapping import not_available

    if not row.available:
        return not_available(model)
    if not row.emulated:
        return f"{row.cell_type} is generated (--target brainscales2) but not emulated: {row.note}"
    return ""


def _unavailable_gaps() -> tuple:
    """A known gap for every bundled model without an emulated BrainScaleS-2 cell type."""
    from ..brainscales2.mapping import cell_type

    return bundled_model_gaps(NAME, lambda model: _not_emulated(cell_type(model), model))


_TAU = ("time constants are realised by a 10-bit CapMem bias current (lifbridge.brainscales2.emulate.quantise_tau): "
        "tau_m = 10 us becomes 9.9951 us (-0.049%), tau_syn = 2 us becomes 1.9990 us")
_WEIGHT = ("weights are 6-bit: the largest summed input of a step is 63 LSB and every other weight is rounded to "
           "an LSB, so a weight off by up to half an LSB: the protocol's single PSC is half of its largest summed "
           "input, 31.5 LSB, held as 32 (+1/63 = 1.59%, measured 1.587%)")

TOLERANCES = (
    Tolerance("step_voltage", "lif*", NAME, abs=0.02, reason=f"{_TAU}; a current I moves the membrane towards "
              "E_L + tau_m I / C_m, so the 8 mV step response's plateau moves with tau_m: 8 mV x 0.00049 = 3.9e-3 mV "
              "(measured 3.9e-3 mV; 3e-13 mV with quantisation off); voltages on the CapMem grid of 0.25 CADC = "
              "0.083 mV (the bundled values are on it)"),
    Tolerance("psc_shape", "lif*", NAME, rel=0.02, reason=f"{_TAU}; {_WEIGHT}"),
    Tolerance("psc_peak", "lif*", NAME, rel=0.02, reason=f"{_WEIGHT}"),
    Tolerance("psc_integral", "lif*", NAME, rel=0.02, reason=f"{_TAU}; {_WEIGHT}"),
    Tolerance("psp_shape", "lif*", NAME, abs=0.01, reason=f"{_TAU}; {_WEIGHT}"),
)

BACKEND = Backend(
    name=NAME,
    label="BrainScaleS-2 (emulated)",
    description="BrainScaleS-2's calibrated LIF (pynn_brainscales CalibHXNeuronCuba) emulated with numpy in "
                "hardware units: 1000x accelerated time, CapMem and 6-bit weight quantisation, per-neuron "
                "calibration residuals and the membrane's range",
    packages=(),
    install_hint="pip install lifbridge (numpy only)",
    runner="lifbridge.runners.brainscales2_emulated",
    capability=capability,
    generators=MappingProxyType({
        "brainscales2": Generator("lifbridge.brainscales2.script:generate_script",
                                  "a pynn_brainscales script (CalibHXNeuronCuba/Coba for the LIF, HXNeuron "
                                  "uncalibrated for AdEx) with every value range-checked", ".py"),
    }),
    options=MappingProxyType({
        "mismatch": Option(("none", "calibrated"), "none", "per-neuron calibration residuals: none, or drawn "
                           "with lifbridge.brainscales2.emulate.Spreads"),
        "quantisation": Option(("on", "off"), "on", "CapMem, refractory-counter and 6-bit weight quantisation"),
    }),
    in_quick_runs=False,
    in_full_runs=True,
    color="tab:olive",
    tolerances=TOLERANCES,
    known_gaps=_unavailable_gaps(),
    # the report's spread across emulated hardware neurons (lifbridge.validation.mismatch)
    mismatch_options=MappingProxyType({"mismatch": "calibrated"}),
    modules=("lifbridge.backends.brainscales2_emulated", "lifbridge.runners.brainscales2_emulated",
             "lifbridge.brainscales2.emulate", "lifbridge.brainscales2.mapping", "lifbridge.brainscales2.script",
             "lifbridge.brainscales2.__init__", "lifbridge.pynn.brainscales2"),
)
