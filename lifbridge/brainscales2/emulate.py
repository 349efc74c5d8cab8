"""BrainScaleS-2's calibrated LIF (CalibHXNeuronCuba), emulated with numpy in hardware units.

What is emulated
----------------
* **Accelerated time**: the neuron is integrated in hardware microseconds with the
  parameters of :func:`lifbridge.brainscales2.mapping.translate` (a biological ms is a
  hardware us at :data:`~lifbridge.brainscales2.mapping.SPEEDUP` = 1000); spike times are
  given back in biological ms.
* **Quantisation** of what the chip stores: voltages (rest, reset, threshold) on the CapMem
  grid (:func:`quantise_voltage`), time constants as a 10-bit CapMem bias current with
  power-of-two range switching (:func:`quantise_tau`), the refractory time as a digital
  counter (:func:`quantise_refractory`) and weights as 6-bit integers (:func:`quantise_weights`).
* **Calibration residuals and fixed-pattern mismatch** drawn per neuron from normal
  distributions with the spreads of :class:`Spreads` (adjustable, each with its source or
  the statement that no published figure was found), from a seed: the same seed gives the
  same neurons.
* **The membrane's range**: V saturates at the ends of [:data:`V_MIN_CADC`, :data:`V_MAX_CADC`].

Dynamics: between spikes, the LIF with exponential current synapses integrated exactly
over each step (the closed form with constant drive and an exponentially decaying synaptic
drive); a spike at the end of the step in which V reaches the threshold, V held at the
reset for the refractory counter's steps. With quantisation and mismatch off, this is the
exact LIF on the time grid.

What is not emulated
--------------------
Temporal noise of the analog circuits, CapMem drift and leakage over a run, the
synaptic input's saturation (synapse_dac_bias) and its non-linearity, the spike's analog
upswing and the threshold comparator's delay, the event routing's latency and loss under
load, mismatch between individual synapses (only a per-neuron synaptic gain), the
conductance-based input (CalibHXNeuronCoba) and the uncalibrated AdEx (HXNeuron).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .mapping import CAPMEM_MAX, RANGES, WEIGHT_MAX_PER_ROW

#: The membrane's readable range: the CADC's 8-bit range (calix constants.py reads reliably in
#: [30, 210]); the analog rails themselves are not given in the sources read. Adjustable per run.
V_MIN_CADC, V_MAX_CADC = 0.0, 255.0
#: CapMem voltage step in CADC units: 1023 CapMem values over about the CADC's 256 values (an
#: assumption: CapMem and CADC span about the same voltage range; no published ratio was found).
VOLTAGE_STEP_CADC = 256.0 / (CAPMEM_MAX + 2)
#: Refractory counter: 8 bit (hal.NeuronBackendConfig.RefractoryTime) of a clock whose period is
#: a power of two times REFRACTORY_CLOCK_NS (calix refractory_period.py chooses the clock scale;
#: the 4 ns base period is an assumption, calix reads it from the chip's ADPLL).
REFRACTORY_COUNTER_MAX = 255
REFRACTORY_CLOCK_NS = 4.0

_NO_FIGURE = "no published per-parameter figure was found in the sources read (an assumption; adjust it)"

#: Where each default spread comes from.
SOURCES = {
    "v_rest": "calix calibrates the leak potential with a binary search on CADC reads, so it ends within about one "
              "CADC value of the target; " + _NO_FIGURE,
    "v_reset": "as v_rest (calix reset calibration on CADC reads); " + _NO_FIGURE,
    "v_thresh": "as v_rest (calix threshold calibration, ThresholdCalibCADC); " + _NO_FIGURE,
    "tau_m": _NO_FIGURE,
    "tau_syn": _NO_FIGURE,
    "tau_refrac": "a digital counter: no analog residual, only quantisation",
    "weight_gain": "calix calibrates each neuron's synaptic input strength (i_synin_gm) to the median of all "
                   "neurons; " + _NO_FIGURE,
}


@dataclass(frozen=True)
class Spreads:
    """Standard deviations of the per-neuron deviations from the calibration targets.

    Voltages in CADC units, time constants and the synaptic gain relative (0.02 = 2%).
    Defaults and sources (see :data:`SOURCES`): ``v_rest``, ``v_reset``, ``v_thresh`` = 1 CADC;
    ``tau_m``, ``tau_syn`` = 2%; ``tau_refrac`` = 0 (a digital counter, only quantised);
    ``weight_gain`` = 5% (each neuron's synaptic input strength against the median of all).
    """

    v_rest: float = 1.0
    v_reset: float = 1.0
    v_thresh: float = 1.0
    tau_m: float = 0.02
    tau_syn: float = 0.02
    tau_refrac: float = 0.0
    weight_gain: float = 0.05

    def scaled(self, factor: float) -> "Spreads":
        return Spreads(**{f.name: getattr(self, f.name) * factor for f in fields(self)})


NO_SPREAD = Spreads(0, 0, 0, 0, 0, 0, 0)


# ---------------------------------------------------------------------------- quantisation
def quantise_voltage(cadc):
    """A voltage target (CADC) on the CapMem grid of :data:`VOLTAGE_STEP_CADC`."""
    return np.round(np.asarray(cadc, float) / VOLTAGE_STEP_CADC) * VOLTAGE_STEP_CADC


def quantise_tau(tau_us, tau_low_us):
    """A time constant (hardware us) as a 10-bit bias current realises it.

    tau is inversely proportional to the bias current: at code 1022 of the lowest range tau
    is ``tau_low_us``; each power of two of range switching doubles it (the leak's division
    and multiplication modes, modelled as powers of two). The calibration picks the range in
    which the exact code lies in (511, 1022] and rounds it, so the relative error is at most
    1/(2 x 511):  ``code = round(1022 tau_low 2^j / tau)``, ``tau_q = 1022 tau_low 2^j / code``.
    """
    tau = np.asarray(tau_us, float)
    exact = CAPMEM_MAX * tau_low_us / tau
    j = np.floor(np.log2(CAPMEM_MAX / exact))
    code = np.round(exact * 2.0 ** j)
    return CAPMEM_MAX * tau_low_us * 2.0 ** j / code


def quantise_refractory(t_us):
    """A refractory time (hardware us) as an 8-bit counter of the slowest clock that still fits it:
    period ``REFRACTORY_CLOCK_NS 2^s`` with the smallest s where the count is <= 255."""
    t_ns = np.asarray(t_us, float) * 1e3
    scale = np.maximum(0, np.ceil(np.log2(np.maximum(t_ns / (REFRACTORY_COUNTER_MAX * REFRACTORY_CLOCK_NS),
                                                     1e-300))))
    period = REFRACTORY_CLOCK_NS * 2.0 ** scale
    return np.round(t_ns / period) * period / 1e3


def weight_lsb(weights) -> float:
    """The weight of one LSB for a set of weights: the largest |w| is 63 LSB (one synapse row at
    full scale), as a user chooses i_synin_gm; 0 for no weights."""
    w = np.abs(np.asarray(weights, float))
    return float(w.max()) / WEIGHT_MAX_PER_ROW if w.size and w.max() > 0 else 0.0


def quantise_weights(weights, lsb: float):
    """(integer LSB, realised weight) of ``weights`` with one LSB worth ``lsb`` (same unit)."""
    w = np.asarray(weights, float)
    if lsb == 0:
        return np.zeros_like(w, dtype=int), np.zeros_like(w)
    codes = np.round(np.abs(w) / lsb)
    return codes.astype(int), np.sign(w) * codes * lsb


# ---------------------------------------------------------------------------- neurons
@dataclass
class Neurons:
    """Per-neuron hardware values (CADC, hardware us) after quantisation and mismatch."""

    v_leak: np.ndarray
    v_reset: np.ndarray
    v_thresh: np.ndarray
    tau_m: np.ndarray
    tau_refrac: np.ndarray
    tau_syn: dict      # receptor "E"/"I" -> array (us)
    gain: dict         # receptor -> per-neuron synaptic gain (1 = calibrated target)


def realise(hw, n: int, *, quantise=True, spreads: Spreads = NO_SPREAD, seed: int = 0) -> Neurons:
    """The ``n`` neurons the chip realises for the calibration targets ``hw.parameters``.

    Mismatch is drawn in a fixed order from ``numpy.random.default_rng(seed)``; the targets
    are then quantised (with ``quantise``) — the calibration lands on the CapMem grid.
    """
    rng = np.random.default_rng(seed)
    p = hw.parameters

    def per(x):
        return np.broadcast_to(np.asarray(x, float), (n,)).copy()

    def volt(name, target, sigma):
        v = per(target) + sigma * rng.standard_normal(n)
        return quantise_voltage(v) if quantise else v

    def tau(name, target, sigma_rel):
        t = per(target) * (1 + sigma_rel * rng.standard_normal(n))
        return quantise_tau(t, RANGES[name].low) if quantise else t

    v_leak = volt("v_rest", p["v_leak"], spreads.v_rest)
    v_reset = volt("v_reset", p["v_reset"], spreads.v_reset)
    v_thresh = volt("v_thresh", p["v_thresh"], spreads.v_thresh)
    tau_m = tau("tau_m", p["tau_m"], spreads.tau_m)
    refr = per(p["tau_refrac"]) * (1 + spreads.tau_refrac * rng.standard_normal(n))
    refr = quantise_refractory(refr) if quantise else refr
    syn, gain = {}, {}
    for r in ("E", "I"):
        if f"tau_syn_{r}" in p:
            syn[r] = tau(f"tau_syn_{r}", p[f"tau_syn_{r}"], spreads.tau_syn)
            gain[r] = 1 + spreads.weight_gain * rng.standard_normal(n)
    return Neurons(v_leak, v_reset, v_thresh, tau_m, refr, syn, gain)


def synaptic_factor(h, tau_m, tau_s):
    """The membrane's response after one step ``h`` to a synaptic drive of 1 at the step's start
    decaying with ``tau_s``: ``integral_0^h e^{-(h-u)/tau_m} e^{-u/tau_s} du``, stable at tau_s = tau_m."""
    x = h * (1.0 / tau_m - 1.0 / tau_s)
    phi = np.where(np.abs(x) < 1e-12, 1.0, np.expm1(x) / np.where(x == 0, 1.0, x))
    return h * np.exp(-h / tau_m) * phi


def run(neurons: Neurons, h_us: float, steps: int, *, drive, inputs, v0, v_range=(V_MIN_CADC, V_MAX_CADC),
        record=None):
    """Integrate for ``steps`` steps of ``h_us`` hardware us.

    ``drive(k)``: constant input of step k per neuron (CADC/us); ``inputs``: {receptor: {step:
    jump per neuron (CADC/us)}}, added to the synaptic drive at the start of that step;
    ``v0``: initial V (CADC). Returns (list of spike step indices per neuron, traces) with
    spikes at the end of the step ``k`` (time ``(k+1) h``); traces {"V": (steps, n), "E"/"I": ...}
    hold the values at the start of each step when ``record`` names them.
    """
    n = len(neurons.v_leak)
    V = np.clip(np.broadcast_to(np.asarray(v0, float), (n,)).copy(), *v_range)
    decay_m = np.exp(-h_us / neurons.tau_m)
    syn = {r: np.zeros(n) for r in neurons.tau_syn}
    decay_s = {r: np.exp(-h_us / t) for r, t in neurons.tau_syn.items()}
    P = {r: synaptic_factor(h_us, neurons.tau_m, t) for r, t in neurons.tau_syn.items()}
    sign = {"E": 1.0, "I": -1.0}
    ref_steps = np.round(neurons.tau_refrac / h_us).astype(int)
    refractory = np.zeros(n, dtype=int)
    spikes = [[] for _ in range(n)]
    record = tuple(record or ())
    traces = {name: np.empty((steps, n)) for name in record}
    for k in range(steps):
        for r in syn:
            jump = inputs.get(r, {}).get(k)
            if jump is not None:
                syn[r] = syn[r] + jump * neurons.gain[r]
        for name in record:
            traces[name][k] = V if name == "V" else syn[name]
        d = drive(k)
        V_new = neurons.v_leak + (V - neurons.v_leak) * decay_m + d * neurons.tau_m * -np.expm1(-h_us / neurons.tau_m)
        for r in syn:
            V_new = V_new + sign[r] * syn[r] * P[r]
            syn[r] = syn[r] * decay_s[r]
        held = refractory > 0
        V = np.where(held, neurons.v_reset, np.clip(V_new, *v_range))
        refractory = np.where(held, refractory - 1, 0)
        fired = (~held) & (V >= neurons.v_thresh)
        for i in np.flatnonzero(fired):
            spikes[i].append(k)
        V = np.where(fired, neurons.v_reset, V)
        refractory = np.where(fired, ref_steps, refractory)
    return spikes, traces
