"""Integrate-and-fire equivalents of the Hodgkin-Huxley neuron, built from measurements.

The ``hh`` model is treated as an experimental preparation: everything below is
measured by stimulating it through the reference integrator
(:mod:`lifbridge.reference`) and looking only at its membrane potential and spike
times, as an electrophysiologist would. No simulator is involved. From the
measurements an equivalent ``lif`` and an equivalent ``adex`` are built, and the three
models are compared (f-I curves, spike times under a current step and under a frozen
noisy current).

Measurements (:func:`measure_hh`)
---------------------------------
* **Resting potential**: V_m after ``settle`` ms with no input (the full state there
  is the starting point of every other protocol: each stimulus is a step from rest).
* **Input resistance** ``R_in``: the steady-state deflection of small current steps
  (-10, -5, +5, +10 pA; full protocol), ``R_in = dV_ss / dI`` (GOhm = mV/pA).
* **Membrane time constant**: the first millisecond of the step response is fitted
  with ``dV(t) = R_fast dI (1 - exp(-t/tau_m))``. One exponential does not describe
  the whole response: HH's slow gating (n, h; time constants 5-9 ms near rest) turns
  it over into a resonant overshoot (peak about 2x the steady state at ~4 ms) and
  adds two thirds of the steady-state conductance. The first millisecond is the
  membrane's own relaxation (the fast sodium activation m, 0.2 ms, is part of it).
  ``C = tau_m / R_fast`` is then the membrane capacitance (compared with the model's
  C_m); ``tau_m / R_in``, which mixes the fast time constant with the steady-state
  resistance, is reported too and is about 3x C_m.
* **Rheobase**: bisection on the step amplitude (from rest) that gives sustained
  firing, at least 3 spikes in the second half of the run. HH is a class-2 neuron: its
  limit cycle appears with a finite frequency (at a fold of limit cycles, 6.26
  uA/cm^2 = 626 pA here) before rest loses stability (subcritical Hopf, ~980 pA), and
  in between rest and firing coexist. A step from rest reaches the cycle as soon as it
  exists, so at rheobase the rate jumps from 0 to about 50 Hz (below it, a step gives
  a few transient spikes). The lowest sustained rate found is reported.
* **Spike shape** (on the limit cycle just above rheobase): threshold = V_m where
  dV/dt first exceeds 10 mV/ms before a spike; spike peak; width at half amplitude
  (half-way between threshold and peak); time above threshold; **reset level** = the
  minimum of V_m after the spike (the AHP trough): there dV/dt = 0 and the trajectory
  re-enters slow subthreshold dynamics, so it is where an integrate-and-fire model
  must restart; the times threshold-to-peak and peak-to-trough.
* **Effective refractory period** = 1 / maximal sustained rate. HH's rate rises with
  the current up to depolarisation block (about 6.3 nA); near block the spikes shrink
  below the detection level (0 mV) and are missed one by one, so the maximal rate is
  the rate at the largest current with regular firing (largest/smallest interval in
  the second half of the run < 1.2), found by bisection. The spike width (~1 ms)
  would be the absolute refractory period, but HH's interspike interval is bounded
  below by the recovery of sodium inactivation and potassium activation (8 ms at the
  highest rate), which is what an integrate-and-fire model must reproduce with its
  dead time.
* **Dynamic I-V curve** (Badel et al. 2008, J Neurophysiol 99:656): HH driven by a
  frozen Ornstein-Uhlenbeck current; with ``C dV/dt = I_ion + I_in``, the ionic
  current ``I_ion = C dV/dt - I_in`` is averaged in 1 mV bins of V (excluding 10 ms
  after each spike), giving ``F(V) = I_ion/C``. Badel's estimate of C (the C that
  minimises the within-bin variance of I_ion) is reported, but F uses the C of the
  step measurement: in HH, I_ion at a given V depends strongly on the gating history,
  which biases the variance estimate (it comes out 60-70 pF for C_m = 100 pF). F(V) is
  fitted with ``F(V) = (E_L - V + Delta_T exp((V - V_T)/Delta_T)) / tau`` in two
  stages: ``tau`` and ``E_L`` by a straight line through the bins from rest - 5 mV to
  rest + 3 mV (where the exponential term is small), then ``V_T`` and ``Delta_T`` by
  least squares on the bins from rest - 5 mV up to the measured threshold. HH's F(V)
  is not exactly exponential above threshold (the local Delta_T grows from 3 to 7 mV
  between -58 and -45 mV), so the range is part of the definition.

Equivalent LIF (:func:`equivalent_lif`)
---------------------------------------
* ``E_L`` = resting potential;
* ``tau_m`` = the measured membrane time constant;
* ``C_m = tau_m / R_in``, so that the LIF's resistance is the steady-state input
  resistance (its subthreshold steady state and rheobase are HH's). One RC circuit
  cannot have both HH's fast relaxation and its steady-state resistance; the LIF's
  C_m is therefore ~3x HH's;
* ``V_th = E_L + R_in I_rheobase``: the LIF's rheobase is the measured rheobase by
  construction. It lies ~9 mV below HH's spike-onset threshold: HH's depolarisation
  at rheobase is not a passive R_in I;
* ``V_reset`` = AHP trough; ``t_ref`` = 1 / maximal rate (the LIF's rate saturates at
  HH's maximal rate).

Equivalent AdEx (:func:`equivalent_adex`)
-----------------------------------------
* ``C_m`` = measured C; ``g_L = C / tau``, ``V_th`` (the exponential threshold V_T) and
  ``Delta_T`` from the dynamic I-V fit;
* subthreshold adaptation from the small-step response: ``a`` makes the AdEx's
  steady-state slope conductance at rest equal to 1/R_in (HH's slow K+/Na+ gating is
  a conductance that acts with a delay: ``a = 1/R_in - g_L (1 - exp((rest - V_T) /
  Delta_T))``), ``tau_w`` is the least-squares fit of the linearised AdEx's step
  response to HH's (it reproduces HH's resonant overshoot); ``E_L`` is set so that the
  AdEx rests at the measured resting potential (the dynamic I-V's own E_L is reported);
* ``V_reset`` = AHP trough and ``t_ref`` = 1 / maximal rate, as for the LIF;
  ``V_peak`` = 0 mV, HH's spike detection level;
* ``b``: HH has no slow adaptation (first and steady interspike intervals agree within
  a few %), but its spike leaves potassium channels open for several ms: in the AdEx a
  spike-triggered increment of w that decays with tau_w. ``b`` is fitted (root finding
  on the reference-integrated AdEx) so that the AdEx's steady rate at 2x rheobase is
  HH's. It comes out at several nA because w decays by exp(-t_ref/tau_w) ~ 0.3 while
  V_m is held at the trough: about 0.3 b acts after the dead time. It is the only
  parameter fitted to the f-I curve. With a = 0 the AdEx would be an EIF with the
  dynamic I-V's rheobase, g_L (V_T - E_L - Delta_T) ~ 50 pA (reported as
  ``adex_derivation["eif_rheobase_without_a_pA"]``): HH's slow conductance is what
  sets its rheobase.

Agreement (:func:`hh_equivalent`)
---------------------------------
f-I curves of HH, the LIF (reference-integrated and closed form
:func:`lifbridge.analytic.lif_rate`) and the AdEx; spike times under a step to 1.5x
rheobase and under a frozen noisy current, compared with the coincidence factor
Gamma of Kistler et al. (1997) with a +-2 ms window (model spike times as the models
define them: HH's peak, the LIF's threshold crossing, the AdEx's V_peak crossing),
and the class-2 gap: HH jumps to its lowest sustained rate at rheobase, while the
LIF's rate rises continuously from 0 -- so steeply (tau_m ln(1/(I - I_rh)), with
tau_m ~ 2.5 ms) that it passes 5 Hz within an unmeasurably small current above
rheobase; the numbers are reported.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import sys
import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq, curve_fit, least_squares

from . import expr as ex
from .analytic import lif_rate, lif_rheobase
from .model import Model
from .reference import reference_simulate
from .spec import load
from .stimulus import steady_rate

__all__ = ["measure_hh", "equivalent_lif", "equivalent_adex", "hh_equivalent", "steady_state_current",
           "coincidence_factor", "main", "THRESHOLD_SLOPE_MV_PER_MS", "COINCIDENCE_WINDOW_MS"]

#: dV/dt (mV/ms) that defines the spike-onset threshold.
THRESHOLD_SLOPE_MV_PER_MS = 10.0
#: half-width of the coincidence window of Gamma (ms).
COINCIDENCE_WINDOW_MS = 2.0
#: spikes in the second half of a run that count as sustained firing.
SUSTAINED_SPIKES = 3
#: excluded after each spike in the dynamic I-V analysis (ms).
DIV_EXCLUDE_AFTER_SPIKE_MS = 10.0
#: f-I currents at or above this multiple of rheobase are "the firing regime" of the error checks.
FIRING_REGIME_MULTIPLE = 1.25
#: largest/smallest interspike interval in the second half of a run that still counts as regular firing.
REGULAR_ISI_RATIO = 1.2
# Tolerances of the agreement checks, set after measuring (full and quick protocols):
# * the LIF's f-I is within 18-21% of HH's from 1.25x rheobase to depolarisation block,
#   worst at 1.5-2x rheobase, where the LIF's RC charging (tau_m 2.5 ms) from the reset is
#   faster than HH's recovery from the AHP (set by n and h, 5-9 ms); 25% is that
#   structural error plus room for the quick protocol's coarser measurements;
# * the AdEx's is within 6% (b is fitted at 2x rheobase; the error is at 4x): 10%;
# * Gamma >= 0.5 (half-way from chance to perfect) is asked of a useful spike-time
#   prediction; it is not reached everywhere, and the records say so.
LIF_FI_TOLERANCE = 0.25
ADEX_FI_TOLERANCE = 0.10
GAMMA_MINIMUM = 0.5
#: the LIF is cheap to integrate: its runs use the reference integrator's default tolerance.
LIF_RTOL = 1e-10
#: the rest and small-step protocols are cheap and resolve 0.05 mV responses: tight tolerance.
TIGHT_RTOL = 1e-10


@dataclass(frozen=True)
class Protocol:
    """Durations, resolutions and sweeps of one run of the measurements and comparisons."""

    name: str
    rtol: float
    settle_ms: float
    step_amplitudes_pA: tuple
    step_ms: float
    fast_fit_ms: float
    rheobase_run_ms: float
    rheobase_tol_pA: float
    shape_run_ms: float
    block_run_ms: float
    block_tol_pA: float
    noise_fit_ms: float
    noise_test_ms: float
    noise_dt_ms: float
    step_test_ms: float
    fi_run_ms: float
    fi_multiples: tuple
    calibration_run_ms: float
    adex_rheobase_tol: float


FULL = Protocol("full", rtol=1e-8, settle_ms=500.0, step_amplitudes_pA=(-10.0, -5.0, 5.0, 10.0), step_ms=100.0,
                fast_fit_ms=1.0, rheobase_run_ms=500.0, rheobase_tol_pA=1.0, shape_run_ms=120.0,
                block_run_ms=200.0, block_tol_pA=25.0, noise_fit_ms=3000.0, noise_test_ms=2000.0,
                noise_dt_ms=0.5, step_test_ms=300.0, fi_run_ms=500.0,
                fi_multiples=(0.5, 0.9, 0.98, 1.02, 1.1, 1.25, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0),
                calibration_run_ms=300.0, adex_rheobase_tol=0.005)
QUICK = Protocol("quick", rtol=1e-6, settle_ms=300.0, step_amplitudes_pA=(-5.0, 5.0), step_ms=80.0,
                 fast_fit_ms=1.0, rheobase_run_ms=200.0, rheobase_tol_pA=8.0, shape_run_ms=80.0,
                 block_run_ms=100.0, block_tol_pA=300.0, noise_fit_ms=800.0, noise_test_ms=400.0,
                 noise_dt_ms=1.0, step_test_ms=150.0, fi_run_ms=150.0,
                 fi_multiples=(0.5, 0.9, 1.02, 1.5, 2.0, 4.0, 8.0), calibration_run_ms=150.0, adex_rheobase_tol=0.03)

# Frozen noise: Ornstein-Uhlenbeck current, mean and sd as fractions of the rheobase.
NOISE_TAU_MS = 3.0
NOISE_FIT = {"seed": 20080301, "mean": 0.15, "sd": 0.25}   # dynamic I-V (HH fires at ~20 Hz)
NOISE_TEST = {"seed": 19970901, "mean": 0.2, "sd": 0.25}   # spike-time comparison (a different realisation)
STEP_TEST_MULTIPLE = 1.5
STEP_TEST_ONSET_MS = 20.0
CALIBRATION_MULTIPLE = 2.0


def _say(progress, message):
    if progress is not None:
        progress(message)


def _run(model, proto, **kw):
    kw.setdefault("rtol", proto.rtol)
    return reference_simulate(model, **kw)


def _sustained(spikes, duration_ms):
    spikes = np.asarray(spikes)
    return int(np.sum(spikes >= duration_ms / 2)) >= SUSTAINED_SPIKES


# ---------------------------------------------------------------------------- steady-state I-V
def steady_state_current(model: Model, V_mV):
    """Net outward ionic current (pA) of ``model`` with every other state variable at steady state.

    Independent of any simulation: each state variable other than V_m is set to the
    zero of its own equation, assumed linear in that variable at fixed V_m (true of
    gating variables ``alpha (1 - x) - beta x`` and of synaptic currents), evaluated
    from the model's expressions; the current is ``-C_m dV_m/dt`` with no input.
    """
    V = np.asarray(V_mV, dtype=float)
    ns = dict(model.parameter_values_si())
    for name in model.continuous_inputs:
        ns[name] = 0.0
    if "I_e" in ns:
        ns["I_e"] = 0.0
    ns["t"] = 0.0
    others = [s for s in model.state if s != "V_m"]
    values = {s: np.zeros_like(V) for s in others}

    def evaluate(expr):
        full = dict(ns)
        full["V_m"] = V * 1e-3
        for s in others:
            full[s] = values[s] * model.state[s].unit.scale
        for alias in model.aliases_in_order():
            full[alias] = ex.evaluate(model.aliases[alias].expr, full)
        return np.asarray(ex.evaluate(expr, full), dtype=float)

    for _ in range(3):  # synaptic variables couple linearly; three sweeps settle them
        for s in others:
            saved = values[s]
            values[s] = np.zeros_like(V)
            f0 = evaluate(model.equations[s])
            values[s] = np.ones_like(V)
            f1 = evaluate(model.equations[s])
            values[s] = np.where(f1 != f0, -f0 / np.where(f1 != f0, f1 - f0, 1.0), saved)
    dVdt = evaluate(model.equations["V_m"])  # V/s
    C = model.parameters["C_m"].value * model.parameters["C_m"].unit.scale
    current = -C * dVdt / 1e-12
    return float(current) if current.ndim == 0 else current


def steady_state_rest(model: Model, bracket_mV=(-80.0, -56.0)):
    """Resting potential (mV) and input resistance (GOhm) from the steady-state I-V of the equations."""
    rest = brentq(lambda v: steady_state_current(model, v), *bracket_mV, xtol=1e-12)
    h = 1e-4
    slope = (steady_state_current(model, rest + h) - steady_state_current(model, rest - h)) / (2 * h)  # nS
    return rest, 1.0 / slope


# ---------------------------------------------------------------------------- measurements
def _measure_rest(model, proto):
    duration = proto.settle_ms
    times = np.array([duration - 20.0, duration])
    result = _run(model, proto, duration_ms=duration, record=tuple(model.state), record_times_ms=times,
                  rtol=TIGHT_RTOL)
    state = {name: float(result.traces[name][1][0, -1]) for name in model.state}
    V = result.traces["V_m"][1][0]
    return state, {"rest_mV": state["V_m"], "rest_drift_mV_per_s": float((V[1] - V[0]) / 20.0 * 1e3),
                   "rest_spikes": int(len(result.spike_times_ms[0]))}


def _measure_steps(model, rest_state, proto):
    onset = 5.0
    fine = np.arange(0.0, proto.fast_fit_ms + 1e-9, 0.01)
    coarse = np.arange(0.1, proto.step_ms + 1e-9, 0.1)
    t_rel = np.unique(np.concatenate([fine, coarse]))
    times = onset + t_rel
    rest = rest_state["V_m"]
    z_all, rows = [], []
    for amplitude in proto.step_amplitudes_pA:
        current = (lambda t, a=amplitude: a if t >= onset else 0.0)
        result = _run(model, proto, duration_ms=onset + proto.step_ms, current=current, breakpoints_ms=[onset],
                      record=("V_m",), record_times_ms=times, initial=rest_state, rtol=TIGHT_RTOL)
        dV = result.traces["V_m"][1][0] - rest
        z = dV / amplitude  # GOhm
        tail = t_rel >= proto.step_ms - 5.0
        fit = (t_rel > 0) & (t_rel <= proto.fast_fit_ms + 1e-9)
        (R_fast, tau), _ = curve_fit(lambda t, R, tau: R * (1.0 - np.exp(-t / tau)), t_rel[fit], z[fit],
                                     p0=(0.02, 1.0), maxfev=10000)
        rows.append({"amplitude_pA": amplitude, "dV_ss_mV": float(np.mean(dV[tail])),
                     "R_ss_GOhm": float(np.mean(z[tail])), "R_fast_GOhm": float(R_fast), "tau_ms": float(tau),
                     "peak_ratio": float(np.max(z) / np.mean(z[tail])), "peak_time_ms": float(t_rel[np.argmax(z)]),
                     "spikes": int(len(result.spike_times_ms[0]))})
        z_all.append(z)
    amps = np.array([r["amplitude_pA"] for r in rows])
    dvs = np.array([r["dV_ss_mV"] for r in rows])
    R_in = float(np.sum(amps * dvs) / np.sum(amps * amps))  # least-squares slope through the origin
    tau = float(np.mean([r["tau_ms"] for r in rows]))
    R_fast = float(np.mean([r["R_fast_GOhm"] for r in rows]))
    z_mean = np.mean(z_all, axis=0)
    keep = np.isin(np.round(t_rel, 6), np.round(coarse, 6)) | (t_rel == 0)
    out = {
        "R_in_GOhm": R_in,
        "R_in_hyperpolarising_GOhm": float(np.mean([r["R_ss_GOhm"] for r in rows if r["amplitude_pA"] < 0])),
        "R_in_depolarising_GOhm": float(np.mean([r["R_ss_GOhm"] for r in rows if r["amplitude_pA"] > 0])),
        "tau_m_ms": tau,
        "R_fast_GOhm": R_fast,
        "C_pF": tau / R_fast,
        "C_tau_over_R_in_pF": tau / R_in,
        "step_overshoot_ratio": float(np.mean([r["peak_ratio"] for r in rows])),
        "step_peak_time_ms": float(np.mean([r["peak_time_ms"] for r in rows])),
        "steps": rows,
        "step_response": {"t_ms": [float(x) for x in t_rel[keep]], "z_GOhm": [float(x) for x in z_mean[keep]]},
    }
    return out


def _measure_rheobase(model, rest_state, proto, progress):
    duration = proto.rheobase_run_ms
    runs = {}

    def fires(current):
        result = _run(model, proto, duration_ms=duration, bias_pA=current, initial=rest_state)
        spikes = result.spike_times_ms[0]
        runs[current] = spikes
        return _sustained(spikes, duration)

    lo, hi = 0.0, 1000.0
    while not fires(hi):
        lo, hi = hi, 2 * hi
        if hi > 1e6:
            raise RuntimeError("no sustained firing found up to 1 uA")
    while hi - lo > proto.rheobase_tol_pA:
        mid = 0.5 * (lo + hi)
        if fires(mid):
            hi = mid
        else:
            lo = mid
    _say(progress, f"  rheobase in [{lo:.1f}, {hi:.1f}] pA")
    spikes_hi = runs[hi]
    return {"rheobase_pA": 0.5 * (lo + hi), "rheobase_bracket_pA": [lo, hi],
            "rate_at_rheobase_hz": float(steady_rate(spikes_hi, duration)),
            "spikes_below_rheobase": int(len(runs.get(lo, []))) if lo > 0 else 0}


def _measure_spike_shape(model, rest_state, current, proto):
    duration = proto.shape_run_ms
    h = 0.01
    times = np.arange(duration - 60.0, duration, h)
    result = _run(model, proto, duration_ms=duration, bias_pA=current, initial=rest_state, record=("V_m",),
                  record_times_ms=times, rtol=min(proto.rtol, 1e-8))
    V = result.traces["V_m"][1][0]
    dV = np.gradient(V, h)
    spikes = np.asarray(result.spike_times_ms[0])
    inside = spikes[(spikes > times[0] + 1.0) & (spikes < times[-1] - 6.0)]
    if len(inside) < 2:
        raise RuntimeError(f"too few spikes at {current:g} pA to measure the spike shape")
    p1, p2 = inside[-2], inside[-1]
    cycle = (times >= p1) & (times < p2)
    k_trough = np.argmax(cycle) + int(np.argmin(V[cycle]))
    t_trough, V_trough = times[k_trough], V[k_trough]
    rising = (times > t_trough) & (times <= p2)
    idx = np.flatnonzero(rising & (dV >= THRESHOLD_SLOPE_MV_PER_MS))[0]
    # interpolate the crossing of the slope criterion between samples
    j = idx - 1
    frac = (THRESHOLD_SLOPE_MV_PER_MS - dV[j]) / (dV[idx] - dV[j])
    t_thr = times[j] + frac * h
    V_thr = V[j] + frac * (V[idx] - V[j])
    around = (times >= p2 - 3.0) & (times <= p2 + 5.0)
    k_peak = np.argmax(around) + int(np.argmax(V[around]))
    V_peak = V[k_peak]

    def duration_above(level):
        above = around & (V > level)
        k = np.flatnonzero(above)
        # first contiguous run containing the peak
        start, stop = k_peak, k_peak
        while start - 1 >= 0 and above[start - 1]:
            start -= 1
        while stop + 1 < len(V) and above[stop + 1]:
            stop += 1

        def cross(i0, i1):
            return times[i0] + (level - V[i0]) / (V[i1] - V[i0]) * (times[i1] - times[i0])

        return cross(stop, stop + 1) - cross(start - 1, start) if len(k) else 0.0

    half = 0.5 * (V_peak + V_thr)
    after = (times > p2) & (times < p2 + 6.0)
    isis = np.diff(spikes)
    return {"threshold_mV": float(V_thr), "threshold_to_peak_ms": float(p2 - t_thr),
            "spike_peak_mV": float(V_peak), "spike_amplitude_mV": float(V_peak - V_thr),
            "spike_width_ms": float(duration_above(half)), "time_above_threshold_ms": float(duration_above(V_thr)),
            "reset_mV": float(V_trough), "peak_to_trough_ms": float(t_trough - p1),
            "max_repolarisation_mV_per_ms": float(np.min(dV[after])),
            "isi_at_rheobase_ms": float(p2 - p1), "shape_current_pA": float(current),
            "adaptation_ratio": float(isis[0] / isis[-1]) if len(isis) >= 2 else None}


def _measure_max_rate(model, rest_state, rheobase, proto, progress):
    duration = proto.block_run_ms

    def rate(current):
        # Regular firing only: near block the spikes shrink below the detection level
        # (0 mV) one by one, which shows as irregular (doubled) intervals.
        result = _run(model, proto, duration_ms=duration, bias_pA=current, initial=rest_state)
        spikes = np.asarray(result.spike_times_ms[0])
        late = np.diff(spikes[spikes >= duration / 2])
        if not _sustained(spikes, duration) or late.max() > REGULAR_ISI_RATIO * late.min():
            return 0.0
        return steady_rate(spikes, duration)

    lo, hi = 4.0 * rheobase, 16.0 * rheobase
    r_lo = rate(lo)
    if r_lo == 0.0:
        raise RuntimeError(f"no sustained firing at {lo:g} pA")
    while rate(hi) > 0.0:
        lo, hi = hi, 2.0 * hi
        if hi > 1e6:
            raise RuntimeError("no depolarisation block found up to 1 uA")
    r_lo = rate(lo)
    while hi - lo > proto.block_tol_pA:
        mid = 0.5 * (lo + hi)
        r = rate(mid)
        if r > 0:
            lo, r_lo = mid, r
        else:
            hi = mid
    _say(progress, f"  depolarisation block in [{lo:.0f}, {hi:.0f}] pA, maximal rate {r_lo:.1f} Hz")
    return {"max_rate_hz": float(r_lo), "max_rate_current_pA": float(lo), "block_current_pA": float(0.5 * (lo + hi)),
            "refractory_ms": float(1000.0 / r_lo)}


def ou_current(duration_ms, dt_ms, mean, sd, tau_ms, seed):
    """Samples (pA, one per ``dt_ms``) of a frozen Ornstein-Uhlenbeck current."""
    rng = np.random.default_rng(seed)
    n = int(round(duration_ms / dt_ms))
    decay = math.exp(-dt_ms / tau_ms)
    kick = math.sqrt(1.0 - decay * decay)
    x = np.empty(n)
    x[0] = rng.standard_normal()
    noise = rng.standard_normal(n)
    for k in range(1, n):
        x[k] = decay * x[k - 1] + kick * noise[k]
    return mean + sd * x


def _noise_for(kind, rheobase, duration_ms, dt_ms):
    spec = NOISE_FIT if kind == "fit" else NOISE_TEST
    return ou_current(duration_ms, dt_ms, spec["mean"] * rheobase, spec["sd"] * rheobase, NOISE_TAU_MS, spec["seed"])


def _measure_dynamic_iv(model, rest_state, C, rest, threshold, rheobase, proto):
    duration, sdt = proto.noise_fit_ms, proto.noise_dt_ms
    current = _noise_for("fit", rheobase, duration, sdt)
    h = 0.05  # recording step; the current jumps only at multiples of sdt (= 10 h)
    times = np.arange(0.0, duration, h)
    result = _run(model, proto, duration_ms=duration, current=current, signal_dt_ms=sdt, record=("V_m",),
                  record_times_ms=times, initial=rest_state)
    V = result.traces["V_m"][1][0]
    spikes = np.asarray(result.spike_times_ms[0])
    # forward differences: second-order estimates at the midpoints, where the input is constant
    D = np.diff(V) / h
    Vm = 0.5 * (V[1:] + V[:-1])
    tm = times[:-1] + 0.5 * h
    I_in = current[np.minimum((tm / sdt).astype(int), len(current) - 1)]
    keep = np.ones(len(tm), bool)
    for s in spikes:
        keep &= ~((tm >= s) & (tm < s + DIV_EXCLUDE_AFTER_SPIKE_MS))
    keep &= Vm < -30.0
    # Badel's capacitance: minimise the within-bin variance of I_in - C dV/dt near rest
    near = keep & (Vm >= rest - 6.0) & (Vm <= rest + 4.0)
    bins = np.floor(Vm[near] - (rest - 6.0)).astype(int)
    num = den = 0.0
    for b in np.unique(bins):
        m = bins == b
        if m.sum() > 20:
            num += m.sum() * np.cov(I_in[near][m], D[near][m], bias=True)[0, 1]
            den += m.sum() * np.var(D[near][m])
    C_varmin = num / den if den > 0 else float("nan")
    F = D - I_in / C  # I_ion / C (mV/ms)
    edges = np.arange(math.floor(rest) - 25.0, -30.0 + 1e-9, 1.0)
    which = np.digitize(Vm[keep], edges)
    vc, fm, sd, cnt = [], [], [], []
    for k in range(1, len(edges)):
        m = which == k
        if m.sum() >= 10:
            vc.append(float(Vm[keep][m].mean()))
            fm.append(float(F[keep][m].mean()))
            sd.append(float(F[keep][m].std()))
            cnt.append(int(m.sum()))
    vc, fm = np.array(vc), np.array(fm)
    lin = (vc >= rest - 5.0) & (vc <= rest + 3.0)
    slope, intercept = np.polyfit(vc[lin], fm[lin], 1)
    tau = -1.0 / slope
    E_L = intercept * tau
    expo = (vc >= rest - 5.0) & (vc <= threshold + 1e-9)

    def model_F(v, V_T, Delta_T):
        return (E_L - v + Delta_T * np.exp((v - V_T) / Delta_T)) / tau

    (V_T, Delta_T), _ = curve_fit(model_F, vc[expo], fm[expo], p0=(threshold - 8.0, 3.0),
                                  bounds=([threshold - 30.0, 0.2], [threshold + 10.0, 30.0]), maxfev=20000)
    rms = float(np.sqrt(np.mean((model_F(vc[expo], V_T, Delta_T) - fm[expo]) ** 2)))
    return {"C_varmin_pF": float(C_varmin), "C_used_pF": float(C), "tau_ms": float(tau), "E_L_mV": float(E_L),
            "V_T_mV": float(V_T), "Delta_T_mV": float(Delta_T), "g_L_nS": float(C / tau),
            "fit_range_mV": [float(vc[expo].min()), float(vc[expo].max())], "rms_mV_per_ms": rms,
            "rate_hz": float(len(spikes) / duration * 1e3), "samples": int(keep.sum()), "duration_ms": duration,
            "bins": {"V_mV": vc.tolist(), "F_mV_per_ms": fm.tolist(), "sd_mV_per_ms": sd, "n": cnt}}


def measure_hh(model=None, *, quick=False, progress=None) -> dict:
    """Measure the HH neuron through the reference integrator only; a JSON-able dict.

    Keys carry their units (``rest_mV``, ``R_in_GOhm`` (= mV/pA), ``tau_m_ms``, ``C_pF``,
    ``rheobase_pA``, ``threshold_mV``, ``reset_mV``, ``spike_width_ms``, ``refractory_ms``
    ...); ``dynamic_iv`` holds the dynamic I-V fit, ``step_response`` the mean small-step
    response (GOhm vs ms) and ``rest_state`` the full state at rest. ``progress``: an
    optional callable taking one message string.
    """
    model = load("hh") if model is None else model
    proto = QUICK if quick else FULL
    started = time.perf_counter()
    out = {"model": model.name, "protocol": proto.name}
    _say(progress, "measuring the resting state")
    rest_state, rest = _measure_rest(model, proto)
    out.update(rest)
    _say(progress, "small current steps")
    out.update(_measure_steps(model, rest_state, proto))
    out["C_model_pF"] = float(model.parameters["C_m"].value)
    _say(progress, "rheobase")
    out.update(_measure_rheobase(model, rest_state, proto, progress))
    _say(progress, "spike shape")
    out.update(_measure_spike_shape(model, rest_state, out["rheobase_bracket_pA"][1], proto))
    _say(progress, "maximal rate")
    out.update(_measure_max_rate(model, rest_state, out["rheobase_pA"], proto, progress))
    _say(progress, "dynamic I-V curve")
    out["dynamic_iv"] = _measure_dynamic_iv(model, rest_state, out["C_pF"], out["rest_mV"], out["threshold_mV"],
                                            out["rheobase_pA"], proto)
    out["rest_state"] = rest_state
    out["wall_time_s"] = time.perf_counter() - started
    return out


# ---------------------------------------------------------------------------- equivalents
def lif_parameters(m) -> dict:
    """The equivalent LIF's parameters (spec units) from measurements ``m``."""
    R = m["R_in_GOhm"]
    return {"C_m": m["tau_m_ms"] / R, "tau_m": m["tau_m_ms"], "E_L": m["rest_mV"],
            "V_th": m["rest_mV"] + R * m["rheobase_pA"], "V_reset": m["reset_mV"], "t_ref": m["refractory_ms"]}


def equivalent_lif(measurements) -> Model:
    """The equivalent ``lif``: C_m = tau_m/R_in, tau_m, E_L = rest, V_th = E_L + R_in I_rheobase,
    V_reset = AHP trough, t_ref = 1/f_max (see the module docstring)."""
    return load("lif").with_parameters(lif_parameters(measurements))


def _linear_step_response(t, C, g, a, tau_w):
    """Voltage response (mV per pA) of ``C v' = -g v - w + I, tau_w w' = a v - w`` to a unit step at t = 0."""
    A = np.array([[-g / C, -1.0 / C], [a / tau_w, -1.0 / tau_w]])
    b = np.array([1.0 / C, 0.0])
    x_ss = -np.linalg.solve(A, b)
    lam, P = np.linalg.eig(A)
    coef = np.linalg.solve(P, x_ss)
    x = x_ss[0] - np.real((P[0, :] * coef)[None, :] * np.exp(np.outer(t, lam))).sum(axis=1)
    return x


def adex_subthreshold_parameters(m) -> dict:
    """C_m, g_L, E_L, V_th, Delta_T, a, tau_w of the equivalent AdEx (without reset and b)."""
    div = m["dynamic_iv"]
    C = m["C_pF"]
    g_L = C / div["tau_ms"]
    V_T, Delta_T = div["V_T_mV"], div["Delta_T_mV"]
    rest = m["rest_mV"]
    expo = math.exp((rest - V_T) / Delta_T)
    g_eff = g_L * (1.0 - expo)  # slope conductance of the fast I-V at rest
    a = 1.0 / m["R_in_GOhm"] - g_eff
    E_L = rest - g_L * Delta_T * expo / (g_L + a)  # the AdEx then rests at the measured rest
    t = np.asarray(m["step_response"]["t_ms"])
    z = np.asarray(m["step_response"]["z_GOhm"])
    fit = least_squares(lambda p: _linear_step_response(t, C, g_eff, a, p[0]) - z, x0=[5.0],
                        bounds=([0.05], [500.0]))
    tau_w = float(fit.x[0])
    rms = float(np.sqrt(np.mean(fit.fun ** 2)) / m["R_in_GOhm"])
    return {"C_m": C, "g_L": g_L, "E_L": E_L, "V_th": V_T, "Delta_T": Delta_T, "a": a, "tau_w": tau_w,
            "_step_fit_rms_relative": rms, "_g_eff_nS": g_eff}


def _adex_with(m, sub, b):
    params = {k: v for k, v in sub.items() if not k.startswith("_")}
    params.update(V_peak=0.0, V_reset=m["reset_mV"], t_ref=m["refractory_ms"], b=b)
    return load("adex").with_parameters(params)


def adex_rest_state(model):
    """Initial state of an AdEx at its fixed point (V_m, w) for zero input (bisection on V)."""
    p = {k: v.value for k, v in model.parameters.items()}

    def net(V):
        return (-p["g_L"] * (V - p["E_L"]) + p["g_L"] * p["Delta_T"] * math.exp((V - p["V_th"]) / p["Delta_T"])
                - p["a"] * (V - p["E_L"]) + p["I_e"])

    V = brentq(net, p["E_L"] - 30.0, p["V_th"], xtol=1e-12)
    return {"V_m": V, "w": p["a"] * (V - p["E_L"])}


def equivalent_adex(measurements, *, b=None, calibration_current_pA=None, hh_rate_hz=None, proto=None,
                    progress=None) -> Model:
    """``adex`` from the dynamic I-V fit, the small-step response and the spike shape.

    ``b`` (pA): the spike-triggered adaptation increment; None fits it (bisection on the
    reference-integrated AdEx) so that the AdEx's steady rate at ``calibration_current_pA``
    (default 2x rheobase) equals ``hh_rate_hz`` (default: HH's, measured here through the
    reference integrator).
    """
    m = measurements
    proto = proto or (QUICK if m.get("protocol") == "quick" else FULL)
    sub = adex_subthreshold_parameters(m)
    if b is not None:
        return _adex_with(m, sub, float(b))
    current = CALIBRATION_MULTIPLE * m["rheobase_pA"] if calibration_current_pA is None else calibration_current_pA
    duration = proto.calibration_run_ms
    if hh_rate_hz is None:
        hh = load("hh")
        result = _run(hh, proto, duration_ms=duration, bias_pA=current, initial=m["rest_state"])
        hh_rate_hz = steady_rate(result.spike_times_ms[0], duration)
    rest0 = adex_rest_state(_adex_with(m, sub, 0.0))  # b does not change the fixed point
    seen = {}

    def mismatch(b_value):
        if b_value not in seen:
            result = _run(_adex_with(m, sub, b_value), proto, duration_ms=duration, bias_pA=current, initial=rest0)
            seen[b_value] = steady_rate(result.spike_times_ms[0], duration) - hh_rate_hz
        return seen[b_value]

    lo, hi = 0.0, 4000.0
    f_hi = mismatch(hi)
    f_lo = mismatch(lo) if f_hi <= 0 else np.inf  # b = 0 is always too fast when b = 4 nA is
    if f_lo <= 0:
        b_fit = 0.0
    else:
        while f_hi > 0:
            lo, f_lo, hi = hi, f_hi, 2 * hi
            if hi > 1e6:
                raise RuntimeError("no b makes the AdEx as slow as HH")
            f_hi = mismatch(hi)
        # one secant step narrows the bracket before brentq
        guess = 0.5 * (lo + hi) if not np.isfinite(f_lo) else lo + (hi - lo) * f_lo / (f_lo - f_hi)
        f_guess = mismatch(guess)
        lo, hi = (guess, hi) if f_guess > 0 else (lo, guess)
        rtol = 1e-4 if proto.name == "full" else 1e-2
        b_fit = guess if f_guess == 0 else brentq(mismatch, lo, hi, xtol=1.0, rtol=rtol)
    _say(progress, f"  AdEx b = {b_fit:.0f} pA (HH rate {hh_rate_hz:.1f} Hz at {current:.0f} pA)")
    return _adex_with(m, sub, b_fit)


# ---------------------------------------------------------------------------- comparisons
def coincidence_factor(data_ms, model_ms, duration_ms, window_ms=COINCIDENCE_WINDOW_MS):
    """Kistler et al. (1997) coincidence factor Gamma of ``model_ms`` against ``data_ms``.

    ``Gamma = (N_coinc - <N_coinc>) / (0.5 (N_data + N_model) (1 - 2 nu_model window))``
    with ``<N_coinc> = 2 nu_model window N_data`` (coincidences expected by chance from a
    Poisson train at the model's rate nu_model). A coincidence is a data spike with a
    model spike within +-window, each model spike used at most once. 1: every spike
    matched; 0: chance level. Also returns the matched fraction and the mean lag.
    """
    data = np.sort(np.asarray(data_ms, dtype=float))
    model = np.sort(np.asarray(model_ms, dtype=float))
    used = np.zeros(len(model), bool)
    lags = []
    for t in data:
        j = np.searchsorted(model, t - window_ms, side="left")
        best = None
        while j < len(model) and model[j] <= t + window_ms:
            if not used[j] and (best is None or abs(model[j] - t) < abs(model[best] - t)):
                best = j
            j += 1
        if best is not None:
            used[best] = True
            lags.append(model[best] - t)
    n_data, n_model, n_coinc = len(data), len(model), len(lags)
    if n_data + n_model == 0:
        gamma = 1.0
    else:
        nu = n_model / duration_ms
        expected = 2.0 * nu * window_ms * n_data
        norm = 1.0 - 2.0 * nu * window_ms
        gamma = (n_coinc - expected) / (0.5 * (n_data + n_model)) / norm if norm > 0 else float("nan")
    return {"gamma": float(gamma), "n_hh": n_data, "n_model": n_model, "n_coincident": n_coinc,
            "matched_fraction": float(n_coinc / n_data) if n_data else None,
            "mean_lag_ms": float(np.mean(lags)) if lags else None, "window_ms": window_ms}


def _fi(model, currents, duration, proto, initial=None, rtol=None):
    result = _run(model, proto, duration_ms=duration, bias_pA=np.asarray(currents, float), initial=initial,
                  rtol=rtol or proto.rtol)
    return np.array([steady_rate(s, duration) for s in result.spike_times_ms])


def _rheobase_of(model, initial, lo, hi, proto, rel_tol):
    """Bisection for the sustained-firing threshold of an equivalent model (reference integrator)."""
    duration = proto.rheobase_run_ms
    cache = {}

    def fire(current):
        result = _run(model, proto, duration_ms=duration, bias_pA=current, initial=initial)
        s = result.spike_times_ms[0]
        cache[current] = steady_rate(s, duration) if _sustained(s, duration) else 0.0
        return cache[current] > 0

    while not fire(hi):
        lo, hi = hi, 2 * hi
    while fire(lo) and lo > 1.0:
        lo, hi = lo / 2, lo
    while hi - lo > rel_tol * hi:
        mid = 0.5 * (lo + hi)
        if fire(mid):
            hi = mid
        else:
            lo = mid
    return 0.5 * (lo + hi), [lo, hi], cache[hi]


def _record(check, value, tolerance, unit, passed, reason, known_gap=None, **details):
    def num(x):
        return None if x is None or not np.isfinite(x) else float(x)

    return {"model": "hh", "backend": "reference", "check": check, "protocol": "hh_equivalent",
            "value": num(value), "tolerance": num(tolerance), "unit": unit, "passed": bool(passed),
            "reason": reason, "known_gap": known_gap, "details": _jsonable(details)}


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def _lif_offset_for_rate(p, rate_hz):
    """Current above the LIF's rheobase (pA) at which it fires at ``rate_hz``: g (V_th - V_reset) / expm1(T / tau)."""
    T = 1000.0 / rate_hz - p["t_ref"]
    if T <= 0:
        return float("inf")
    g = p["C_m"] / p["tau_m"]
    return g * (p["V_th"] - p["V_reset"]) / math.expm1(T / p["tau_m"])


def _lif_rate_above_rheobase(p, delta_pA):
    """The LIF's rate (Hz) at rheobase + delta_pA, written without the cancellation of V_inf - V_th."""
    R = p["tau_m"] / p["C_m"]
    return 1000.0 / (p["t_ref"] + p["tau_m"] * math.log1p((p["V_th"] - p["V_reset"]) / (R * delta_pA)))


def _relative_errors(reference, other):
    reference, other = np.asarray(reference, float), np.asarray(other, float)
    return np.abs(other - reference) / reference


def hh_equivalent(*, quick=False, out_dir=None, progress=None) -> dict:
    """Measure HH, build the equivalent LIF and AdEx, compare them; a JSON-able dict.

    Keys: measurements, lif_parameters, adex_parameters, fi, spike_agreement, class2_gap,
    checks, figure (file name written into ``out_dir``, or None), summary_html,
    wall_time_s. ``quick``: coarse sweeps and short runs (about 15 s instead of 90 s).
    """
    started = time.perf_counter()
    proto = QUICK if quick else FULL
    hh = load("hh")
    m = measure_hh(hh, quick=quick, progress=progress)
    t_measure = time.perf_counter() - started
    rest_state = m["rest_state"]
    rheo = m["rheobase_pA"]

    lif_p = lif_parameters(m)
    lif = equivalent_lif(m)

    _say(progress, "f-I curve of HH")
    currents = np.array([k * rheo for k in proto.fi_multiples])
    hh_hz = _fi(hh, currents, proto.fi_run_ms, proto, initial=rest_state)
    k_cal = int(np.argmin(np.abs(np.asarray(proto.fi_multiples) - CALIBRATION_MULTIPLE)))

    _say(progress, "equivalent AdEx")
    adex = equivalent_adex(m, calibration_current_pA=currents[k_cal], hh_rate_hz=float(hh_hz[k_cal]), proto=proto,
                           progress=progress)
    adex_sub = adex_subthreshold_parameters(m)
    adex_p = {name: float(par.value) for name, par in adex.parameters.items()
              if name not in ("tau_syn_exc", "tau_syn_inh", "I_e")}
    adex_init = adex_rest_state(adex)

    _say(progress, "f-I curves of the equivalents")
    lif_hz = _fi(lif, currents, proto.fi_run_ms, proto, rtol=LIF_RTOL)
    lif_closed = np.asarray(lif_rate(currents, **{k: lif_p[k] for k in ("C_m", "tau_m", "E_L", "V_th", "V_reset",
                                                                        "t_ref")}), float)
    adex_hz = _fi(adex, currents, proto.fi_run_ms, proto, initial=adex_init)

    _say(progress, "rheobase of the AdEx")
    silent, firing = currents[adex_hz == 0], currents[adex_hz > 0]
    lo = silent[silent < firing.min()].max() if firing.size and (silent < firing.min()).any() else 0.25 * rheo
    hi = firing.min() if firing.size else 2.0 * rheo
    adex_rheo, adex_bracket, adex_min_rate = _rheobase_of(adex, adex_init, lo, hi, proto, proto.adex_rheobase_tol)

    _say(progress, "spike times under a step and under frozen noise")
    dt_sig = 0.1
    n_step = int(round(proto.step_test_ms / dt_sig))
    step_amp = STEP_TEST_MULTIPLE * rheo
    step = np.where(np.arange(n_step) * dt_sig >= STEP_TEST_ONSET_MS - 1e-9, step_amp, 0.0)
    trace_t = np.arange(0.0, min(proto.step_test_ms, STEP_TEST_ONSET_MS + 100.0), 0.05)
    runs = {}
    for name, model, init in (("hh", hh, rest_state), ("lif", lif, None), ("adex", adex, adex_init)):
        runs[name] = _run(model, proto, duration_ms=proto.step_test_ms, current=step, signal_dt_ms=dt_sig,
                          initial=init, record=("V_m",), record_times_ms=trace_t)
    step_spikes = {k: np.asarray(r.spike_times_ms[0]) for k, r in runs.items()}
    step_traces = {k: r.traces["V_m"][1][0] for k, r in runs.items()}
    noise = _noise_for("test", rheo, proto.noise_test_ms, proto.noise_dt_ms)
    noise_spikes = {}
    for name, model, init in (("hh", hh, rest_state), ("lif", lif, None), ("adex", adex, adex_init)):
        r = _run(model, proto, duration_ms=proto.noise_test_ms, current=noise, signal_dt_ms=proto.noise_dt_ms,
                 initial=init)
        noise_spikes[name] = np.asarray(r.spike_times_ms[0])
    agreement = {
        "window_ms": COINCIDENCE_WINDOW_MS,
        "step": {"current_pA": step_amp, "onset_ms": STEP_TEST_ONSET_MS, "duration_ms": proto.step_test_ms,
                 "lif": coincidence_factor(step_spikes["hh"], step_spikes["lif"], proto.step_test_ms),
                 "adex": coincidence_factor(step_spikes["hh"], step_spikes["adex"], proto.step_test_ms),
                 "hh_spikes": int(len(step_spikes["hh"]))},
        "noise": {"mean_pA": NOISE_TEST["mean"] * rheo, "sd_pA": NOISE_TEST["sd"] * rheo, "tau_ms": NOISE_TAU_MS,
                  "seed": NOISE_TEST["seed"], "duration_ms": proto.noise_test_ms,
                  "lif": coincidence_factor(noise_spikes["hh"], noise_spikes["lif"], proto.noise_test_ms),
                  "adex": coincidence_factor(noise_spikes["hh"], noise_spikes["adex"], proto.noise_test_ms),
                  "rates_hz": {k: len(v) / proto.noise_test_ms * 1e3 for k, v in noise_spikes.items()}},
    }

    # ---- class-2 gap
    lif_rheo = float(lif_rheobase(C_m=lif_p["C_m"], tau_m=lif_p["tau_m"], E_L=lif_p["E_L"], V_th=lif_p["V_th"]))
    eps = (1e-1, 1e-2, 1e-3, 1e-6, 1e-9, 1e-12)
    class2 = {
        "hh_rheobase_pA": rheo, "hh_rheobase_bracket_pA": m["rheobase_bracket_pA"],
        "hh_min_rate_hz": m["rate_at_rheobase_hz"],
        "hh_spikes_just_below_rheobase": m["spikes_below_rheobase"],
        "lif_rheobase_pA": lif_rheo,
        "lif_rate_at_rheobase_hz": float(lif_rate(lif_rheo, **{k: lif_p[k] for k in ("C_m", "tau_m", "E_L", "V_th",
                                                                                       "V_reset", "t_ref")})),
        "lif_rate_above_rheobase_hz": {f"{e:g}": _lif_rate_above_rheobase(lif_p, e * lif_rheo) for e in eps},
        "lif_offset_for_5hz_pA": _lif_offset_for_rate(lif_p, 5.0),
        "lif_offset_for_hh_min_rate_pA": _lif_offset_for_rate(lif_p, m["rate_at_rheobase_hz"]),
        "adex_rheobase_pA": adex_rheo, "adex_rheobase_bracket_pA": adex_bracket, "adex_min_rate_hz": adex_min_rate,
    }
    class2["lif_rate_just_above_rheobase_hz"] = class2["lif_rate_above_rheobase_hz"]["1e-06"]

    fi = {"currents_pA": currents.tolist(), "multiples_of_rheobase": list(proto.fi_multiples),
          "duration_ms": proto.fi_run_ms, "hh_hz": hh_hz.tolist(), "lif_hz": lif_hz.tolist(),
          "lif_closed_form_hz": lif_closed.tolist(), "adex_hz": adex_hz.tolist(),
          "adex_calibration_current_pA": float(currents[k_cal])}

    checks = _checks(hh, m, lif, lif_p, adex, adex_sub, fi, class2, agreement, proto)

    figure = None
    if out_dir is not None:
        _say(progress, "figure")
        figure = _figure(out_dir, m, lif_p, fi, trace_t, step_traces, step_spikes, noise, noise_spikes, proto)
    result = {
        "measurements": _jsonable(m),
        "lif_parameters": _jsonable(lif_p),
        "adex_parameters": _jsonable(adex_p),
        "adex_derivation": _jsonable({"g_eff_at_rest_nS": adex_sub["_g_eff_nS"],
                                      "eif_rheobase_without_a_pA": m["dynamic_iv"]["g_L_nS"] * (
                                          m["dynamic_iv"]["V_T_mV"] - m["dynamic_iv"]["E_L_mV"]
                                          - m["dynamic_iv"]["Delta_T_mV"]),
                                      "step_fit_rms_relative": adex_sub["_step_fit_rms_relative"],
                                      "b_fitted_to_hh_rate_at_pA": float(currents[k_cal]),
                                      "b_fitted_to_hh_rate_hz": float(hh_hz[k_cal])}),
        "fi": _jsonable(fi),
        "spike_agreement": _jsonable(agreement),
        "class2_gap": _jsonable(class2),
        "checks": checks,
        "figure": figure,
        # what the report's figure is drawn from
        "figure_data": _jsonable({"trace_t_ms": trace_t, "step_V_m_mV": step_traces, "noise_pA": noise,
                                  "noise_dt_ms": proto.noise_dt_ms, "noise_test_ms": proto.noise_test_ms,
                                  "noise_spikes_ms": noise_spikes, "step_multiple": STEP_TEST_MULTIPLE,
                                  "step_onset_ms": STEP_TEST_ONSET_MS, "noise_mean": NOISE_TEST["mean"],
                                  "noise_sd": NOISE_TEST["sd"]}),
        "wall_time_s": {"measurements": t_measure, "total": time.perf_counter() - started},
        "protocol": proto.name,
        # the keys that are model names carry no unit suffix: their units, from the specs
        "units": {"lif_parameters": {k: lif.parameters[k].unit.name for k in lif_p},
                  "adex_parameters": {k: adex.parameters[k].unit.name for k in adex_p},
                  "measurements.rest_state": {k: hh.state[k].unit.name for k in rest_state}},
    }
    result["summary_html"] = summary_html(result)
    result["wall_time_s"]["total"] = time.perf_counter() - started
    return result


def _checks(hh, m, lif, lif_p, adex, adex_sub, fi, class2, agreement, proto):
    checks = []
    # 1-2: the measured rest and R_in against the steady-state I-V of the model's own equations
    V0, R0 = steady_state_rest(hh)
    checks.append(_record("hh_equivalent_rest", abs(m["rest_mV"] - V0), 0.05, "mV",
                          abs(m["rest_mV"] - V0) <= 0.05,
                          f"measured rest {m['rest_mV']:.4f} mV vs zero of the steady-state I-V {V0:.4f} mV",
                          measured_mV=m["rest_mV"], steady_state_root_mV=V0))
    err = abs(m["R_in_GOhm"] / R0 - 1.0)
    checks.append(_record("hh_equivalent_input_resistance", err, 0.02, "relative", err <= 0.02,
                          f"R_in {m['R_in_GOhm'] * 1e3:.3f} MOhm from +-{max(proto.step_amplitudes_pA):g} pA steps vs "
                          f"1/slope of the steady-state I-V at rest {R0 * 1e3:.3f} MOhm",
                          measured_GOhm=m["R_in_GOhm"], steady_state_GOhm=R0))
    # 3-4: capacitance
    err = abs(m["C_pF"] / m["C_model_pF"] - 1.0)
    checks.append(_record("hh_equivalent_capacitance", err, 0.10, "relative", err <= 0.10,
                          f"C = tau_m/R_fast = {m['C_pF']:.1f} pF (exponential fit of the first "
                          f"{proto.fast_fit_ms:g} ms of the step response) vs the model's C_m {m['C_model_pF']:g} pF",
                          C_pF=m["C_pF"], C_m_pF=m["C_model_pF"], tau_m_ms=m["tau_m_ms"], R_fast_GOhm=m["R_fast_GOhm"]))
    ratio = m["C_tau_over_R_in_pF"] / m["C_model_pF"]
    checks.append(_record("hh_equivalent_capacitance_tau_over_R_in", ratio, None, "ratio", True,
                          "tau_m / R_in mixes the fast relaxation with the steady-state resistance",
                          known_gap=f"HH is not an RC membrane: tau_m/R_in = {m['C_tau_over_R_in_pF']:.0f} pF is "
                          f"{ratio:.1f}x C_m because the slow gating (n, h) adds "
                          f"{100 * (1 - m['R_in_GOhm'] / m['R_fast_GOhm']):.0f}% of the steady-state conductance "
                          f"(R_in {m['R_in_GOhm'] * 1e3:.1f} MOhm vs R_fast {m['R_fast_GOhm'] * 1e3:.1f} MOhm) and "
                          f"the step response overshoots {m['step_overshoot_ratio']:.2f}x; the equivalent LIF "
                          f"uses this C_m to keep both tau_m and R_in",
                          C_tau_over_R_in_pF=m["C_tau_over_R_in_pF"]))
    div = m["dynamic_iv"]
    ratio = div["C_varmin_pF"] / m["C_model_pF"]
    checks.append(_record("hh_equivalent_dynamic_iv_capacitance", ratio, None, "ratio", True,
                          "Badel et al.'s capacitance (minimum within-bin variance of the ionic current)",
                          known_gap=f"the variance-minimising C is {div['C_varmin_pF']:.0f} pF, not "
                          f"{m['C_model_pF']:g} pF: in HH the ionic current at a given V depends on the gating "
                          f"history (n, h), which is correlated with dV/dt; the dynamic I-V uses the step-measured "
                          f"C = {m['C_pF']:.1f} pF instead", C_varmin_pF=div["C_varmin_pF"]))
    # 5: the LIF's closed form against its reference integration
    hh_hz, lif_hz, closed = np.array(fi["hh_hz"]), np.array(fi["lif_hz"]), np.array(fi["lif_closed_form_hz"])
    firing = closed > 0
    rel = float(np.max(_relative_errors(closed[firing], lif_hz[firing]))) if firing.any() else 0.0
    silent_ok = bool(np.all(lif_hz[~firing] == 0))
    checks.append(_record("hh_equivalent_lif_rate_error", rel, 1e-6, "relative", rel <= 1e-6 and silent_ok,
                          "closed-form lif_rate of the equivalent LIF vs its reference-integrated steady rate "
                          f"({int(firing.sum())} firing currents; silent below rheobase: {silent_ok})",
                          currents_pA=fi["currents_pA"], closed_form_hz=closed, reference_hz=lif_hz))
    # 6: rheobase by construction, confirmed by integrating the LIF either side of it
    lif_rheo = class2["lif_rheobase_pA"]
    rel = abs(lif_rheo / m["rheobase_pA"] - 1.0)
    either = _run(lif, proto, duration_ms=proto.rheobase_run_ms, bias_pA=[lif_rheo * (1 - 1e-3), lif_rheo * (1 + 1e-3)],
                  rtol=LIF_RTOL)
    below, above = (len(s) for s in either.spike_times_ms)
    ok = rel <= 1e-9 and below == 0 and _sustained(either.spike_times_ms[1], proto.rheobase_run_ms)
    checks.append(_record("hh_equivalent_lif_rheobase", rel, 1e-9, "relative", ok,
                          f"LIF rheobase {lif_rheo:.2f} pA vs HH {m['rheobase_pA']:.2f} pA (by construction); the "
                          f"integrated LIF fires {below} spikes at -0.1% and {above} at +0.1%",
                          lif_rheobase_pA=lif_rheo, hh_rheobase_pA=m["rheobase_pA"], spikes_below=below,
                          spikes_above=above))
    # 7-8: f-I agreement in the firing regime, and the class-2 onset
    mult = np.array(fi["multiples_of_rheobase"])
    regime = (mult >= FIRING_REGIME_MULTIPLE) & (hh_hz > 0)
    for name, rates, tol in (("lif", lif_hz, LIF_FI_TOLERANCE), ("adex", np.array(fi["adex_hz"]), ADEX_FI_TOLERANCE)):
        errs = _relative_errors(hh_hz[regime], rates[regime])
        worst = float(np.max(errs)) if regime.any() else float("nan")
        at = float(np.array(fi["currents_pA"])[regime][int(np.argmax(errs))]) if regime.any() else None
        checks.append(_record(f"hh_equivalent_{name}_fi_error", worst, tol, "relative", worst <= tol,
                              f"largest |f_{name} - f_HH| / f_HH for {FIRING_REGIME_MULTIPLE:g}x rheobase and above "
                              f"(up to depolarisation block): {100 * worst:.0f}% at {at:.0f} pA",
                              currents_pA=np.array(fi["currents_pA"])[regime], hh_hz=hh_hz[regime],
                              model_hz=rates[regime], relative_errors=errs))
    c = class2
    checks.append(_record("hh_equivalent_class2_onset", c["hh_min_rate_hz"], None, "Hz", True,
                          "HH's lowest sustained rate against the LIF's continuous onset",
                          known_gap=(f"class-2 onset: HH jumps from 0 to {c['hh_min_rate_hz']:.1f} Hz at "
                                     f"{c['hh_rheobase_pA']:.1f} pA; the LIF's rate is 0 at its rheobase and rises "
                                     f"continuously, but as tau_m ln(1/(I - I_rh)) with tau_m = "
                                     f"{lif_p['tau_m']:.2f} ms: {c['lif_rate_above_rheobase_hz']['1e-06']:.1f} Hz at "
                                     f"1e-6 above rheobase, {c['lif_rate_above_rheobase_hz']['0.01']:.1f} Hz at "
                                     f"1% above; it is below 5 Hz only within {c['lif_offset_for_5hz_pA']:.1e} pA "
                                     f"of rheobase and below HH's minimum rate within "
                                     f"{c['lif_offset_for_hh_min_rate_pA']:.1f} pA"),
                          **{k: v for k, v in c.items() if k.startswith(("lif_", "hh_"))}))
    # 9: the AdEx's rheobase is not fitted: a real test of the subthreshold reduction
    rel = abs(c["adex_rheobase_pA"] / m["rheobase_pA"] - 1.0)
    checks.append(_record("hh_equivalent_adex_rheobase", rel, 0.10, "relative", rel <= 0.10,
                          f"AdEx rheobase {c['adex_rheobase_pA']:.0f} pA (lowest rate {c['adex_min_rate_hz']:.1f} Hz) "
                          f"vs HH {m['rheobase_pA']:.0f} pA (lowest rate {c['hh_min_rate_hz']:.1f} Hz); not fitted",
                          adex_rheobase_pA=c["adex_rheobase_pA"], adex_min_rate_hz=c["adex_min_rate_hz"]))
    # 10: spike timing (Gamma)
    for protocol in ("step", "noise"):
        for name in ("lif", "adex"):
            g = agreement[protocol][name]
            reason = (f"coincidence factor (+-{COINCIDENCE_WINDOW_MS:g} ms) of the {name.upper()} vs HH under the "
                      f"{protocol}: {g['n_coincident']}/{g['n_hh']} HH spikes matched, {g['n_model']} model spikes")
            if protocol == "noise" and name == "lif":
                # structural: an RC membrane low-pass filters what HH's resonant membrane amplifies
                gap = (f"HH resonates (step response overshoots {m['step_overshoot_ratio']:.1f}x; resistance of the "
                       f"fast response {m['R_fast_GOhm'] * 1e3:.0f} MOhm vs R_in {m['R_in_GOhm'] * 1e3:.1f} MOhm) and "
                       f"fires on fluctuations that the LIF's single RC filters out: HH "
                       f"{agreement['noise']['rates_hz']['hh']:.1f} Hz, LIF "
                       f"{agreement['noise']['rates_hz']['lif']:.1f} Hz under the same frozen noise, "
                       f"Gamma = {g['gamma']:.2f}")
                checks.append(_record(f"hh_equivalent_gamma_{protocol}_{name}", g["gamma"], None, "1", True, reason,
                                      known_gap=gap, **g))
                continue
            checks.append(_record(f"hh_equivalent_gamma_{protocol}_{name}", g["gamma"], GAMMA_MINIMUM, "1",
                                  g["gamma"] >= GAMMA_MINIMUM, reason, **g))
    return checks


# ---------------------------------------------------------------------------- figure and summaries
COLORS = {"hh": "black", "lif": "tab:blue", "adex": "tab:red"}
LABELS = {"hh": "HH", "lif": "equivalent LIF", "adex": "equivalent AdEx"}


def _figure(out_dir, m, lif_p, fi, trace_t, step_traces, step_spikes, noise, noise_spikes, proto):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from pathlib import Path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    ax = axes[0, 0]
    I = np.array(fi["currents_pA"])
    fine = np.linspace(0, I.max(), 600)
    ax.plot(fine, lif_rate(fine, **{k: lif_p[k] for k in ("C_m", "tau_m", "E_L", "V_th", "V_reset", "t_ref")}),
            color=COLORS["lif"], lw=1, ls="--", label="LIF closed form")
    for key, name in (("hh_hz", "hh"), ("lif_hz", "lif"), ("adex_hz", "adex")):
        ax.plot(I, fi[key], "o-" if name == "hh" else "s", color=COLORS[name], ms=4, lw=1.2,
                label=f"{LABELS[name]} (reference)")
    ax.axvline(m["rheobase_pA"], color="0.6", lw=0.8, ls=":")
    ax.set_xlabel("current (pA)")
    ax.set_ylabel("steady rate (Hz)")
    ax.set_title("f-I curves")
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    for name in ("hh", "lif", "adex"):
        ax.plot(trace_t, step_traces[name], color=COLORS[name], lw=1, label=LABELS[name])
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("V_m (mV)")
    ax.set_title(f"step to {STEP_TEST_MULTIPLE:g}x rheobase at {STEP_TEST_ONSET_MS:g} ms")
    ax.set_ylim(-90, 45)
    ax.legend(fontsize=8, loc="upper right")
    ax = axes[1, 0]
    t_noise = np.arange(len(noise)) * proto.noise_dt_ms
    show = t_noise < min(proto.noise_test_ms, 1000.0)
    scaled = (noise[show] - noise.mean()) / (4 * noise.std()) - 1.5  # the input, drawn below the rasters
    ax.plot(t_noise[show], scaled, color="0.55", lw=0.5)
    for row, name in enumerate(("adex", "lif", "hh")):
        spikes = noise_spikes[name]
        spikes = spikes[spikes < t_noise[show][-1]]
        ax.vlines(spikes, row - 0.35, row + 0.35, color=COLORS[name], lw=1.2)
    ax.set_yticks([-1.5, 0, 1, 2], ["input", "AdEx", "LIF", "HH"])
    ax.set_ylim(-2.6, 2.6)
    ax.set_xlabel("time (ms)")
    ax.set_title(f"frozen noisy current (mean {NOISE_TEST['mean']:g}, sd {NOISE_TEST['sd']:g} x rheobase): spikes")
    ax = axes[1, 1]
    bins = m["dynamic_iv"]["bins"]
    div = m["dynamic_iv"]
    v = np.array(bins["V_mV"])
    ax.errorbar(v, bins["F_mV_per_ms"], yerr=bins["sd_mV_per_ms"], fmt="o", ms=3, color="black", lw=0.6,
                label="HH: mean +- sd of I_ion/C")
    vv = np.linspace(v.min(), div["fit_range_mV"][1] + 5, 300)
    ax.plot(vv, (div["E_L_mV"] - vv + div["Delta_T_mV"] * np.exp((vv - div["V_T_mV"]) / div["Delta_T_mV"]))
            / div["tau_ms"], color=COLORS["adex"], label="exponential fit")
    ax.axhline(0, color="0.7", lw=0.6)
    ax.set_xlabel("V_m (mV)")
    ax.set_ylabel("F(V) = I_ion/C (mV/ms)")
    ax.set_ylim(-8, 40)
    ax.set_title("dynamic I-V curve")
    ax.legend(fontsize=8)
    fig.suptitle("Hodgkin-Huxley neuron and its integrate-and-fire equivalents (reference integrator)")
    fig.tight_layout()
    name = "hh_equivalent.png"
    fig.savefig(out / name, dpi=110)
    plt.close(fig)
    return name


def _fmt(x, digits=3):
    if x is None:
        return "-"
    if isinstance(x, (int, np.integer)):
        return str(x)
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    if x != 0 and (abs(x) >= 1e5 or abs(x) < 1e-3):
        return f"{x:.2e}"
    return f"{x:.{digits}g}" if abs(x) < 10 ** digits else f"{x:.0f}"


MEASUREMENT_ROWS = (
    ("rest_mV", "resting potential", "mV"),
    ("R_in_GOhm", "input resistance R_in (steady state)", "GOhm"),
    ("tau_m_ms", "membrane time constant (first ms of the step response)", "ms"),
    ("R_fast_GOhm", "resistance of that fast relaxation", "GOhm"),
    ("C_pF", "C = tau_m / R_fast", "pF"),
    ("C_model_pF", "model's C_m", "pF"),
    ("C_tau_over_R_in_pF", "tau_m / R_in", "pF"),
    ("step_overshoot_ratio", "step-response overshoot (peak / steady state)", "(ratio)"),
    ("rheobase_pA", "rheobase (sustained firing from rest)", "pA"),
    ("rate_at_rheobase_hz", "lowest sustained rate", "Hz"),
    ("threshold_mV", "threshold (dV/dt = 10 mV/ms)", "mV"),
    ("spike_peak_mV", "spike peak", "mV"),
    ("spike_width_ms", "spike width at half amplitude", "ms"),
    ("time_above_threshold_ms", "time above threshold", "ms"),
    ("reset_mV", "reset level (AHP trough)", "mV"),
    ("peak_to_trough_ms", "peak to trough", "ms"),
    ("max_rate_hz", "maximal sustained rate", "Hz"),
    ("refractory_ms", "effective refractory period 1/f_max", "ms"),
    ("adaptation_ratio", "first / last interspike interval near rheobase", "(ratio)"),
)


def summary_html(result) -> str:
    """A small HTML fragment: measurements, derived parameters, agreement and what does not match."""
    esc = html.escape
    m, sa = result["measurements"], result["spike_agreement"]
    div = m["dynamic_iv"]
    parts = ["<h2>Hodgkin-Huxley-derived equivalents</h2>",
             "<p>Everything below is measured on the <code>hh</code> model through the reference integrator "
             f"({esc(result['protocol'])} protocol) and compared through it.</p>",
             "<h3>Measurements</h3>", "<table><tr><th>quantity</th><th>value</th><th>unit</th></tr>"]
    for key, text, unit in MEASUREMENT_ROWS:
        parts.append(f"<tr><td>{esc(text)}</td><td>{_fmt(m.get(key), 4)}</td><td>{esc(unit)}</td></tr>")
    parts.append(f"<tr><td>dynamic I-V: tau, E_L, V_T, Delta_T</td><td>{_fmt(div['tau_ms'])}, "
                 f"{_fmt(div['E_L_mV'], 4)}, {_fmt(div['V_T_mV'], 4)}, {_fmt(div['Delta_T_mV'])}</td>"
                 "<td>ms, mV, mV, mV</td></tr>")
    parts.append("</table>")
    parts.append("<h3>Derived parameters</h3><table><tr><th>model</th><th>parameters</th></tr>")
    for name in ("lif", "adex"):
        params = result[f"{name}_parameters"]
        text = ", ".join(f"{k} = {_fmt(v, 4)}" for k, v in params.items())
        parts.append(f"<tr><td>{name}</td><td>{esc(text)}</td></tr>")
    parts.append("</table>")
    fi = result["fi"]
    parts.append("<h3>f-I curves (Hz)</h3><table><tr><th>I (pA)</th><th>I / rheobase</th><th>HH</th><th>LIF</th>"
                 "<th>LIF closed form</th><th>AdEx</th></tr>")
    for i, cur in enumerate(fi["currents_pA"]):
        parts.append(f"<tr><td>{cur:.0f}</td><td>{fi['multiples_of_rheobase'][i]:g}</td>"
                     + "".join(f"<td>{fi[k][i]:.1f}</td>" for k in ("hh_hz", "lif_hz", "lif_closed_form_hz", "adex_hz"))
                     + "</tr>")
    parts.append("</table>")
    parts.append("<h3>Spike-time agreement (coincidence factor, +-2 ms)</h3><table><tr><th>stimulus</th><th>model</th>"
                 "<th>Gamma</th><th>HH spikes matched</th><th>model spikes</th><th>mean lag (ms)</th></tr>")
    for protocol in ("step", "noise"):
        for name in ("lif", "adex"):
            g = sa[protocol][name]
            parts.append(f"<tr><td>{protocol}</td><td>{name}</td><td>{g['gamma']:.2f}</td>"
                         f"<td>{g['n_coincident']}/{g['n_hh']}</td><td>{g['n_model']}</td>"
                         f"<td>{_fmt(g['mean_lag_ms'])}</td></tr>")
    parts.append("</table>")
    parts.append("<h3>Checks</h3><table><tr><th>check</th><th>value</th><th>tolerance</th><th>result</th></tr>")
    for ck in result["checks"]:
        state = "known gap" if ck["known_gap"] else ("pass" if ck["passed"] else "FAIL")
        parts.append(f"<tr><td>{esc(ck['check'])}</td><td>{_fmt(ck['value'])} {esc(ck['unit'])}</td>"
                     f"<td>{_fmt(ck['tolerance'])}</td><td>{state}</td></tr>")
    parts.append("</table>")
    parts.append("<h3>What does not match</h3><p>" + esc(_honest_paragraph(result)) + "</p>")
    return "\n".join(parts)


def _honest_paragraph(result):
    m, c = result["measurements"], result["class2_gap"]
    sa = result["spike_agreement"]
    checks = {ck["check"]: ck for ck in result["checks"]}
    lif_err, adex_err = checks["hh_equivalent_lif_fi_error"], checks["hh_equivalent_adex_fi_error"]
    failed = [ck for ck in result["checks"] if not ck["passed"]]
    return (
        f"HH is a class-2 neuron: at rheobase ({c['hh_rheobase_pA']:.0f} pA) its rate jumps from 0 to "
        f"{c['hh_min_rate_hz']:.1f} Hz. A LIF cannot jump; its rate rises continuously from 0, but with the measured "
        f"tau_m = {result['lif_parameters']['tau_m']:.2f} ms the rise is logarithmic and steep: "
        f"{c['lif_rate_above_rheobase_hz']['1e-06']:.1f} Hz at 1e-6 above rheobase, so the difference lives in a "
        f"current interval of {c['lif_offset_for_hh_min_rate_pA']:.0f} pA above rheobase (below 5 Hz only within "
        f"{c['lif_offset_for_5hz_pA']:.0e} pA). Above {FIRING_REGIME_MULTIPLE:g}x rheobase the LIF's rate is within "
        f"{100 * lif_err['value']:.0f}% of HH's, the AdEx's within {100 * adex_err['value']:.0f}% (its b is fitted at "
        f"{CALIBRATION_MULTIPLE:g}x rheobase). "
        f"One RC circuit cannot reproduce HH's membrane: its step response overshoots {m['step_overshoot_ratio']:.1f}x "
        f"(resonance from the slow n and h gating), so the LIF's C_m = tau_m/R_in = {m['C_tau_over_R_in_pF']:.0f} pF "
        f"is {m['C_tau_over_R_in_pF'] / m['C_model_pF']:.1f}x HH's C_m and its V_th = "
        f"{result['lif_parameters']['V_th']:.1f} mV lies below HH's spike-onset threshold {m['threshold_mV']:.1f} mV. "
        f"The AdEx's adaptation (a, tau_w) reproduces the resonance and makes it class 2 too (lowest rate "
        f"{c['adex_min_rate_hz']:.1f} Hz), but its firing persists down to {c['adex_rheobase_pA']:.0f} pA, "
        f"{100 * (1 - c['adex_rheobase_pA'] / c['hh_rheobase_pA']):.0f}% below HH's rheobase: with its reset and "
        f"dead time its limit cycle exists at lower currents than HH's. "
        f"Spike timing: Gamma = {sa['noise']['lif']['gamma']:.2f} (LIF) and {sa['noise']['adex']['gamma']:.2f} "
        f"(AdEx) under frozen noise, {sa['step']['lif']['gamma']:.2f} and {sa['step']['adex']['gamma']:.2f} under "
        f"the step. HH's dynamic I-V is not exponential above threshold, and Badel's variance-minimising capacitance "
        f"({m['dynamic_iv']['C_varmin_pF']:.0f} pF) is biased by HH's gating history."
        + (" Checks outside their tolerance: " + "; ".join(f"{ck['check']} = {_fmt(ck['value'])} "
                                                            f"(tolerance {_fmt(ck['tolerance'])})"
                                                            for ck in failed) + "." if failed else "")
    )


def _unit_words(unit) -> str:
    """A check's unit as printed: dimensionless units are named, not left blank."""
    if unit in (None, "", "1"):
        return "dimensionless"
    return unit


def _print_summary(result, stream):
    m, fi, c = result["measurements"], result["fi"], result["class2_gap"]
    w = stream.write
    w("Hodgkin-Huxley-derived equivalents (reference integrator, %s protocol)\n\n" % result["protocol"])
    w("Measurements\n")
    for key, text, unit in MEASUREMENT_ROWS:
        w(f"  {text:<55} {_fmt(m.get(key), 4):>10} {unit}\n")
    div = m["dynamic_iv"]
    w(f"  {'dynamic I-V: tau / E_L / V_T / Delta_T':<55} {div['tau_ms']:.3g} ms / {div['E_L_mV']:.4g} mV / "
      f"{div['V_T_mV']:.4g} mV / {div['Delta_T_mV']:.3g} mV\n")
    units = result.get("units", {})
    for name in ("lif", "adex"):
        w(f"\nEquivalent {name.upper()}\n")
        unit_of = units.get(f"{name}_parameters", {})
        for k, v in result[f"{name}_parameters"].items():
            w(f"  {k:<10} {_fmt(v, 5):>12} {unit_of.get(k, '')}\n")
    w("\nf-I curves\n  %10s %10s %8s %8s %13s %9s\n" % ("I [pA]", "I/rheobase", "HH [Hz]", "LIF [Hz]",
                                                            "LIF c.f. [Hz]", "AdEx [Hz]"))
    for i, cur in enumerate(fi["currents_pA"]):
        w("  %10.1f %10.3g %8.1f %8.1f %13.1f %9.1f\n" % (cur, fi["multiples_of_rheobase"][i], fi["hh_hz"][i],
                                                             fi["lif_hz"][i], fi["lif_closed_form_hz"][i],
                                                             fi["adex_hz"][i]))
    w(f"\nSpike-time agreement (coincidence factor Gamma, dimensionless; window +-"
      f"{result['spike_agreement']['window_ms']:g} ms)\n")
    for protocol in ("step", "noise"):
        for name in ("lif", "adex"):
            g = result["spike_agreement"][protocol][name]
            lag = "" if g.get("mean_lag_ms") is None else f", mean lag {_fmt(g['mean_lag_ms'])} ms"
            w(f"  {protocol:<6} {name:<5} Gamma = {g['gamma']:6.3f}   matched {g['n_coincident']}/{g['n_hh']} HH "
              f"spikes, {g['n_model']} model spikes{lag}\n")
    w("\nClass-2 gap\n")
    w(f"  HH: 0 Hz below {c['hh_rheobase_bracket_pA'][0]:.1f} pA, {c['hh_min_rate_hz']:.1f} Hz at "
      f"{c['hh_rheobase_bracket_pA'][1]:.1f} pA\n")
    w("  LIF above its rheobase by a fraction e of it: "
      + ", ".join(f"e={k}: {v:.1f} Hz" for k, v in c["lif_rate_above_rheobase_hz"].items()) + "\n")
    w(f"  AdEx rheobase {c['adex_rheobase_pA']:.1f} pA, lowest rate {c['adex_min_rate_hz']:.1f} Hz\n")
    w("\nChecks\n")
    w(f"  {'result':<9} {'check':<45} {'value':>10} {'tolerance':>10}  unit\n")
    for ck in result["checks"]:
        state = "known gap" if ck["known_gap"] else ("pass" if ck["passed"] else "FAIL")
        w(f"  {state:<9} {ck['check']:<45} {_fmt(ck['value']):>10} {_fmt(ck['tolerance']):>10}  "
          f"{_unit_words(ck.get('unit'))}\n")
    w("\n" + _honest_paragraph(result) + "\n")
    if result["figure"]:
        w(f"\nfigure: {result['figure']}\n")
    w(f"wall time {result['wall_time_s']['total']:.1f} s\n")


def main(argv=None, parser_class=argparse.ArgumentParser) -> int:
    """``lifbridge hh-equivalent [--json] [--quick] [--out DIR] [--no-progress]``."""
    parser = parser_class(prog="lifbridge hh-equivalent",
                                     description="Measure the Hodgkin-Huxley model through the reference integrator, "
                                     "build an equivalent LIF and AdEx, and compare them.")
    parser.add_argument("--json", action="store_true", help="print the result as JSON (without the HTML fragment)")
    parser.add_argument("--quick", action="store_true", help="coarse sweeps and short runs (about 15 s)")
    parser.add_argument("--out", metavar="DIR", help="write hh_equivalent.png, .json and .html into DIR")
    parser.add_argument("--no-progress", action="store_true", help="no progress messages on stderr")
    args = parser.parse_args(argv)
    if args.out:
        from pathlib import Path

        from .errors import LifbridgeError

        try:
            Path(args.out).mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise LifbridgeError(f"--out {args.out}: cannot create the directory ({error.strerror or error}); "
                                 f"give a writable directory") from None
    started = time.perf_counter()

    def progress(message):
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    result = hh_equivalent(quick=args.quick, out_dir=args.out, progress=None if args.no_progress else progress)
    plain = {k: v for k, v in result.items() if k != "summary_html"}
    if args.out:
        from pathlib import Path

        out = Path(args.out)
        (out / "hh_equivalent.json").write_text(json.dumps(plain, indent=2))
        (out / "hh_equivalent.html").write_text(result["summary_html"])
    if args.json:
        print(json.dumps(plain, indent=2))
    else:
        _print_summary(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
