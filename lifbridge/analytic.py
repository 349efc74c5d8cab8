"""Analytic reference results for integrate-and-fire neurons.

Everything here is plain numpy/scipy and is used to validate simulated models.

Units follow NEST: current pA, capacitance pF, conductance nS, time ms, voltage mV,
light intensity mW/mm^2. Rates are returned in Hz, resistances/impedances in GOhm
(= mV/pA). The membrane resistance is ``R = tau_m / C_m`` and the leak conductance
``g_L = C_m / tau_m``.

Scalar inputs give a Python ``float``; array inputs broadcast against each other and
give a numpy array. Brian2 ``Quantity`` arguments are also accepted: they are converted
to the units above (brian2 is imported only when such an argument is seen); results are
always plain numbers in the units stated in each docstring.
"""

import functools
import inspect
import math

import numpy as np
from scipy.integrate import quad
from scipy.optimize import brentq
from scipy.special import erfc, erfcx

__all__ = [
    "FOURCAUD_BRUNEL_ALPHA",
    "lif_rheobase",
    "lif_rate",
    "lif_rate_with_conductance",
    "lif_current_for_rate",
    "lif_time_to_threshold",
    "lif_step_response",
    "lif_impedance",
    "pif_rate",
    "qif_rate",
    "eif_rate",
    "siegert_rate",
    "siegert_mu_for_rate",
    "adaptive_lif_rate",
    "three_state_opsin_steady_state",
    "optogenetic_lif_plateau_rate",
]

#: sqrt(2) |zeta(1/2)|, the coefficient of the Fourcaud & Brunel (2002) boundary shift.
FOURCAUD_BRUNEL_ALPHA = math.sqrt(2.0) * 1.4603545088095868

_SQRT_PI = math.sqrt(math.pi)

# Unit of every argument name used in this module, for converting Brian2 quantities.
_UNITS = {
    "I": "pA", "C_m": "pF", "tau_m": "ms", "E_L": "mV", "V_th": "mV", "V_reset": "mV",
    "t_ref": "ms", "V0": "mV", "t": "ms", "f": "Hz", "g_L": "nS", "V_T": "mV",
    "Delta_T": "mV", "V_peak": "mV", "k": "nS/mV", "V_r": "mV", "V_t": "mV",
    "mu": "mV", "sigma": "mV", "theta": "mV", "tau_syn": "ms", "rate_hz": "Hz",
    "rate": "Hz", "g_a": "nS", "E_K": "mV", "tau_a": "ms", "b": "1", "g_extra": "nS",
    "E_extra": "mV", "g_ChR": "nS", "E_ChR": "mV", "light": "mW/mm2", "phi": "mW/mm2",
    "k_a": "1/(ms*mW/mm2)", "tau_d": "ms", "tau_r": "ms",
}


def _brian2_unit(name):
    from brian2 import units as u  # imported lazily, only for Quantity input
    from brian2.units.allunits import mmetre, mwatt

    return {
        "pA": u.pA, "pF": u.pF, "nS": u.nS, "mV": u.mV, "ms": u.ms, "Hz": u.Hz, "1": 1,
        "nS/mV": u.nS / u.mV, "mW/mm2": mwatt / mmetre**2,
        "1/(ms*mW/mm2)": 1 / (u.ms * mwatt / mmetre**2),
    }[name]


def _strip_unit(value, arg_name):
    from brian2 import have_same_dimensions

    unit_name = _UNITS[arg_name]
    unit = _brian2_unit(unit_name)
    if not have_same_dimensions(value, unit):
        raise ValueError(f"{arg_name} = {value!r} does not have the dimensions of {unit_name}")
    return np.asarray(value / unit, dtype=float)


def _accepts_quantities(func):
    """Convert Brian2 Quantity arguments (anything with a ``dim``) to plain NEST units."""
    signature = inspect.signature(func)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if any(hasattr(v, "dim") for v in (*args, *kwargs.values())):
            bound = signature.bind(*args, **kwargs)
            for name, value in bound.arguments.items():
                if hasattr(value, "dim"):
                    bound.arguments[name] = _strip_unit(value, name)
            args, kwargs = bound.args, bound.kwargs
        return func(*args, **kwargs)

    return wrapper


def _arrays(*values):
    return [np.asarray(v, dtype=float) for v in values]


def _result(x):
    x = np.asarray(x, dtype=float)
    return float(x) if x.ndim == 0 else x


def _require(condition, message):
    if not np.all(condition):
        raise ValueError(message)


def _check_lif(C_m, tau_m, V_th, V_reset, t_ref):
    _require(C_m > 0, "C_m must be positive (pF)")
    _require(tau_m > 0, "tau_m must be positive (ms)")
    _require(t_ref >= 0, "t_ref must be non-negative (ms)")
    _require(V_reset < V_th, "V_reset must lie below V_th")


def _lif_rate_per_ms(V_inf, tau, V_th, V_reset, t_ref):
    """Rate (1/ms) of a LIF relaxing towards V_inf with time constant tau."""
    V_inf, tau, V_th, V_reset, t_ref = np.broadcast_arrays(*_arrays(V_inf, tau, V_th, V_reset, t_ref))
    rate = np.zeros(V_inf.shape)
    fires = V_inf > V_th
    # tau * ln((V_inf - V_reset)/(V_inf - V_th)) written with log1p for large V_inf.
    T = tau[fires] * np.log1p((V_th[fires] - V_reset[fires]) / (V_inf[fires] - V_th[fires]))
    with np.errstate(divide="ignore"):
        rate[fires] = 1.0 / (t_ref[fires] + T)
    return rate


# ----------------------------------------------------------------------------------------
# Leaky integrate-and-fire, deterministic
# ----------------------------------------------------------------------------------------


@_accepts_quantities
def lif_rheobase(*, C_m, tau_m, E_L, V_th):
    """Rheobase current (pA) of the LIF: the current at which E_L + R I = V_th.

    C_m in pF, tau_m in ms, E_L and V_th in mV. Negative if E_L > V_th.
    """
    C_m, tau_m, E_L, V_th = _arrays(C_m, tau_m, E_L, V_th)
    _require(C_m > 0, "C_m must be positive (pF)")
    _require(tau_m > 0, "tau_m must be positive (ms)")
    return _result(C_m / tau_m * (V_th - E_L))


@_accepts_quantities
def lif_rate(I, *, C_m, tau_m, E_L, V_th, V_reset, t_ref):
    """Firing rate (Hz) of the LIF with absolute refractory period for constant current.

    ``r = 1 / (t_ref + tau_m ln((R I + E_L - V_reset) / (R I + E_L - V_th)))`` for
    ``R I + E_L > V_th`` and exactly 0 otherwise; ``R = tau_m / C_m``.
    I in pA, C_m in pF, tau_m and t_ref in ms, E_L, V_th, V_reset in mV (V_reset < V_th;
    it may lie above E_L).
    """
    I, C_m, tau_m, E_L, V_th, V_reset, t_ref = _arrays(I, C_m, tau_m, E_L, V_th, V_reset, t_ref)
    _check_lif(C_m, tau_m, V_th, V_reset, t_ref)
    V_inf = E_L + tau_m / C_m * I
    return _result(1e3 * _lif_rate_per_ms(V_inf, tau_m, V_th, V_reset, t_ref))


def _lif_rate_with_conductance_per_ms(I, g_extra, E_extra, C_m, tau_m, E_L, V_th, V_reset, t_ref):
    g_L = C_m / tau_m
    g_tot = g_L + g_extra
    V_inf = (g_L * E_L + g_extra * E_extra + I) / g_tot
    return _lif_rate_per_ms(V_inf, C_m / g_tot, V_th, V_reset, t_ref)


@_accepts_quantities
def lif_rate_with_conductance(I, *, C_m, tau_m, E_L, V_th, V_reset, t_ref, g_extra, E_extra):
    """Rate (Hz) of the LIF with an extra constant conductance g_extra (nS), reversal E_extra (mV).

    ``C_m dV/dt = -g_L (V - E_L) - g_extra (V - E_extra) + I``: a LIF with conductance
    ``g_L + g_extra``, time constant ``C_m / (g_L + g_extra)`` and resting potential
    ``(g_L E_L + g_extra E_extra) / (g_L + g_extra)``. Other units as in :func:`lif_rate`.
    """
    I, g_extra, E_extra, C_m, tau_m, E_L, V_th, V_reset, t_ref = _arrays(
        I, g_extra, E_extra, C_m, tau_m, E_L, V_th, V_reset, t_ref)
    _check_lif(C_m, tau_m, V_th, V_reset, t_ref)
    _require(g_extra >= 0, "g_extra must be non-negative (nS)")
    rate = _lif_rate_with_conductance_per_ms(I, g_extra, E_extra, C_m, tau_m, E_L, V_th, V_reset, t_ref)
    return _result(1e3 * rate)


@_accepts_quantities
def lif_current_for_rate(rate_hz, *, C_m, tau_m, E_L, V_th, V_reset, t_ref):
    """Constant current (pA) that makes the LIF fire at ``rate_hz`` (Hz): inverse of :func:`lif_rate`.

    ``I = g_L (V_th - E_L + (V_th - V_reset) / expm1((1/r - t_ref) / tau_m))``; a rate of 0
    gives the rheobase. Raises ValueError for negative rates and for rates at or above
    ``1/t_ref``. Units as in :func:`lif_rate`. Very low rates (interspike interval of tens of
    tau_m) need a current within rounding error of the rheobase, which is then returned.
    """
    rate_hz, C_m, tau_m, E_L, V_th, V_reset, t_ref = _arrays(rate_hz, C_m, tau_m, E_L, V_th, V_reset, t_ref)
    _check_lif(C_m, tau_m, V_th, V_reset, t_ref)
    _check_target_rate(rate_hz, t_ref)
    with np.errstate(divide="ignore", over="ignore"):
        T = 1e3 / rate_hz - t_ref  # ms spent integrating from reset to threshold
        V_inf = V_th + (V_th - V_reset) / np.expm1(T / tau_m)
    return _result(C_m / tau_m * (V_inf - E_L))


def _check_target_rate(rate_hz, t_ref):
    rate_hz, t_ref = np.broadcast_arrays(rate_hz, t_ref)
    if np.any(np.isnan(rate_hz)) or np.any(rate_hz < 0):
        raise ValueError(f"rate must be a non-negative number of Hz, got {rate_hz[~(rate_hz >= 0)][0]!r}")
    with np.errstate(divide="ignore"):
        max_rate = 1e3 / t_ref
    too_high = rate_hz >= max_rate
    if np.any(too_high):
        i = np.flatnonzero(too_high)[0]
        raise ValueError(
            f"rate {rate_hz.flat[i]:g} Hz is at or above the maximum rate "
            f"1/t_ref = {max_rate.flat[i]:g} Hz"
        )


@_accepts_quantities
def lif_time_to_threshold(I, *, C_m, tau_m, E_L, V_th, V0):
    """Time (ms) for the LIF starting at V0 (mV) to reach V_th under constant current I (pA).

    ``tau_m ln((V_inf - V0) / (V_inf - V_th))`` with ``V_inf = E_L + R I``; 0 if V0 >= V_th,
    ``inf`` if V_inf <= V_th (threshold never reached). C_m in pF, tau_m in ms, E_L, V_th in mV.
    """
    I, C_m, tau_m, E_L, V_th, V0 = np.broadcast_arrays(*_arrays(I, C_m, tau_m, E_L, V_th, V0))
    _require(C_m > 0, "C_m must be positive (pF)")
    _require(tau_m > 0, "tau_m must be positive (ms)")
    V_inf = E_L + tau_m / C_m * I
    T = np.full(I.shape, np.inf)
    T[V0 >= V_th] = 0.0
    reaches = (V0 < V_th) & (V_inf > V_th)
    T[reaches] = tau_m[reaches] * np.log1p((V_th - V0)[reaches] / (V_inf - V_th)[reaches])
    return _result(T)


@_accepts_quantities
def lif_step_response(t, I, *, C_m, tau_m, E_L, V0):
    """Subthreshold membrane potential (mV) at time t (ms) after a current step to I (pA) at t=0.

    ``V(t) = V0 + (E_L + R I - V0)(1 - exp(-t / tau_m))`` for t >= 0 and V0 for t < 0 (the
    membrane sits at V0 before the step). No threshold is applied. C_m in pF, tau_m in ms.
    """
    t, I, C_m, tau_m, E_L, V0 = _arrays(t, I, C_m, tau_m, E_L, V0)
    _require(C_m > 0, "C_m must be positive (pF)")
    _require(tau_m > 0, "tau_m must be positive (ms)")
    V_inf = E_L + tau_m / C_m * I
    rise = -np.expm1(-np.maximum(t, 0.0) / tau_m)
    return _result(V0 + (V_inf - V0) * rise)


@_accepts_quantities
def lif_impedance(f, *, C_m, tau_m):
    """Impedance magnitude |Z(f)| (GOhm = mV/pA) of the passive LIF membrane at frequency f (Hz).

    ``|Z| = R / sqrt(1 + (2 pi f tau_m)^2)`` with R = tau_m / C_m; C_m in pF, tau_m in ms.
    """
    f, C_m, tau_m = _arrays(f, C_m, tau_m)
    _require(C_m > 0, "C_m must be positive (pF)")
    _require(tau_m > 0, "tau_m must be positive (ms)")
    omega_tau = 2.0 * np.pi * f * tau_m * 1e-3
    return _result(tau_m / C_m / np.hypot(1.0, omega_tau))


# ----------------------------------------------------------------------------------------
# Other integrate-and-fire models, deterministic
# ----------------------------------------------------------------------------------------


@_accepts_quantities
def pif_rate(I, *, C_m, V_th, V_reset, t_ref):
    """Rate (Hz) of the perfect (non-leaky) integrate-and-fire neuron, ``C_m dV/dt = I``.

    ``r = 1 / (t_ref + C_m (V_th - V_reset) / I)`` for I > 0, else 0.
    I in pA, C_m in pF, V_th and V_reset in mV, t_ref in ms.
    """
    I, C_m, V_th, V_reset, t_ref = np.broadcast_arrays(*_arrays(I, C_m, V_th, V_reset, t_ref))
    _require(C_m > 0, "C_m must be positive (pF)")
    _require(t_ref >= 0, "t_ref must be non-negative (ms)")
    _require(V_reset < V_th, "V_reset must lie below V_th")
    rate = np.zeros(I.shape)
    on = I > 0
    with np.errstate(divide="ignore"):
        rate[on] = 1e3 / (t_ref[on] + C_m[on] * (V_th[on] - V_reset[on]) / I[on])
    return _result(rate)


@_accepts_quantities
def qif_rate(I, *, C_m, k, V_r, V_t, V_peak, V_reset, t_ref):
    """Rate (Hz) of the quadratic integrate-and-fire neuron with finite peak and reset.

    Izhikevich's parametrisation: ``C_m dV/dt = k (V - V_r)(V - V_t) + I``; when V reaches
    V_peak it is reset to V_reset and held there for t_ref. C_m in pF, k in nS/mV, V_r
    (resting), V_t (instantaneous threshold), V_peak, V_reset in mV, I in pA, t_ref in ms.

    The rate is nonzero exactly when dV/dt > 0 on all of [V_reset, V_peak], i.e. when no
    fixed point lies between reset and peak. Above the bifurcation current
    ``k (V_t - V_r)^2 / 4`` this always holds (arctan formula); below it the neuron is
    bistable and fires only if V_reset lies above the unstable fixed point (log formula);
    otherwise it settles at rest and the rate is 0.
    """
    I, C_m, k, V_r, V_t, V_peak, V_reset, t_ref = np.broadcast_arrays(
        *_arrays(I, C_m, k, V_r, V_t, V_peak, V_reset, t_ref))
    _require(C_m > 0, "C_m must be positive (pF)")
    _require(k > 0, "k must be positive (nS/mV)")
    _require(t_ref >= 0, "t_ref must be non-negative (ms)")
    _require(V_reset < V_peak, "V_reset must lie below V_peak")
    # With x = V - (V_r + V_t)/2: C_m dx/dt = k (x^2 + q), q in mV^2.
    centre = 0.5 * (V_r + V_t)
    q = I / k - (0.5 * (V_t - V_r)) ** 2
    xp, xr = V_peak - centre, V_reset - centre
    width = V_peak - V_reset
    x_slowest = np.clip(0.0, xr, xp)
    fires = x_slowest**2 + q > 0
    s = np.sqrt(np.abs(q))
    with np.errstate(divide="ignore", invalid="ignore"):
        # integral of dx / (x^2 + q) from xr to xp, in forms free of cancellation
        above = np.arctan2(s * width, q + xp * xr) / s
        below = np.log1p(2 * s * width / ((xp + s) * (xr - s))) / (2 * s)
        at = width / (xp * xr)
        integral = np.where(q > 0, above, np.where(q < 0, below, at))
        rate = np.where(fires, 1e3 / (t_ref + C_m / k * integral), 0.0)
    return _result(rate)


def _eif_rate_scalar(I, C_m, g_L, E_L, V_T, Delta_T, V_peak, V_reset, t_ref):
    def inverse_dVdt(V):  # ms/mV
        z = (V - V_T) / Delta_T
        linear = I - g_L * (V - E_L)
        if z <= 0:
            return C_m / (linear + g_L * Delta_T * math.exp(z))
        decay = math.exp(-z)  # avoids overflow of exp(z) for a large V_peak
        return C_m * decay / (linear * decay + g_L * Delta_T)

    # dV/dt is convex in V with its minimum at V_T: check the slowest point of the path.
    V_slowest = min(max(V_T, V_reset), V_peak)
    f_min = I - g_L * (V_slowest - E_L) + g_L * Delta_T * math.exp((V_slowest - V_T) / Delta_T)
    if not f_min > 0:
        return 0.0
    points = None
    if V_reset < V_T < V_peak:
        # Near rheobase the integrand has a peak of width ~ sqrt(2 Delta_T f_min / g_L) at V_T.
        w = math.sqrt(2 * Delta_T * f_min / g_L)
        points = [p for p in (V_T - 10 * w, V_T - w, V_T, V_T + w, V_T + 10 * w) if V_reset < p < V_peak]
    T, _ = quad(inverse_dVdt, V_reset, V_peak, points=points, epsabs=0.0, epsrel=1e-12, limit=500)
    return 1e3 / (t_ref + T)


@_accepts_quantities
def eif_rate(I, *, C_m, g_L, E_L, V_T, Delta_T, V_peak, V_reset, t_ref):
    """Rate (Hz) of the exponential integrate-and-fire neuron (AdEx with a = b = 0).

    ``C_m dV/dt = -g_L (V - E_L) + g_L Delta_T exp((V - V_T) / Delta_T) + I``, spike at
    V_peak, reset to V_reset, refractory t_ref. The interspike time is the quadrature
    ``T = integral of C_m dV / (C_m dV/dt)`` from V_reset to V_peak; the rate is 0 when a
    fixed point lies in [V_reset, V_peak]. NEST aeif naming: V_T is NEST's ``V_th``.
    I in pA, C_m in pF, g_L in nS, E_L, V_T, Delta_T (> 0), V_peak, V_reset in mV, t_ref in ms.
    """
    args = np.broadcast_arrays(*_arrays(I, C_m, g_L, E_L, V_T, Delta_T, V_peak, V_reset, t_ref))
    _, C_m, g_L, _, _, Delta_T, V_peak, V_reset, t_ref = args
    _require(C_m > 0, "C_m must be positive (pF)")
    _require(g_L > 0, "g_L must be positive (nS)")
    _require(Delta_T > 0, "Delta_T must be positive (mV)")
    _require(t_ref >= 0, "t_ref must be non-negative (ms)")
    _require(V_reset < V_peak, "V_reset must lie below V_peak")
    rate = np.vectorize(_eif_rate_scalar, otypes=[float])(*args)
    return _result(rate)


# ----------------------------------------------------------------------------------------
# Leaky integrate-and-fire driven by white (or weakly coloured) noise
# ----------------------------------------------------------------------------------------


def _quad(func, a, b):
    return quad(func, a, b, epsabs=0.0, epsrel=1e-12, limit=200)[0]


def _log_mfpt_integral(y_r, y_th):
    """``log`` of the integral of ``exp(u^2)(1 + erf u) = erfcx(-u)`` from y_r to y_th (y_r < y_th).

    Split at u = -1 and u = 0 so that every piece is evaluated without overflow:
    u < -1 by substituting u = -exp(x) (the integrand ~ 1/(sqrt(pi)|u|) then becomes smooth
    and bounded, which keeps the small-sigma limit accurate); -1 < u < 0 directly; u > 0 with
    exp(y_th^2) factored out, which is where strongly subthreshold rates come from.
    """
    negative = 0.0
    if y_r < -1.0:
        x_lo, x_hi = math.log(-min(y_th, -1.0)), math.log(-y_r)
        negative += _quad(lambda x: math.exp(x) * erfcx(math.exp(x)), x_lo, x_hi)
    lo, hi = max(y_r, -1.0), min(y_th, 0.0)
    if lo < hi:
        negative += _quad(lambda u: erfcx(-u), lo, hi)
    if y_th <= 0.0:
        return math.log(negative)
    # integral over 0 <= u <= b of exp(u^2)(1 + erf u) = exp(b^2) * J, with u = b - s
    b = y_th
    s_max = min(b - max(y_r, 0.0), 50.0 / b)  # beyond 50/b the integrand is below exp(-50)
    J = _quad(lambda s: math.exp(-s * (2 * b - s)) * (2.0 - erfc(b - s)), 0.0, s_max)
    return b * b + math.log(J + negative * math.exp(-b * b))


def _siegert_log_rate_per_ms(mu, sigma, tau_m, t_ref, theta, V_reset, tau_syn):
    """log of the Siegert rate in 1/ms (finite even where the rate underflows)."""
    if sigma > 0:
        shift = 0.5 * FOURCAUD_BRUNEL_ALPHA * math.sqrt(tau_syn / tau_m)
        y_th = (theta - mu) / sigma + shift
        y_r = (V_reset - mu) / sigma + shift
        if math.isfinite(y_th) and math.isfinite(y_r):
            # log of the mean time (ms) from reset to threshold
            L = math.log(tau_m * _SQRT_PI) + _log_mfpt_integral(y_r, y_th)
            # rate = 1 / (t_ref + exp(L)), written to avoid overflow of exp(L)
            return -L - math.log1p(t_ref * math.exp(-L)) if L > 0 else -math.log(t_ref + math.exp(L))
    # sigma == 0 (or so small that the bounds overflow): deterministic LIF
    rate = _lif_rate_per_ms(mu, tau_m, theta, V_reset, t_ref)
    with np.errstate(divide="ignore"):
        return float(np.log(rate))


def _check_siegert(sigma, tau_m, t_ref, theta, V_reset, tau_syn):
    _require(sigma >= 0, "sigma must be non-negative (mV)")
    _require(tau_m > 0, "tau_m must be positive (ms)")
    _require(t_ref >= 0, "t_ref must be non-negative (ms)")
    _require(tau_syn >= 0, "tau_syn must be non-negative (ms)")
    _require(V_reset < theta, "V_reset must lie below theta")


@_accepts_quantities
def siegert_rate(mu, sigma, *, tau_m, t_ref, theta, V_reset, tau_syn=0.0):
    """Stationary rate (Hz) of the LIF driven by Gaussian white noise (Siegert formula).

    Model (Brunel 2000): ``tau_m dV = (mu - V) dt + sigma sqrt(tau_m) dW`` with threshold
    theta, reset V_reset and refractory period t_ref:
    ``1/r = t_ref + tau_m sqrt(pi) * integral of exp(u^2)(1 + erf u) du``
    from ``(V_reset - mu)/sigma`` to ``(theta - mu)/sigma``.

    mu, theta, V_reset in mV relative to E_L (mu = R I for a constant current), sigma in mV
    (the stationary free-membrane s.d. is sigma/sqrt(2)), tau_m, t_ref, tau_syn in ms.
    tau_syn > 0 applies the Fourcaud & Brunel (2002) correction for exponentially filtered
    noise, valid for tau_syn << tau_m: both bounds are raised by
    ``sigma * alpha/2 * sqrt(tau_syn/tau_m)``, alpha = sqrt(2)|zeta(1/2)|.
    sigma = 0 gives the deterministic LIF rate. Strongly subthreshold rates are computed in
    log space (tiny but positive until they underflow double precision). Broadcasts over
    all arguments.
    """
    args = np.broadcast_arrays(*_arrays(mu, sigma, tau_m, t_ref, theta, V_reset, tau_syn))
    _check_siegert(*args[1:])
    log_rate = np.vectorize(_siegert_log_rate_per_ms, otypes=[float])(*args)
    return _result(1e3 * np.exp(log_rate))


def _siegert_mu_scalar(rate_hz, sigma, tau_m, t_ref, theta, V_reset, tau_syn):
    T = 1e3 / rate_hz - t_ref if rate_hz > 0 else math.inf
    mu_deterministic = theta + (theta - V_reset) / math.expm1(T / tau_m) if T < 700 * tau_m else theta
    if sigma == 0:
        return mu_deterministic
    if rate_hz == 0:
        raise ValueError("with sigma > 0 the rate is positive for every mu; a rate of 0 has no finite mu")
    target = math.log(rate_hz * 1e-3)

    def excess(mu):
        return _siegert_log_rate_per_ms(mu, sigma, tau_m, t_ref, theta, V_reset, tau_syn) - target

    lo = hi = mu_deterministic
    step = sigma
    for _ in range(200):
        if excess(lo) <= 0:
            break
        lo -= step
        step *= 2
    else:
        raise ValueError(f"could not bracket mu for rate {rate_hz:g} Hz")
    step = sigma
    for _ in range(200):
        if excess(hi) >= 0:
            break
        hi += step
        step *= 2
    else:
        raise ValueError(f"could not bracket mu for rate {rate_hz:g} Hz")
    if lo == hi:
        return lo
    return brentq(excess, lo, hi, xtol=1e-12, rtol=1e-14, maxiter=500)


@_accepts_quantities
def siegert_mu_for_rate(rate, sigma, *, tau_m, t_ref, theta, V_reset, tau_syn=0.0):
    """Mean input mu (mV, relative to E_L) at which :func:`siegert_rate` equals ``rate`` (Hz).

    Solved by bracketing and Brent's method on the log rate. Raises ValueError for negative
    rates, rates at or above 1/t_ref, and a rate of 0 with sigma > 0 (unreachable). With
    sigma = 0 it is the closed-form deterministic inverse (rate 0 gives mu = theta).
    Other arguments and units as in :func:`siegert_rate`.
    """
    args = np.broadcast_arrays(*_arrays(rate, sigma, tau_m, t_ref, theta, V_reset, tau_syn))
    _check_siegert(*args[1:])
    _check_target_rate(args[0], args[3])
    return _result(np.vectorize(_siegert_mu_scalar, otypes=[float])(*args))


# ----------------------------------------------------------------------------------------
# LIF with spike-triggered adaptation, and with a light-gated conductance
# ----------------------------------------------------------------------------------------


def _adaptive_lif_rate_scalar(I, C_m, tau_m, E_L, V_th, V_reset, t_ref, g_a, E_K, tau_a, b):
    def rate_given(r):  # 1/ms, for a mean adaptation variable b tau_a r
        g = g_a * b * tau_a * r
        return float(_lif_rate_with_conductance_per_ms(I, g, E_K, C_m, tau_m, E_L, V_th, V_reset, t_ref))

    r0 = rate_given(0.0)
    if r0 == 0.0 or g_a * b * tau_a == 0.0:
        return 1e3 * r0
    # rate_given decreases with r (E_K <= V_reset), so r - rate_given(r) has one root in [0, r0].
    return 1e3 * brentq(lambda r: r - rate_given(r), 0.0, r0, xtol=1e-15, rtol=1e-14, maxiter=500)


@_accepts_quantities
def adaptive_lif_rate(I, *, C_m, tau_m, E_L, V_th, V_reset, t_ref, g_a, E_K, tau_a, b):
    """Approximate steady-state rate (Hz) of the LIF with spike-triggered adaptation conductance.

    ``C_m dV/dt = -g_L (V - E_L) - g_a a (V - E_K) + I``, ``tau_a da/dt = -a``, ``a += b``
    at each spike (a and b dimensionless, g_a in nS per unit a, E_K in mV <= V_reset,
    tau_a in ms). APPROXIMATION (slow adaptation, tau_a >> interspike interval, small b):
    a is replaced by its mean ``b tau_a r``, so the neuron is a LIF with the extra conductance
    ``g_a b tau_a r`` (see :func:`lif_rate_with_conductance`); the self-consistent r is found
    with Brent's method. Other arguments and units as in :func:`lif_rate`.
    """
    args = np.broadcast_arrays(*_arrays(I, C_m, tau_m, E_L, V_th, V_reset, t_ref, g_a, E_K, tau_a, b))
    _, C_m, tau_m, _, V_th, V_reset, t_ref, g_a, E_K, tau_a, b = args
    _check_lif(C_m, tau_m, V_th, V_reset, t_ref)
    _require(g_a >= 0, "g_a must be non-negative (nS)")
    _require(b >= 0, "b must be non-negative")
    _require(tau_a >= 0, "tau_a must be non-negative (ms)")
    _require(E_K <= V_reset, "E_K must not lie above V_reset (adaptation must slow the neuron down)")
    return _result(np.vectorize(_adaptive_lif_rate_scalar, otypes=[float])(*args))


@_accepts_quantities
def three_state_opsin_steady_state(phi, *, k_a, tau_d, tau_r, all_states=False):
    """Steady-state open fraction of the three-state opsin model (Nikolic et al. 2009).

    Closed -> Open at rate ``k_a * phi``, Open -> Desensitised at ``1/tau_d``,
    Desensitised -> Closed at ``1/tau_r`` (light-independent recovery). With k = k_a phi:
    ``O = k tau_d / (1 + k tau_d + k tau_r)``, ``C = 1 / (1 + k tau_d + k tau_r)``,
    ``D = k tau_r / (1 + k tau_d + k tau_r)``.
    phi in mW/mm^2, k_a in 1/(ms mW/mm^2), tau_d and tau_r in ms. Returns O (dimensionless),
    or the tuple (C, O, D) if all_states is true.
    """
    phi, k_a, tau_d, tau_r = _arrays(phi, k_a, tau_d, tau_r)
    _require(phi >= 0, "phi must be non-negative (mW/mm^2)")
    _require(k_a >= 0, "k_a must be non-negative (1/(ms mW/mm^2))")
    _require(tau_d > 0, "tau_d must be positive (ms)")
    _require(tau_r >= 0, "tau_r must be non-negative (ms)")
    k = k_a * phi
    norm = 1.0 + k * tau_d + k * tau_r
    open_ = k * tau_d / norm
    if all_states:
        return _result(1.0 / norm), _result(open_), _result(k * tau_r / norm)
    return _result(open_)


def three_state_opsin_fractions(phi, t, *, k_a, tau_d, tau_r, start=(0.0, 0.0)):
    """Open and desensitised fractions (O, D) of the three-state opsin ``t`` ms after the light
    became ``phi`` (constant), from ``start`` = (O, D) at that moment.

    Given the light the scheme is linear: ``d(O, D)/dt = A (O, D) + b`` with
    ``A = [[-k - 1/tau_d, -k], [1/tau_d, -1/tau_r]]``, ``b = (k, 0)``, k = k_a phi (C = 1 - O - D
    eliminated), so ``(O, D)(t) = s + expm(A t) (start - s)`` with s the steady state
    (:func:`three_state_opsin_steady_state`). Units as there; ``t`` in ms (scalar)."""
    from scipy.linalg import expm

    _require(np.all(np.asarray(phi) >= 0), "phi must be non-negative (mW/mm^2)")
    _require(tau_d > 0 and tau_r > 0, "tau_d and tau_r must be positive (ms)")
    _require(t >= 0, "t must be non-negative (ms)")
    k = float(k_a) * float(phi)
    A = np.array([[-k - 1.0 / tau_d, -k], [1.0 / tau_d, -1.0 / tau_r]])
    steady = np.linalg.solve(A, -np.array([k, 0.0]))
    open_, desensitised = steady + expm(A * float(t)) @ (np.asarray(start, dtype=float) - steady)
    return float(open_), float(desensitised)


@_accepts_quantities
def optogenetic_lif_plateau_rate(I, light, *, C_m, tau_m, E_L, V_th, V_reset, t_ref,
                                 g_ChR, E_ChR, k_a, tau_d, tau_r):
    """Rate (Hz) of a LIF with a channelrhodopsin conductance once the opsin is at its plateau.

    ``C_m dV/dt = -g_L (V - E_L) - g_ChR O (V - E_ChR) + I`` with O the steady-state open
    fraction of :func:`three_state_opsin_steady_state` at intensity ``light`` (mW/mm^2).
    Opsin kinetics do not depend on V, so at the plateau this is
    :func:`lif_rate_with_conductance` with ``g_extra = g_ChR O``. g_ChR in nS (fully open),
    E_ChR in mV, k_a in 1/(ms mW/mm^2), tau_d and tau_r in ms; the rest as in :func:`lif_rate`.
    """
    open_fraction = three_state_opsin_steady_state(light, k_a=k_a, tau_d=tau_d, tau_r=tau_r)
    _require(np.asarray(g_ChR) >= 0, "g_ChR must be non-negative (nS)")
    return lif_rate_with_conductance(
        I, C_m=C_m, tau_m=tau_m, E_L=E_L, V_th=V_th, V_reset=V_reset, t_ref=t_ref,
        g_extra=np.asarray(g_ChR, dtype=float) * open_fraction, E_extra=E_ChR,
    )


# ---------------------------------------------------------------------------- single input spike
#: Bundled synapse kinetics (models/synapses/) -> (the state variable that carries the
#: current or conductance, its time course after one spike). Both time courses are
#: NEST's normalisation: the weight is the peak.
KINETICS_RESPONSES = {"psc_exp": ("I_syn", "exp"), "cond_exp": ("g", "exp"),
                      "psc_alpha": ("I_syn", "alpha"), "cond_alpha": ("g", "alpha")}


def synaptic_response(s, weight, tau_syn, shape):
    """The current or conductance ``s`` (ms, array) after one spike of ``weight`` at s = 0.

    ``shape="exp"``: w exp(-s/tau); ``"alpha"``: w (s/tau) exp(1 - s/tau) (peak w at
    s = tau). Zero before the spike. Unit: the weight's."""
    s = np.asarray(s, dtype=float)
    x = np.maximum(s, 0.0) / tau_syn
    if shape == "exp":
        out = weight * np.exp(-x)
    elif shape == "alpha":
        out = weight * x * np.exp(1.0 - x)
    else:
        raise ValueError(f"unknown synaptic time course {shape!r}; 'exp' or 'alpha'")
    return np.where(s >= 0, out, 0.0)


def synaptic_peak(weight, tau_syn, shape):
    """(peak value, time of the peak in ms) of :func:`synaptic_response`."""
    return float(weight), (0.0 if shape == "exp" else float(tau_syn))


def synaptic_integral(weight, tau_syn, shape, until_ms=np.inf):
    """The integral of :func:`synaptic_response` from 0 to ``until_ms`` (weight x ms):
    w tau (1 - exp(-T/tau)) for ``exp``, w e tau (1 - (1 + T/tau) exp(-T/tau)) for ``alpha``."""
    x = until_ms / tau_syn
    tail = math.exp(-x) if math.isfinite(x) else 0.0
    if shape == "exp":
        return float(weight * tau_syn * (1.0 - tail))
    if shape == "alpha":
        return float(weight * math.e * tau_syn * (1.0 - (1.0 + (x if math.isfinite(x) else 0.0)) * tail))
    raise ValueError(f"unknown synaptic time course {shape!r}; 'exp' or 'alpha'")


def lif_psp(s, weight, *, C_m, tau_m, shape, tau_syn=None):
    """The LIF's membrane deflection (mV) ``s`` ms after one input spike, from rest.

    ``shape``: ``"delta"`` (weight in mV: w exp(-s/tau_m)), ``"exp"`` or ``"alpha"``
    (weight in pA, the current of :func:`synaptic_response`; C_m in pF, times in ms):

    * exp:   w tau_s tau_m / (C_m (tau_m - tau_s)) (exp(-s/tau_m) - exp(-s/tau_s))
    * alpha: (e w / (C_m tau_s)) exp(-s/tau_m) (1 - (1 + k s) exp(-k s)) / k**2,
      k = 1/tau_s - 1/tau_m

    (the convolution of the current with the membrane's kernel exp(-s/tau_m)/C_m;
    tau_s = tau_m is the limit, not handled)."""
    s = np.maximum(np.asarray(s, dtype=float), 0.0)
    if shape == "delta":
        out = weight * np.exp(-s / tau_m)
    elif shape == "exp":
        _require(tau_syn != tau_m, "lif_psp: tau_syn = tau_m is the degenerate case; not handled")
        out = weight * tau_syn * tau_m / (C_m * (tau_m - tau_syn)) * (np.exp(-s / tau_m) - np.exp(-s / tau_syn))
    elif shape == "alpha":
        k = 1.0 / tau_syn - 1.0 / tau_m
        _require(k != 0, "lif_psp: tau_syn = tau_m is the degenerate case; not handled")
        out = (math.e * weight / (C_m * tau_syn)) * np.exp(-s / tau_m) * (1.0 - (1.0 + k * s) * np.exp(-k * s)) / k**2
    else:
        raise ValueError(f"unknown shape {shape!r}; 'delta', 'exp' or 'alpha'")
    return out
