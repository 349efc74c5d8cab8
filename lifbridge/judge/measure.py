"""Measurements of the biophysical reference model (``hh``) through the reference integrator.

The model is treated as an experimental preparation: it is stimulated through
:mod:`lifbridge.reference` and only its membrane potential and spike times are looked
at, as an electrophysiologist would. No simulator is involved.

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
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq, curve_fit

from .. import expr as ex
from ..divergence import membrane_potential
from ..model import Model
from ..reference import reference_simulate
from ..errors import LifbridgeError
from ..spec import bundled_models, load
from ..stimulus import steady_rate

#: dV/dt (mV/ms) that defines the spike-onset threshold.
THRESHOLD_SLOPE_MV_PER_MS = 10.0
#: spikes in the second half of a run that count as sustained firing.
SUSTAINED_SPIKES = 3
#: excluded after each spike in the dynamic I-V analysis (ms).
DIV_EXCLUDE_AFTER_SPIKE_MS = 10.0
#: largest/smallest interspike interval in the second half of a run that still counts as regular firing.
REGULAR_ISI_RATIO = 1.2
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


#: What :func:`measure_hh` reports, for tables: key, what it is, unit ("1": a ratio).
MEASUREMENTS = (
    ("rest_mV", "resting potential", "mV"),
    ("R_in_GOhm", "input resistance R_in (steady state)", "GOhm"),
    ("tau_m_ms", "membrane time constant (first ms of the step response)", "ms"),
    ("R_fast_GOhm", "resistance of that fast relaxation", "GOhm"),
    ("C_pF", "C = tau_m / R_fast", "pF"),
    ("C_model_pF", "model's C_m", "pF"),
    ("C_tau_over_R_in_pF", "tau_m / R_in", "pF"),
    ("step_overshoot_ratio", "step-response overshoot (peak / steady state)", "1"),
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
    ("adaptation_ratio", "first / last interspike interval near rheobase", "1"),
)


#: [hints].role of the model that the integrate-and-fire equivalents are measured on.
BIOPHYSICAL_REFERENCE = "biophysical_reference"


def is_biophysical_reference(model) -> bool:
    """Whether ``model`` declares itself the biophysical reference (``[hints].role``)."""
    return model.hints.get("role") == BIOPHYSICAL_REFERENCE


def biophysical_reference() -> Model:
    """The bundled model that declares ``[hints].role = "biophysical_reference"`` (``hh``)."""
    for name in bundled_models():
        model = load(name)
        if is_biophysical_reference(model):
            return model
    raise LifbridgeError(f"no bundled model declares [hints].role = \"{BIOPHYSICAL_REFERENCE}\"; add the hint to "
                         f"the model the equivalents are measured on (models/hh.toml)")


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
    vm = membrane_potential(model)
    V = np.asarray(V_mV, dtype=float)
    ns = dict(model.parameter_values_si())
    for name in model.continuous_inputs:
        ns[name] = 0.0
    if "I_e" in ns:
        ns["I_e"] = 0.0
    ns["t"] = 0.0
    others = [s for s in model.state if s != vm]
    values = {s: np.zeros_like(V) for s in others}

    def evaluate(expr):
        full = dict(ns)
        full[vm] = V * 1e-3
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
    dVdt = evaluate(model.equations[vm])  # V/s
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
    vm = membrane_potential(model)
    duration = proto.settle_ms
    times = np.array([duration - 20.0, duration])
    result = _run(model, proto, duration_ms=duration, record=tuple(model.state), record_times_ms=times,
                  rtol=TIGHT_RTOL)
    state = {name: float(result.traces[name][1][0, -1]) for name in model.state}
    V = result.traces[vm][1][0]
    return state, {"rest_mV": state[vm], "rest_drift_mV_per_s": float((V[1] - V[0]) / 20.0 * 1e3),
                   "rest_spikes": int(len(result.spike_times_ms[0]))}


def _measure_steps(model, rest_state, proto):
    vm = membrane_potential(model)
    onset = 5.0
    fine = np.arange(0.0, proto.fast_fit_ms + 1e-9, 0.01)
    coarse = np.arange(0.1, proto.step_ms + 1e-9, 0.1)
    t_rel = np.unique(np.concatenate([fine, coarse]))
    times = onset + t_rel
    rest = rest_state[vm]
    z_all, rows = [], []
    for amplitude in proto.step_amplitudes_pA:
        current = (lambda t, a=amplitude: a if t >= onset else 0.0)
        result = _run(model, proto, duration_ms=onset + proto.step_ms, current=current, breakpoints_ms=[onset],
                      record=(vm,), record_times_ms=times, initial=rest_state, rtol=TIGHT_RTOL)
        dV = result.traces[vm][1][0] - rest
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
    vm = membrane_potential(model)
    duration = proto.shape_run_ms
    h = 0.01
    times = np.arange(duration - 60.0, duration, h)
    result = _run(model, proto, duration_ms=duration, bias_pA=current, initial=rest_state, record=(vm,),
                  record_times_ms=times, rtol=min(proto.rtol, 1e-8))
    V = result.traces[vm][1][0]
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
    vm = membrane_potential(model)
    duration, sdt = proto.noise_fit_ms, proto.noise_dt_ms
    current = _noise_for("fit", rheobase, duration, sdt)
    h = 0.05  # recording step; the current jumps only at multiples of sdt (= 10 h)
    times = np.arange(0.0, duration, h)
    result = _run(model, proto, duration_ms=duration, current=current, signal_dt_ms=sdt, record=(vm,),
                  record_times_ms=times, initial=rest_state)
    V = result.traces[vm][1][0]
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
    model = biophysical_reference() if model is None else model
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


