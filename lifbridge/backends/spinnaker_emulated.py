"""The spinnaker.emulated backend: sPyNNaker 7.4.1's neuron arithmetic, emulated with numpy.

Path of a model: spec -> :mod:`lifbridge.spinnaker.mapping` (the sPyNNaker cell type and
its parameters in PyNN's units) -> :mod:`lifbridge.spinnaker.emulate` (the chip's s16.15
arithmetic and per-tick order) -> runner :mod:`lifbridge.runners.spinnaker_emulated`.
No SpiNNaker hardware or sPyNNaker installation is needed: it shows the hardware's
numerical error before a model is deployed.
"""

from __future__ import annotations

from types import MappingProxyType

from ..validation.tolerances import KnownGap, Tolerance
from .base import APPROXIMATE, UNSUPPORTED, Backend, Capability, Option, bundled_model_gaps, gap_of, tolerance_text

NAME = "spinnaker.emulated"


def capability(model, backend=NAME) -> Capability:
    from ..spinnaker.mapping import cell_type, not_available

    gap = gap_of(model.name, backend)
    if gap is not None:
        return Capability(model.name, backend, UNSUPPORTED, gap.reason)
    row = cell_type(model)
    if not row.available:
        return Capability(model.name, backend, UNSUPPORTED, not_available(model))
    reason = f"sPyNNaker {row.cell_type} ({row.relation}): {row.note}"
    # never exact: fixed-point arithmetic
    return Capability(model.name, backend, APPROXIMATE, reason, tolerance_text("fi_steady_rate", model.name, backend))


def _unavailable_gaps() -> tuple:
    """A known gap for every bundled model without an emulated sPyNNaker cell type (reason from the mapping)."""
    from ..spinnaker.mapping import cell_type, not_available

    return bundled_model_gaps(NAME, lambda model: "" if cell_type(model).available else not_available(model))



#: Rows of the tolerance table for the chip's arithmetic and scheme, each derived (numbers at
#: validation's dt = 0.1 ms and the bundled defaults; measured with lifbridge validate --quick).
_TAU = ("dt/tau is truncated to 2^-15 by kdivk before the exponential (dt = 0.1 ms, tau_m = 10 ms: 327 LSB for "
        "327.7), so the membrane relaxes with a time constant 0.21% too long")
_FLOOR_V = "each step's two floor multiplies move V up by < 1 LSB, adding up to < LSB/(1 - exp(-dt/tau_m)) = 6 uV"
_MEAN = ("sPyNNaker's exponential synapse scales each weight by (tau/dt)(1 - exp(-dt/tau)), so the current held over "
         "a step is the step's mean of the exact one: the sample at the spike is w (tau/dt)(1 - exp(-dt/tau)), "
         "1 - that = dt/(2 tau) = 2.5% low at tau_syn = 2 ms")
_FLOOR_SYN = ("the decay isyn = floor(isyn exp(-dt/tau)) loses < 1 LSB per step, so a current of x LSB loses up to "
              "(LSB/(1 - exp(-dt/tau))) ln(x (1 - exp(-dt/tau))/LSB) / x of its charge: 3.3% for the 50 pA PSC of "
              "the protocol (1600 LSB, tau_syn = 2 ms)")
_IZH = ("RK2 explicit midpoint at dt = 0.1 ms with the input held over the step (float arithmetic: 0.035 mV of a "
        "1 mV jump, which enters as the charge w/dt over the step ending at the spike) and the constant 0.04 of "
        "V^2 stored as 1311/32768 = 0.0400085 (+2.1e-4: 0.036 mV/ms more drive at -65 mV, which moves the "
        "resting V by about 0.05 mV)")

#: adaptive_lif_psc_exp runs as sPyNNaker's nearest, IFCurrExpCa2Adaptive (lifbridge.spinnaker.mapping):
#: its adaptation current is g_a a (V_hold - E_K), not g_a a (V_m - E_K). What spikes after an
#: adaptation is a different model's: the checks on spike timing are known gaps, with their numbers.
_NEAREST_ADAPTATION = ("nearest model: sPyNNaker's IFCurrExpCa2Adaptive holds the adaptation's driving force at "
                       "V_hold = (E_L + V_th)/2, 43% off at reset for adaptive_lif's defaults, so the adapted rates "
                       "and spike times are the nearest model's (measured with --quick: f-I 7.9 Hz at 0.1 ms, step "
                       "spikes 2.6 ms, 32% of Poisson-driven spikes without a partner)")
#: A weight of the spike-input protocol that SpiNNaker cannot hold: the run is refused (one line).
WEIGHT_GAPS = (KnownGap("izhikevich_cond_exp", NAME, "spike_input_run", "the protocol's inhibitory conductance "
                        "weight (0.0083 nS, sized for the izhikevich's 1 GOhm input) is below SpiNNaker's weight "
                        "resolution with the ring-buffer shift its inputs need, so it would be 0 on the chip; the "
                        "run is refused in one line"),)
NEAREST_GAPS = tuple(KnownGap(pattern, NAME, check, _NEAREST_ADAPTATION)
                     for pattern in ("adaptive_lif", "adaptive_lif_psc_exp")
                     for check in ("fi_steady_rate", "fi_first_isi_rate", "step_spike_times", "poisson_coincidence",
                                   "frozen_noise_coincidence"))

#: sPyNNaker's alpha synapse (synapse_types_alpha_impl.h, lifbridge.spinnaker.emulate.AlphaSynapse).
_ALPHA_SUM = ("sPyNNaker's alpha synapse does not sum overlapping inputs: each new input decays exp_buff once more "
              "(add_input_alpha), which moves every earlier input's alpha function one step ahead (derived and "
              "tested: tests/test_spinnaker_emulated.py), and the slope of lin_buff becomes the newest input's; under "
              "the protocol's Poisson input the current decays faster than the sum of alphas, so spikes are lost or "
              "late (measured with --quick: 42% of spikes without a partner in s16.15, 45% in double precision, so "
              "it is the C's scheme, not the number format)")
_ALPHA_PEAK = ("the alpha function's samples 1.9 ms and 2.0 ms after the spike differ by 1 - 0.95 e^0.05 = 0.13% of "
               "the peak, 0.024 pA for the protocol's 18.4 pA PSC: less than the s16.15 resolution of the current "
               "(2^-15 nA = 0.031 pA), so the chip's floors decide which sample is larger (measured: the peak value "
               "1.3% off, at 1.9 ms)")
ALPHA_GAPS = (KnownGap("lif_psc_alpha", NAME, "poisson_coincidence", _ALPHA_SUM),
              KnownGap("lif_psc_alpha", NAME, "psc_peak", _ALPHA_PEAK))

_STEP_MEAN_COND = ("sPyNNaker scales each weight by (tau/dt)(1 - exp(-dt/tau)) and holds the current over the step: "
                   "at NEST's tau_syn_exc = 0.2 ms and dt = 0.1 ms that factor is 2 (1 - e^-0.5) = 0.787, so the "
                   "sample at the spike is 21% low (measured 22%; 23% of the charge with the floor decay)")

TOLERANCES = (
    Tolerance("step_voltage", "adaptive_lif", NAME, abs=7e-3, reason="as lif's: without spikes the adaptation is "
              "zero and the membrane is the LIF's (measured 3.0e-3 mV)"),
    Tolerance("psp_shape", "adaptive_lif*", NAME, abs=0.02, reason="as lif's: one input spike does not fire the "
              "neuron, so the adaptation is zero and the PSP is the LIF's (measured 0.008 mV)"),
    Tolerance("step_voltage", "lif*", NAME, abs=7e-3, reason=f"s16.15 arithmetic: {_TAU}, i.e. an error of at most "
              f"R I 0.0021/e = 6.2e-3 mV in the response to the 8 mV subthreshold step; {_FLOOR_V} (measured "
              "3.0e-3 mV; 1e-13 mV with arithmetic=float)"),
    Tolerance("step_voltage", "izhikevich*", NAME, abs=0.2, reason=f"{_IZH} (measured 0.098 mV)"),
    *(Tolerance(check, pattern, NAME, rel=0.25, reason=_STEP_MEAN_COND)
      for check in ("psc_shape", "psc_peak", "psc_integral") for pattern in ("*_cond_exp", "lif_cond")),
    Tolerance("step_voltage", "lif_cond", NAME, abs=7e-3, reason="as lif's: no conductance input in this protocol, "
              "the same fixed-point membrane (measured 5.4e-3 mV; tau_m = C_m/g_L truncated as dt/tau_m)"),
    Tolerance("psc_shape", "*_psc_alpha", NAME, rel=0.03, reason="one input's current is the alpha function sampled "
              "on the grid (1e-13 of the peak with arithmetic=float); in s16.15 the weight is quantised by the ring "
              "buffer and every product floored: measured 1.29% of the protocol's 18.4 pA peak"),
    Tolerance("psc_integral", "*_psc_alpha", NAME, rel=0.05, reason="as psc_shape for alpha: the s16.15 weight and "
              "floors, which lose charge in the tail where lin_buff x exp_buff is a few LSB (measured 2.6%)"),
    Tolerance("psc_shape", "*", NAME, rel=0.03, reason=f"{_MEAN}; fixed point adds the truncated dt/tau (0.07%) "
              f"and the floor decay below (measured 2.53%)"),
    Tolerance("psc_peak", "*", NAME, rel=0.03, reason=f"as psc_shape: {_MEAN} (measured 2.53%)"),
    Tolerance("psc_integral", "*", NAME, rel=0.06, reason=f"{_MEAN}; {_FLOOR_SYN} (measured 5.6%; 2.46% with "
              "arithmetic=float)"),
    Tolerance("psp_shape", "lif*", NAME, abs=0.02, reason=f"the PSP of the step-mean current is the closed form's "
              f"within 1.1e-5 mV (arithmetic=float); in s16.15 the PSC loses up to 3.3% of its charge ({_FLOOR_SYN}), "
              f"3.3% of the 0.4 mV PSP is 0.013 mV, plus {_FLOOR_V} (measured 0.008 mV)"),
    Tolerance("psp_shape", "izhikevich*", NAME, abs=0.15, reason=f"{_IZH} (measured 0.095 mV; 0.035 mV with "
              "arithmetic=float)"),
)

BACKEND = Backend(
    name=NAME,
    label="SpiNNaker (emulated)",
    description="sPyNNaker 7.4.1's neuron arithmetic (s16.15 fixed point, per-tick order, weight quantisation) "
                "emulated with numpy: the hardware's numerical error without the hardware",
    packages=(),
    install_hint="pip install lifbridge (numpy only)",
    runner="lifbridge.runners.spinnaker_emulated",
    capability=capability,
    options=MappingProxyType({
        "arithmetic": Option(("fixed", "float"), "fixed", "SpiNNaker's s16.15 fixed point, or the same scheme in "
                             "double precision"),
    }),
    in_quick_runs=False,
    in_full_runs=True,
    color="tab:brown",
    tolerances=TOLERANCES,
    known_gaps=_unavailable_gaps() + NEAREST_GAPS + WEIGHT_GAPS + ALPHA_GAPS,
    # SpiNNaker's usual time steps: each model is also measured at both (lifbridge.validation.time_steps)
    report_time_steps=(1.0, 0.1),
    report_numbers="lifbridge.spinnaker.report:weight_numbers",
    modules=("lifbridge.backends.spinnaker_emulated", "lifbridge.runners.spinnaker_emulated",
             "lifbridge.spinnaker.emulate", "lifbridge.spinnaker.fixed", "lifbridge.spinnaker.mapping",
             "lifbridge.spinnaker.report", "lifbridge.spinnaker.__init__"),
)
