"""The integrate-and-fire equivalents built from the measurements (:mod:`.measure`).

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
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq, least_squares

from ..model import Model
from ..spec import load
from ..stimulus import steady_rate
from .measure import CALIBRATION_MULTIPLE, FULL, QUICK, _run, _say


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
    (default 2x rheobase) equals ``hh_rate_hz`` (default: the measured model's, through the
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
        hh = load(m["model"])
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


