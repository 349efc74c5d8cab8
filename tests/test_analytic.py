"""Tests of lifbridge.analytic against independent computations.

Every expected value is computed here by a different route than the implementation:
direct ODE integration (solve_ivp), quadrature of the original integrand, special-function
identities, linear algebra, or Monte-Carlo simulation.
"""

import ast
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import quad, solve_ivp
from scipy.optimize import brentq
from scipy.linalg import expm, null_space
from scipy.special import dawsn, erfcx

from lifbridge import analytic as an

# NEST iaf_psc_exp defaults (rheobase 375 pA).
LIF = dict(C_m=250.0, tau_m=10.0, E_L=-70.0, V_th=-55.0, V_reset=-70.0, t_ref=2.0)
# NEST aeif_cond_exp defaults for the EIF part (NEST's V_th is V_T here); t_ref = 0 as in NEST.
EIF = dict(C_m=281.0, g_L=30.0, E_L=-70.6, V_T=-50.4, Delta_T=2.0, V_peak=0.0, V_reset=-60.0, t_ref=0.0)
# Izhikevich regular-spiking QIF.
QIF = dict(C_m=100.0, k=0.7, V_r=-60.0, V_t=-40.0, V_peak=35.0, V_reset=-50.0, t_ref=0.0)
# The LIF above in the Siegert convention: voltages relative to E_L.
SIEGERT = dict(tau_m=10.0, t_ref=2.0, theta=15.0, V_reset=0.0)

ODE_TOL = dict(rtol=1e-11, atol=1e-12)


def first_passage_time(dVdt, V0, V_event, t_max=1e6, method="DOP853"):
    """Time (ms) for dV/dt = dVdt(V) to carry V from V0 up to V_event, by direct integration."""

    def hit(t, y):
        return y[0] - V_event

    hit.terminal, hit.direction = True, 1
    sol = solve_ivp(lambda t, y: [dVdt(y[0])], (0.0, t_max), [V0], events=hit, method=method, **ODE_TOL)
    assert sol.status == 1, "threshold never reached"
    return sol.t_events[0][0]


# ----------------------------------------------------------------------------------------
# Deterministic models against direct integration of their ODEs
# ----------------------------------------------------------------------------------------


def test_lif_rheobase_is_where_steady_state_reaches_threshold():
    rheobase = an.lif_rheobase(C_m=250.0, tau_m=10.0, E_L=-70.0, V_th=-55.0)
    R = LIF["tau_m"] / LIF["C_m"]
    assert LIF["E_L"] + R * rheobase == pytest.approx(LIF["V_th"], abs=1e-12)
    assert rheobase == pytest.approx(375.0)


@pytest.mark.parametrize("V_reset", [-70.0, -75.0, -60.0])  # at, below and above E_L
@pytest.mark.parametrize("I", [380.0, 500.0, 2000.0])
def test_lif_rate_matches_ode(I, V_reset):
    p = dict(LIF, V_reset=V_reset)
    V_inf = p["E_L"] + p["tau_m"] / p["C_m"] * I
    T = first_passage_time(lambda V: (V_inf - V) / p["tau_m"], V_reset, p["V_th"])
    assert an.lif_rate(I, **p) == pytest.approx(1e3 / (p["t_ref"] + T), rel=1e-7)


def test_lif_rate_is_zero_at_and_below_rheobase_and_vectorised():
    rates = an.lif_rate(np.array([-100.0, 0.0, 374.999, 375.0, 375.001]), **LIF)
    assert rates.shape == (5,)
    assert np.all(rates[:4] == 0.0) and rates[4] > 0.0
    assert isinstance(an.lif_rate(500.0, **LIF), float)
    # saturates at 1/t_ref
    assert an.lif_rate(1e9, **LIF) == pytest.approx(1e3 / LIF["t_ref"], rel=1e-4)


def test_lif_rejects_reset_at_or_above_threshold():
    with pytest.raises(ValueError, match="V_reset"):
        an.lif_rate(500.0, **dict(LIF, V_reset=-55.0))


@pytest.mark.parametrize("I", [10.0, 200.0, 5000.0])
def test_pif_rate_matches_ode(I):
    p = dict(C_m=250.0, V_th=-55.0, V_reset=-70.0, t_ref=2.0)
    T = first_passage_time(lambda V: I / p["C_m"], p["V_reset"], p["V_th"])
    assert an.pif_rate(I, **p) == pytest.approx(1e3 / (p["t_ref"] + T), rel=1e-8)
    assert np.all(an.pif_rate(np.array([-5.0, 0.0]), **p) == 0.0)


@pytest.mark.parametrize(
    "I, V_reset",
    [
        (100.0, -50.0),  # above the bifurcation current k (V_t - V_r)^2 / 4 = 70 pA
        (1000.0, -65.0),
        (70.0, -45.0),  # exactly at the bifurcation, reset above the saddle-node
        (60.0, -42.0),  # below it, bistable: reset above the unstable fixed point -> tonic firing
    ],
)
def test_qif_rate_matches_ode(I, V_reset):
    p = dict(QIF, V_reset=V_reset, t_ref=1.0)
    T = first_passage_time(
        lambda V: (p["k"] * (V - p["V_r"]) * (V - p["V_t"]) + I) / p["C_m"], V_reset, p["V_peak"])
    assert an.qif_rate(I, **p) == pytest.approx(1e3 / (p["t_ref"] + T), rel=1e-7)


def test_qif_rate_is_zero_when_a_fixed_point_blocks_the_path():
    # fixed points of 0.7 (V+60)(V+40) + 60 = 0 are -53.78 and -46.22 mV
    assert an.qif_rate(60.0, **dict(QIF, V_reset=-50.0)) == 0.0  # reset between them
    assert an.qif_rate(60.0, **dict(QIF, V_reset=-47.0)) == 0.0  # reset below the unstable one
    assert an.qif_rate(70.0, **dict(QIF, V_reset=-55.0)) == 0.0  # saddle-node at -50 mV on the path
    assert an.qif_rate(0.0, **QIF) == 0.0
    # continuous through the bifurcation when the reset is above the saddle-node
    rates = an.qif_rate(70.0 + np.array([-1e-9, 0.0, 1e-9]), **dict(QIF, V_reset=-45.0))
    assert np.ptp(rates) < 1e-8 * rates[1]


def eif_dVdt(I, p):
    def dVdt(V):
        spike_current = p["g_L"] * p["Delta_T"] * math.exp((V - p["V_T"]) / p["Delta_T"])
        return (-p["g_L"] * (V - p["E_L"]) + spike_current + I) / p["C_m"]

    return dVdt


@pytest.mark.parametrize(
    "I, V_reset, t_ref",
    [
        (547.0, -60.0, 0.0),  # just above rheobase g_L (V_T - E_L - Delta_T) = 546 pA
        (600.0, -60.0, 2.0),
        (1500.0, -60.0, 0.0),
        (500.0, -45.0, 0.0),  # below rheobase, reset above the upper (unstable) fixed point
    ],
)
def test_eif_rate_matches_ode(I, V_reset, t_ref):
    p = dict(EIF, V_reset=V_reset, t_ref=t_ref)
    T = first_passage_time(eif_dVdt(I, p), V_reset, p["V_peak"], method="LSODA")
    assert an.eif_rate(I, **p) == pytest.approx(1e3 / (t_ref + T), rel=1e-6)


def test_eif_rate_is_zero_with_a_stable_fixed_point():
    assert np.all(an.eif_rate(np.array([0.0, 500.0, 545.9]), **EIF) == 0.0)


def test_eif_rate_with_a_very_high_peak_does_not_overflow():
    # beyond V = 0 the exponential term takes ~1e-10 ms more, so the rate is unchanged
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rate = an.eif_rate(600.0, **dict(EIF, V_peak=2000.0))
    assert rate == pytest.approx(an.eif_rate(600.0, **EIF), rel=1e-8)


def test_time_to_threshold_matches_ode():
    p = dict(C_m=250.0, tau_m=10.0, E_L=-70.0, V_th=-55.0)
    for I, V0 in [(400.0, -70.0), (600.0, -80.0), (376.0, -56.0)]:
        V_inf = p["E_L"] + p["tau_m"] / p["C_m"] * I
        T = first_passage_time(lambda V: (V_inf - V) / p["tau_m"], V0, p["V_th"])
        assert an.lif_time_to_threshold(I, **p, V0=V0) == pytest.approx(T, rel=1e-8)
    assert an.lif_time_to_threshold(375.0, **p, V0=-70.0) == math.inf
    assert an.lif_time_to_threshold(0.0, **p, V0=-50.0) == 0.0


def test_step_response_matches_ode():
    p = dict(C_m=250.0, tau_m=10.0, E_L=-70.0, V0=-65.0)
    I = 300.0
    t = np.linspace(0.0, 60.0, 13)
    sol = solve_ivp(lambda _, y: [(-(y[0] - p["E_L"]) + p["tau_m"] / p["C_m"] * I) / p["tau_m"]],
                    (0.0, 60.0), [p["V0"]], t_eval=t, **ODE_TOL)
    np.testing.assert_allclose(an.lif_step_response(t, I, **p), sol.y[0], rtol=1e-9)
    assert an.lif_step_response(-1.0, I, **p) == p["V0"]


@pytest.mark.parametrize("f", [0.0, 1.0, 10.0, 100.0, 1000.0])
def test_impedance_matches_driven_ode(f):
    """Drive the passive membrane with a cosine current and measure the periodic response.

    The periodic orbit is found by shooting: by linearity V(P) = V_forced(P) + decay * V(0),
    with V_forced and decay (the homogeneous solution at P) both from direct integration."""
    C_m, tau_m = 250.0, 10.0
    amplitude = 10.0  # pA
    omega = 2 * np.pi * f * 1e-3  # rad/ms
    period = 1.0 / (f * 1e-3) if f > 0 else tau_m

    def membrane(t, y):
        return [(-y[0] * C_m / tau_m + amplitude * math.cos(omega * t)) / C_m]

    forced = solve_ivp(membrane, (0.0, period), [0.0], **ODE_TOL).y[0, -1]
    decay = solve_ivp(lambda t, y: [-y[0] / tau_m], (0.0, period), [1.0], **ODE_TOL).y[0, -1]
    V0 = forced / (1.0 - decay)
    if f == 0:
        response = abs(V0)
    else:
        sol = solve_ivp(membrane, (0.0, period), [V0], dense_output=True, **ODE_TOL)
        assert sol.y[0, -1] == pytest.approx(V0, rel=1e-8, abs=1e-10)  # periodic indeed
        t = period * np.arange(512) / 512  # one whole period, uniform samples
        response = abs(2 * np.mean(sol.sol(t)[0] * np.exp(-1j * omega * t)))
    assert an.lif_impedance(f, C_m=C_m, tau_m=tau_m) == pytest.approx(response / amplitude, rel=1e-7)


# ----------------------------------------------------------------------------------------
# Siegert formula
# ----------------------------------------------------------------------------------------


def siegert_rate_by_direct_quadrature(mu, sigma, tau_m, t_ref, theta, V_reset):
    """The textbook integrand exp(u^2)(1 + erf u), with 1 + erf u evaluated as erfc(-u) to keep its
    precision for negative u; safe while exp(u^2) does not overflow."""
    integral, _ = quad(lambda u: math.exp(u * u) * math.erfc(-u), (V_reset - mu) / sigma, (theta - mu) / sigma,
                       epsabs=0, epsrel=1e-12, limit=200)
    return 1e3 / (t_ref + tau_m * math.sqrt(math.pi) * integral)


@pytest.mark.parametrize("mu, sigma", [(10.0, 4.0), (14.0, 2.0), (15.0, 5.0), (18.0, 3.0), (25.0, 10.0),
                                       (8.0, 6.0)])
def test_siegert_matches_direct_quadrature(mu, sigma):
    expected = siegert_rate_by_direct_quadrature(mu, sigma, **SIEGERT)
    assert an.siegert_rate(mu, sigma, **SIEGERT) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("mu, sigma", [(-20.0, 3.0), (-60.0, 5.0), (-5.0, 1.0)])
def test_siegert_strongly_subthreshold_is_tiny_positive_and_accurate(mu, sigma):
    """Independent route for bounds 0 <= a < b: exp(u^2)(1 + erf u) = 2 exp(u^2) - erfcx(u) and
    the integral of exp(u^2) is exp(u^2) D(u) (Dawson's function), so
    integral = exp(b^2) [2 D(b) - 2 exp(a^2 - b^2) D(a) - exp(-b^2) * integral of erfcx]."""
    a, b = (SIEGERT["V_reset"] - mu) / sigma, (SIEGERT["theta"] - mu) / sigma
    erfcx_part, _ = quad(erfcx, a, b, epsabs=0, epsrel=1e-13)
    scaled = 2 * dawsn(b) - 2 * math.exp(a * a - b * b) * dawsn(a) - math.exp(-b * b) * erfcx_part
    log_integral = b * b + math.log(scaled)
    log_T = math.log(SIEGERT["tau_m"] * math.sqrt(math.pi)) + log_integral  # t_ref is negligible here
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rate = an.siegert_rate(mu, sigma, **SIEGERT)
    assert 0.0 < rate < 1e-20
    assert math.log(rate / 1e3) == pytest.approx(-log_T, rel=1e-10)


def test_siegert_extreme_inputs_give_no_warnings_or_nan():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mu = np.array([-1e4, -200.0, 1e4, 15.0, 14.999])
        sigma = np.array([1.0, 3.0, 1.0, 1e-12, 1e-9])
        rates = an.siegert_rate(mu, sigma, **SIEGERT)
    assert np.all(np.isfinite(rates)) and np.all(rates >= 0)
    assert rates[0] == 0.0  # exp(-1e8) underflows double precision
    assert rates[2] == pytest.approx(an.lif_rate(1e4 * 25.0, **LIF), rel=1e-6)


@pytest.mark.parametrize("I", [400.0, 500.0, 1000.0])
def test_siegert_small_noise_approaches_lif_rate(I):
    mu = LIF["tau_m"] / LIF["C_m"] * I  # mV above E_L
    expected = an.lif_rate(I, **LIF)
    assert an.siegert_rate(mu, 1e-7, **SIEGERT) == pytest.approx(expected, rel=1e-10)
    assert an.siegert_rate(mu, 0.0, **SIEGERT) == pytest.approx(expected, rel=1e-12)
    # the noise correction vanishes like sigma^2
    errors = [abs(an.siegert_rate(mu, s, **SIEGERT) / expected - 1) for s in (0.02, 0.01)]
    assert errors[1] == pytest.approx(errors[0] / 4, rel=0.1)
    assert an.siegert_rate(14.0, 0.1, **SIEGERT) < 1e-20  # subthreshold: deterministic rate is 0


def test_siegert_broadcasts_over_mu_and_sigma():
    mu, sigma = np.array([[5.0], [12.0], [20.0]]), np.array([1.0, 3.0, 6.0, 9.0])
    rates = an.siegert_rate(mu, sigma, **SIEGERT)
    assert rates.shape == (3, 4)
    for i in range(3):
        for j in range(4):
            assert rates[i, j] == an.siegert_rate(mu[i, 0], sigma[j], **SIEGERT)
    assert np.all(np.diff(rates, axis=0) > 0)  # increases with mu


def test_fourcaud_brunel_alpha_constant():
    mpmath = pytest.importorskip("mpmath")
    assert an.FOURCAUD_BRUNEL_ALPHA == pytest.approx(math.sqrt(2) * abs(float(mpmath.zeta(0.5))), rel=1e-15)


def white_noise_first_passage_times(mu, sigma, tau_m, theta, V_reset, n, dt, rng):
    """Times (ms) from reset to threshold of n independent noisy LIFs (no refractoriness).

    The Ornstein-Uhlenbeck process is advanced with its exact Gaussian transition (Euler-Maruyama
    with the exact propagator), so the only discretisation error is from watching the threshold
    at grid points, which would miss excursions between them and bias the time upwards by
    O(sqrt(dt)) (4-20 % at dt = 0.05 ms for the inputs tested). That bias is removed with the
    Brownian-bridge probability exp(-2 (theta - V_n)(theta - V_n+1) / s^2) of a crossing between
    grid points; runs with 40000 samples at dt = 0.01...0.2 ms showed no remaining bias above
    0.5 %. Crossing times are put mid-step.
    """
    decay = math.exp(-dt / tau_m)
    step_sd = sigma * math.sqrt((1 - decay**2) / 2)
    V = np.full(n, float(V_reset))
    t, times = 0.0, []
    while V.size:
        t += dt
        V_next = mu + (V - mu) * decay + step_sd * rng.standard_normal(V.size)
        crossed_between = rng.random(V.size) < np.exp(-2 * (theta - V) * (theta - V_next) / step_sd**2)
        crossed = (V_next >= theta) | crossed_between
        times.append(np.full(np.count_nonzero(crossed), t - dt / 2))
        V = V_next[~crossed]
    return np.concatenate(times)


@pytest.mark.parametrize("mu, sigma, n", [(14.0, 2.0, 20000), (18.0, 3.0, 20000), (10.0, 4.0, 8000)])
def test_siegert_matches_monte_carlo(mu, sigma, n):
    """Successive interspike intervals of the white-noise LIF are independent (renewal), so the
    mean interval is t_ref plus the mean first-passage time from reset, estimated from n samples
    with standard error s/sqrt(n) (about 0.3-0.6 %). Tolerance: 4 standard errors plus 0.5 % for
    the residual time discretisation (dt = 0.2 ms, see white_noise_first_passage_times)."""
    dt = 0.2
    rng = np.random.default_rng(20000 + int(mu))
    tau_m, theta, V_reset = SIEGERT["tau_m"], SIEGERT["theta"], SIEGERT["V_reset"]
    fpt = white_noise_first_passage_times(mu, sigma, tau_m, theta, V_reset, n, dt, rng)
    mean, standard_error = fpt.mean(), fpt.std(ddof=1) / math.sqrt(n)
    predicted = 1e3 / an.siegert_rate(mu, sigma, **SIEGERT) - SIEGERT["t_ref"]
    assert abs(mean - predicted) < 4 * standard_error + 0.005 * predicted


def coloured_noise_first_passage_times(mu, sigma, tau_m, tau_syn, theta, V_reset, n, dt, rng):
    """First-passage times (ms) of tau_m dV/dt = mu - V + sigma sqrt(tau_m) eta,
    tau_syn d eta/dt = -eta + white noise, started at V_reset with eta from its stationary law.

    (V, eta) is a linear SDE, advanced with its exact Gaussian transition (mean propagator and
    noise covariance from Van Loan's matrix exponential); V is differentiable, so watching the
    threshold at grid points (dt = tau_syn / 10) misses very few crossings."""
    drift = np.array([[-1 / tau_m, sigma / math.sqrt(tau_m)], [0.0, -1 / tau_syn]])
    diffusion = np.array([[0.0, 0.0], [0.0, 1 / tau_syn**2]])
    block = expm(np.block([[-drift, diffusion], [np.zeros((2, 2)), drift.T]]) * dt)
    propagator = block[2:, 2:].T
    covariance = propagator @ block[:2, 2:]
    noise = np.linalg.cholesky(0.5 * (covariance + covariance.T))
    x = np.vstack([np.full(n, V_reset - mu), rng.standard_normal(n) / math.sqrt(2 * tau_syn)])
    t, times = 0.0, []
    while x.shape[1]:
        t += dt
        x = propagator @ x + noise @ rng.standard_normal(x.shape)
        crossed = x[0] >= theta - mu
        times.append(np.full(np.count_nonzero(crossed), t - dt / 2))
        x = x[:, ~crossed]
    return np.concatenate(times)


@pytest.mark.parametrize("mu, sigma", [(14.0, 2.0), (18.0, 3.0)])
def test_fourcaud_brunel_correction_matches_monte_carlo(mu, sigma):
    """tau_syn / tau_m = 0.05. The synaptic current is not reset at a spike, but over
    t_ref = 4 tau_syn it keeps only exp(-4) ~ 2 % of its value at the spike, so intervals are
    nearly independent and the simulation draws it from its stationary law at release (a
    negligible approximation here). The first-order theory neglects O(tau_syn / tau_m) terms;
    tolerance: 4 standard errors (~0.5 % each) plus 2.5 %. The uncorrected white-noise formula
    is 10-20 % off for these inputs, far outside that tolerance."""
    tau_syn = 0.5
    rng = np.random.default_rng(30000 + int(mu))
    tau_m, theta, V_reset = SIEGERT["tau_m"], SIEGERT["theta"], SIEGERT["V_reset"]
    fpt = coloured_noise_first_passage_times(mu, sigma, tau_m, tau_syn, theta, V_reset, 10000, tau_syn / 10, rng)
    mean, standard_error = fpt.mean(), fpt.std(ddof=1) / math.sqrt(fpt.size)
    tolerance = 4 * standard_error + 0.025 * mean
    corrected = 1e3 / an.siegert_rate(mu, sigma, **SIEGERT, tau_syn=tau_syn) - SIEGERT["t_ref"]
    white = 1e3 / an.siegert_rate(mu, sigma, **SIEGERT) - SIEGERT["t_ref"]
    assert abs(mean - corrected) < tolerance
    assert abs(mean - white) > 2 * tolerance


# ----------------------------------------------------------------------------------------
# Inverse functions
# ----------------------------------------------------------------------------------------


def test_lif_current_for_rate_round_trips():
    currents = np.array([375.5, 400.0, 700.0, 3000.0, 1e5])
    np.testing.assert_allclose(an.lif_current_for_rate(an.lif_rate(currents, **LIF), **LIF), currents, rtol=1e-10)
    # (below a few Hz the required current equals the rheobase to double precision)
    rates = np.array([10.0, 50.0, 100.0, 499.0])
    np.testing.assert_allclose(an.lif_rate(an.lif_current_for_rate(rates, **LIF), **LIF), rates, rtol=1e-9)
    rheobase = an.lif_rheobase(C_m=250.0, tau_m=10.0, E_L=-70.0, V_th=-55.0)
    assert an.lif_current_for_rate(0.0, **LIF) == pytest.approx(rheobase)


@pytest.mark.parametrize(
    "bad_rate, message",
    [
        (500.0, "rate 500 Hz is at or above the maximum rate 1/t_ref = 500 Hz"),
        (800.0, "at or above"),
        (-1.0, "non-negative"),
    ],
)
def test_lif_current_for_rate_rejects_impossible_rates(bad_rate, message):
    with pytest.raises(ValueError, match=message):
        an.lif_current_for_rate(bad_rate, **LIF)
    with pytest.raises(ValueError, match=message):
        an.siegert_mu_for_rate(bad_rate, 3.0, **SIEGERT)


def test_siegert_mu_for_rate_round_trips():
    cases = [(0.5, [12.0, 14.0, 20.0, 100.0]), (3.0, [-30.0, 5.0, 14.0, 20.0]), (8.0, [-10.0, 15.0, 100.0])]
    for sigma, mus in cases:
        rates = an.siegert_rate(mus, sigma, **SIEGERT)
        assert np.all(rates > 0)
        np.testing.assert_allclose(an.siegert_mu_for_rate(rates, sigma, **SIEGERT), mus, rtol=1e-8, atol=1e-8)
    mu = an.siegert_mu_for_rate(20.0, 3.0, **SIEGERT, tau_syn=0.5)
    assert an.siegert_rate(mu, 3.0, **SIEGERT, tau_syn=0.5) == pytest.approx(20.0, rel=1e-10)
    # without noise it is the LIF inverse (mu = R I)
    R = LIF["tau_m"] / LIF["C_m"]
    expected = R * an.lif_current_for_rate(40.0, **LIF)
    assert an.siegert_mu_for_rate(40.0, 0.0, **SIEGERT) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="rate of 0"):
        an.siegert_mu_for_rate(0.0, 3.0, **SIEGERT)


# ----------------------------------------------------------------------------------------
# Adaptation and optogenetics
# ----------------------------------------------------------------------------------------


def spike_by_spike(rhs, state_after_reset, V_th, t_ref, refractory_rhs, max_spikes=5000):
    """Simulate a reset neuron spike by spike until the interval converges; return the last ISI (ms).

    rhs(t, y) is the full right-hand side with y[0] = V; refractory_rhs evolves y with V clamped.
    state_after_reset(y) gives the state right after a spike."""

    def hit(t, y):
        return y[0] - V_th

    hit.terminal, hit.direction = True, 1
    y = None
    intervals = []
    for _ in range(max_spikes):
        y = state_after_reset(y)
        if t_ref > 0:
            y = solve_ivp(refractory_rhs, (0.0, t_ref), y, **ODE_TOL).y[:, -1]
        sol = solve_ivp(rhs, (0.0, 1e5), y, events=hit, **ODE_TOL)
        intervals.append(t_ref + sol.t_events[0][0])
        y = sol.y_events[0][0]
        if len(intervals) > 3 and abs(intervals[-1] - intervals[-2]) < 1e-10 * intervals[-1]:
            return intervals[-1]
    raise AssertionError("interspike interval did not converge")


def test_adaptive_lif_mean_field_matches_long_simulation():
    """Slow adaptation: tau_a = 300 ms against an interval of ~13 ms (ISI / tau_a ~ 0.04). The
    mean field keeps the time-average of a exactly (b tau_a r) but ignores its sawtooth within an
    interval, of relative size ~ ISI / tau_a; the resulting rate error is a fraction of that, so
    2 % is an honest bound here (it grows to ~14 % at ISI / tau_a ~ 0.35).

    The reference is the periodic firing a long simulation settles into, found directly: the
    value a0 of a right after a spike for which the ODE, integrated to the next spike, returns a0."""
    I, g_a, E_K, tau_a, b = 800.0, 10.0, -80.0, 300.0, 0.05
    g_L = LIF["C_m"] / LIF["tau_m"]

    def rhs(t, y):
        V, a = y
        return [(-g_L * (V - LIF["E_L"]) - g_a * a * (V - E_K) + I) / LIF["C_m"], -a / tau_a]

    def hit(t, y):
        return y[0] - LIF["V_th"]

    hit.terminal, hit.direction = True, 1

    def one_interval(a0):  # (ISI, a just before the next spike) starting right after a spike
        a_released = solve_ivp(lambda t, y: [-y[0] / tau_a], (0.0, LIF["t_ref"]), [a0], **ODE_TOL).y[0, -1]
        sol = solve_ivp(rhs, (0.0, 1e5), [LIF["V_reset"], a_released], events=hit, **ODE_TOL)
        return LIF["t_ref"] + sol.t_events[0][0], sol.y_events[0][0][1]

    a_upper = b / -math.expm1(-LIF["t_ref"] / tau_a)  # above this, a must shrink over any interval
    a_periodic = brentq(lambda a0: one_interval(a0)[1] + b - a0, b, a_upper, xtol=1e-13)
    simulated = 1e3 / one_interval(a_periodic)[0]

    mean_field = an.adaptive_lif_rate(I, **LIF, g_a=g_a, E_K=E_K, tau_a=tau_a, b=b)
    assert mean_field == pytest.approx(simulated, rel=0.02)
    assert simulated < 0.75 * an.lif_rate(I, **LIF)  # adaptation matters at these values
    # no adaptation -> plain LIF
    assert an.adaptive_lif_rate(I, **LIF, g_a=0.0, E_K=E_K, tau_a=tau_a, b=b) == an.lif_rate(I, **LIF)


def opsin_generator(k, tau_d, tau_r):
    """d(C, O, D)/dt = Q (C, O, D) for C -> O (k), O -> D (1/tau_d), D -> C (1/tau_r)."""
    return np.array([[-k, 0.0, 1 / tau_r], [k, -1 / tau_d, 0.0], [0.0, 1 / tau_d, -1 / tau_r]])


@pytest.mark.parametrize("phi", [0.0, 0.1, 1.0, 10.0])
def test_opsin_steady_state_matches_linear_algebra_and_ode(phi):
    k_a, tau_d, tau_r = 0.1, 10.0, 200.0
    Q = opsin_generator(k_a * phi, tau_d, tau_r)
    states = an.three_state_opsin_steady_state(phi, k_a=k_a, tau_d=tau_d, tau_r=tau_r, all_states=True)
    if phi > 0:
        kernel = null_space(Q)[:, 0]
        np.testing.assert_allclose(states, kernel / kernel.sum(), rtol=1e-10, atol=1e-15)
    relaxed = expm(Q * 2e4) @ [1.0, 0.0, 0.0]  # the ODE's solution after 20 s, from darkness
    np.testing.assert_allclose(states, relaxed, rtol=1e-10, atol=1e-14)
    assert an.three_state_opsin_steady_state(phi, k_a=k_a, tau_d=tau_d, tau_r=tau_r) == states[1]


@pytest.mark.parametrize("phi,t,start", [(5.0, 3.0, (0.0, 0.0)), (1.0, 40.0, (0.2, 0.3)), (0.0, 25.0, (0.3, 0.1))])
def test_opsin_fractions_follow_the_three_state_ode(phi, t, start):
    """The closed form (eliminating C) against the full three-state generator's solution."""
    k_a, tau_d, tau_r = 0.01, 10.0, 100.0
    Q = opsin_generator(k_a * phi, tau_d, tau_r)
    full = expm(Q * t) @ [1.0 - sum(start), start[0], start[1]]
    got = an.three_state_opsin_fractions(phi, t, k_a=k_a, tau_d=tau_d, tau_r=tau_r, start=start)
    np.testing.assert_allclose(got, full[1:], rtol=1e-12, atol=1e-15)


def test_optogenetic_plateau_rate_matches_full_simulation():
    """V, C, O, D integrated together from darkness (all channels closed) until the interval is
    periodic; I = 300 pA alone is below rheobase, the light makes the neuron fire."""
    I, light = 300.0, 1.0
    opsin = dict(k_a=0.1, tau_d=10.0, tau_r=200.0)
    g_ChR, E_ChR = 100.0, 0.0
    g_L = LIF["C_m"] / LIF["tau_m"]
    Q = opsin_generator(opsin["k_a"] * light, opsin["tau_d"], opsin["tau_r"])

    def rhs(t, y):
        V, channels = y[0], y[1:]
        dV = (-g_L * (V - LIF["E_L"]) - g_ChR * channels[1] * (V - E_ChR) + I) / LIF["C_m"]
        return np.concatenate([[dV], Q @ channels])

    def refractory(t, y):
        return np.concatenate([[0.0], Q @ y[1:]])

    def after_spike(y):
        channels = [1.0, 0.0, 0.0] if y is None else y[1:]  # start in darkness: all closed
        return np.concatenate([[LIF["V_reset"]], channels])

    simulated = 1e3 / spike_by_spike(rhs, after_spike, LIF["V_th"], LIF["t_ref"], refractory)
    predicted = an.optogenetic_lif_plateau_rate(I, light, **LIF, g_ChR=g_ChR, E_ChR=E_ChR, **opsin)
    assert predicted == pytest.approx(simulated, rel=1e-6)
    assert an.lif_rate(I, **LIF) == 0.0
    assert an.optogenetic_lif_plateau_rate(I, 0.0, **LIF, g_ChR=g_ChR, E_ChR=E_ChR, **opsin) == 0.0


# ----------------------------------------------------------------------------------------
# Units and imports
# ----------------------------------------------------------------------------------------


def test_module_does_not_import_simulators():
    """Only the lazily imported unit conversion (inside a function) may touch brian2."""
    tree = ast.parse(Path(an.__file__).read_text())
    top_level = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top_level.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            top_level.add(node.module.split(".")[0])
    assert top_level <= {"functools", "inspect", "math", "numpy", "scipy"}


def test_brian2_quantities_are_converted():
    b2 = pytest.importorskip("brian2")
    params = dict(C_m=0.25 * b2.nF, tau_m=10 * b2.ms, E_L=-70 * b2.mV, V_th=-55 * b2.mV,
                  V_reset=-70 * b2.mV, t_ref=2 * b2.ms)
    assert an.lif_rate(0.5 * b2.nA, **params) == pytest.approx(an.lif_rate(500.0, **LIF), rel=1e-12)
    expected = an.lif_current_for_rate(40.0, **LIF)
    assert an.lif_current_for_rate(40 * b2.Hz, **params) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="tau_m"):
        an.lif_rate(500.0, **dict(params, tau_m=10 * b2.mV))


# ---------------------------------------------------------------------------- single input spike
@pytest.mark.parametrize("shape", ["exp", "alpha"])
@pytest.mark.parametrize("tau_syn", [0.2, 2.0, 25.0])
def test_lif_psp_is_the_membrane_driven_by_the_synaptic_current(shape, tau_syn):
    """C dV/dt = -C V/tau_m + I(t), I the closed-form current, integrated independently."""
    C, tau_m, w = 250.0, 10.0, 87.0
    t = np.linspace(0.0, 80.0, 401)
    sol = solve_ivp(lambda s, y: [-y[0] / tau_m + an.synaptic_response(s, w, tau_syn, shape) / C],
                    (0.0, 80.0), [0.0], t_eval=t, rtol=1e-12, atol=1e-15, max_step=0.01)
    psp = an.lif_psp(t, w, C_m=C, tau_m=tau_m, shape=shape, tau_syn=tau_syn)
    np.testing.assert_allclose(psp, sol.y[0], atol=1e-10 * np.max(np.abs(psp)))
    delta = an.lif_psp(t, 1.5, C_m=C, tau_m=tau_m, shape="delta")
    np.testing.assert_allclose(delta, 1.5 * np.exp(-t / tau_m), rtol=1e-15)


@pytest.mark.parametrize("shape", ["exp", "alpha"])
def test_synaptic_peak_and_integral_are_those_of_the_time_course(shape):
    w, tau = 3.5, 1.7
    peak, at = an.synaptic_peak(w, tau, shape)
    grid = np.linspace(0.0, 20 * tau, 200001)
    values = an.synaptic_response(grid, w, tau, shape)
    assert peak == pytest.approx(values.max(), rel=1e-9) and at == pytest.approx(grid[values.argmax()], abs=1e-3)
    for until in (0.5 * tau, 3 * tau, np.inf):
        expected = quad(lambda s: float(an.synaptic_response(s, w, tau, shape)), 0.0,
                        min(until, 60 * tau), epsabs=1e-13, epsrel=1e-13)[0]
        assert an.synaptic_integral(w, tau, shape, until) == pytest.approx(expected, rel=1e-10)
    assert an.synaptic_response(-1.0, w, tau, shape) == 0.0
