"""Reference integrator against closed-form solutions and independent integrations.

Every expected value here is derived in the test from the ODE's solution (or from an
integration of equations typed into the test), never taken from a run of the
reference integrator itself.
"""

import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.linalg import expm

import lifbridge
from lifbridge.errors import LifbridgeError, ParameterError
from lifbridge.reference import reference_fi, reference_simulate, simulate, time_to_first_spike
from lifbridge.spec import build_model
from lifbridge.stimulus import Stimulus

# models/lif.toml defaults (NEST iaf_psc_exp)
C, TAU, E_L, V_TH, V_RESET, T_REF = 250.0, 10.0, -70.0, -55.0, -70.0, 2.0


def bundled(name):
    if name not in lifbridge.bundled_models():
        pytest.skip(f"models/{name}.toml is not there")
    return lifbridge.load(name)


def lif_text():
    # the whole model file of lif as it was before composition (synapses typed in)
    return (Path(__file__).resolve().parent / "data" / "legacy_models" / "lif.toml").read_text()


def from_text(text):
    return build_model(tomllib.loads(text), "<test>")


def lif_closed_form_spikes(I, duration, tau=TAU, c=C, v0=E_L):
    """Spike times of the LIF under constant current I, from V(t) = V_inf + (V(0) - V_inf) e^{-t/tau}.

    First crossing of V_th from V(0) = v0 at T0 = tau ln((V_inf - v0)/(V_inf - V_th)); after each
    spike V is held at V_reset for t_ref and then needs tau ln((V_inf - V_reset)/(V_inf - V_th)).
    """
    v_inf = E_L + I * tau / c
    first = tau * math.log((v_inf - v0) / (v_inf - V_TH))
    period = T_REF + tau * math.log((v_inf - V_RESET) / (v_inf - V_TH))
    count = int(math.floor((duration - first) / period)) + 1
    return first + period * np.arange(count)


# ---------------------------------------------------------------------------- LIF
def test_lif_spike_times_match_closed_form():
    currents = np.array([400.0, 500.0, 1000.0, 3000.0])
    result = reference_simulate(lifbridge.load("lif"), duration_ms=400.0, bias_pA=currents)
    assert result.backend == "reference" and result.dt_ms == 0.0
    worst = 0.0
    for I, spikes in zip(currents, result.spike_times_ms):
        expected = lif_closed_form_spikes(I, 400.0)
        assert len(spikes) == len(expected) > 5
        worst = max(worst, np.max(np.abs(spikes - expected) / expected))
    assert worst < 1e-8, worst


def test_lif_subthreshold_step_response():
    I = 300.0  # below the rheobase C (V_th - E_L)/tau = 375 pA
    times = np.linspace(0.0, 100.0, 401)
    expected = E_L + I * TAU / C * (1.0 - np.exp(-times / TAU))  # R = tau/C in GOhm, mV = GOhm pA
    # the global error is of order rtol |V|: ~1e-8 mV at the default rtol = 1e-10
    for rtol, bound in [(None, 1e-7), (1e-11, 1e-8)]:
        result = reference_simulate(lifbridge.load("lif"), duration_ms=100.0, bias_pA=I, record=["V_m"],
                                    record_times_ms=times, rtol=rtol)
        t, v, unit = result.traces["V_m"]
        assert unit == "mV" and v.shape == (1, len(times)) and np.array_equal(t, times)
        assert result.spike_times_ms[0].size == 0
        assert np.max(np.abs(v[0] - expected)) < bound


def test_lif_rate_matches_analytic_module():
    analytic = pytest.importorskip("lifbridge.analytic")
    lif_rate = getattr(analytic, "lif_rate", None)
    if lif_rate is None:
        pytest.skip("lifbridge.analytic has no lif_rate")
    currents = np.array([0.0, 300.0, 380.0, 500.0, 800.0, 2000.0])
    rates = reference_fi(lifbridge.load("lif"), currents, duration_ms=600.0)
    expected = np.array([lif_rate(I, C_m=C, tau_m=TAU, E_L=E_L, V_th=V_TH, V_reset=V_RESET, t_ref=T_REF)
                         for I in currents])
    assert np.all(rates[:2] == 0.0)
    np.testing.assert_allclose(rates, expected, rtol=1e-8, atol=0.0)
    last = reference_fi(lifbridge.load("lif"), currents, duration_ms=600.0, steady="last")
    np.testing.assert_allclose(last, expected, rtol=1e-8, atol=0.0)


def test_time_to_first_spike_closed_form():
    model = lifbridge.load("lif")
    t = time_to_first_spike(model, 500.0, duration_ms=200.0)
    v_inf = E_L + 500.0 * TAU / C
    assert abs(t - TAU * math.log((v_inf - E_L) / (v_inf - V_TH))) < 1e-7
    many = time_to_first_spike(model, [300.0, 1000.0], duration_ms=200.0)
    assert np.isnan(many[0])
    v_inf = E_L + 1000.0 * TAU / C
    assert abs(many[1] - TAU * math.log((v_inf - E_L) / (v_inf - V_TH))) < 1e-7


def test_per_neuron_parameter_arrays():
    taus = np.array([5.0, 10.0, 20.0])
    result = reference_simulate(lifbridge.load("lif"), duration_ms=200.0, bias_pA=1000.0, tau_m=taus)
    for tau, spikes in zip(taus, result.spike_times_ms):
        expected = lif_closed_form_spikes(1000.0, 200.0, tau=tau)
        np.testing.assert_allclose(spikes, expected, rtol=1e-8)
    with pytest.raises(ParameterError):
        reference_simulate(lifbridge.load("lif"), duration_ms=10.0, tau_m=[5.0, -1.0])
    with pytest.raises(ValueError):
        reference_simulate(lifbridge.load("lif"), duration_ms=10.0, bias_pA=[1.0, 2.0], tau_m=[5.0, 6.0, 7.0])


# ---------------------------------------------------------------------------- synapses, refractoriness
def test_exponential_synaptic_currents_double_exponential_solution():
    # tau_m dV/dt = -(V - E_L) + (I_e0 e^{-t/tau_e} - I_i0 e^{-t/tau_i}) tau_m/C. For u = V - E_L and an
    # input a e^{-t/s}: u = a tau_m s/(tau_m - s) (e^{-t/tau_m} - e^{-t/s}) with a = I0/C, u(0) = 0.
    exc0, inh0, tau_e, tau_i = 300.0, 100.0, 2.0, 5.0
    times = np.linspace(0.0, 60.0, 241)
    result = reference_simulate(lifbridge.load("lif"), duration_ms=60.0, tau_syn_inh=tau_i,
                                initial={"I_syn_exc": exc0, "I_syn_inh": inh0},
                                record=["V_m", "I_syn_exc", "I_syn_inh"], record_times_ms=times)

    def response(i0, s):
        return i0 / C * TAU * s / (TAU - s) * (np.exp(-times / TAU) - np.exp(-times / s))

    expected = E_L + response(exc0, tau_e) - response(inh0, tau_i)
    v = result.traces["V_m"][1][0]
    assert np.max(v) - E_L > 0.5  # a visible PSP, still subthreshold
    assert np.max(np.abs(v - expected)) < 1e-8
    np.testing.assert_allclose(result.traces["I_syn_exc"][1][0], exc0 * np.exp(-times / tau_e), rtol=1e-9,
                               atol=1e-8)
    np.testing.assert_allclose(result.traces["I_syn_inh"][1][0], inh0 * np.exp(-times / tau_i), rtol=1e-9,
                               atol=1e-8)


def test_refractory_clamp_holds_v_reset_while_synaptic_current_decays():
    model = lifbridge.load("lif")
    kw = dict(duration_ms=60.0, bias_pA=1500.0, initial={"I_syn_exc": 200.0})
    spikes = reference_simulate(model, **kw).spike_times_ms[0]
    assert len(spikes) >= 4
    offsets = np.array([0.0, 1e-9, 0.3, 1.0, 1.7, T_REF - 1e-7])
    times = np.sort(np.concatenate([s + offsets for s in spikes if s + T_REF < 60.0]))
    result = reference_simulate(model, record=["V_m", "I_syn_exc"], record_times_ms=times, **kw)
    np.testing.assert_array_equal(result.spike_times_ms[0], spikes)
    assert np.all(result.traces["V_m"][1][0] == V_RESET)  # exactly, not approximately
    np.testing.assert_allclose(result.traces["I_syn_exc"][1][0], 200.0 * np.exp(-times / 2.0), rtol=1e-8,
                               atol=1e-7)
    after = reference_simulate(model, record=["V_m"], record_times_ms=spikes[:2] + T_REF + 0.2, **kw)
    assert np.all(after.traces["V_m"][1][0] > V_RESET + 0.1)


def test_piecewise_current_step():
    step_at, I, duration = 50.0, 600.0, 150.0
    samples = np.where(np.arange(int(duration / 0.1)) * 0.1 < step_at - 1e-9, 0.0, I)
    expected = step_at + lif_closed_form_spikes(I, duration - step_at)
    model = lifbridge.load("lif")
    result = reference_simulate(model, duration_ms=duration, current=samples, signal_dt_ms=0.1)
    spikes = result.spike_times_ms[0]
    assert np.all(spikes > step_at)
    assert len(spikes) == len(expected)
    np.testing.assert_allclose(spikes, expected, rtol=1e-9)
    # the same step as a callable with its jump given as a breakpoint
    called = reference_simulate(model, duration_ms=duration, current=lambda t: I if t >= step_at else 0.0,
                                breakpoints_ms=[step_at])
    np.testing.assert_allclose(called.spike_times_ms[0], expected, rtol=1e-9)
    # samples that end early hold their last value
    short = reference_simulate(model, duration_ms=duration, current=samples[:int(step_at / 0.1) + 1])
    np.testing.assert_allclose(short.spike_times_ms[0], expected, rtol=1e-9)
    # the recorded input is the step
    rec = reference_simulate(model, duration_ms=duration, current=samples, record=["I_stim"],
                             record_times_ms=[0.0, step_at - 0.05, step_at, duration - 1.0])
    np.testing.assert_allclose(rec.traces["I_stim"][1][0], [0.0, 0.0, I, I])


def test_compound_and_negated_conditions_give_the_same_spikes():
    expected = lif_closed_form_spikes(800.0, 200.0)
    plain = 'condition = "V_m >= V_th"'
    for condition in ['condition = "not (V_m < V_th)"',
                      'condition = "V_m >= V_th and t >= 0.0*ms"',
                      'condition = "V_th <= V_m or V_m > V_th + 100.0*mV"']:
        text = lif_text()
        assert plain in text
        model = from_text(text.replace(plain, condition))
        spikes = reference_simulate(model, duration_ms=200.0, bias_pA=800.0).spike_times_ms[0]
        np.testing.assert_allclose(spikes, expected, rtol=1e-9)


def test_reset_that_leaves_the_condition_true_is_an_error():
    text = lif_text()
    assert 'reset = ["V_m = V_reset"]' in text
    model = from_text(text.replace('reset = ["V_m = V_reset"]', 'reset = ["V_m = V_m"]'))
    with pytest.raises(LifbridgeError, match="spike forever"):
        reference_simulate(model, duration_ms=100.0, bias_pA=1000.0, t_ref=0.0)


def test_runner_interface_with_stimulus():
    stim = Stimulus.constant([0.0, 500.0])
    result = simulate(lifbridge.load("lif"), stim, duration_ms=50.0, dt_ms=0.5, record=["V_m"], record_neurons=[1])
    assert result.spike_times_ms[0].size == 0
    np.testing.assert_allclose(result.spike_times_ms[1], lif_closed_form_spikes(500.0, 50.0), rtol=1e-9)
    t, v, _ = result.traces["V_m"]
    assert v.shape == (1, 100) and t[1] == 0.5


# ---------------------------------------------------------------------------- PIF
PIF_TEXT = """
[model]
name = "pif_test"
description = "perfect integrator"
reference = "test"
[parameters]
C_m = { value = 200.0, unit = "pF", above = 0.0 }
V_th = { value = -50.0, unit = "mV" }
V_reset = { value = -65.0, unit = "mV" }
t_ref = { value = 3.0, unit = "ms", min = 0.0 }
I_e = { value = 0.0, unit = "pA" }
[state]
V_m = { unit = "mV", initial = "V_reset" }
[equations]
V_m = "(I_e + I_stim)/C_m"
[spike]
condition = "V_m >= V_th"
reset = ["V_m = V_reset"]
[refractory]
period = "t_ref"
clamp = ["V_m"]
[inputs]
I_stim = { kind = "current", unit = "pA" }
"""


@pytest.mark.parametrize("source", ["inline", "bundled"])
def test_pif_isi(source):
    model = from_text(PIF_TEXT) if source == "inline" else bundled("pif")
    p = {name: model.parameters[name].value for name in ("C_m", "V_th", "V_reset", "t_ref")}
    currents = np.array([50.0, 150.0, 400.0])
    result = reference_simulate(model, duration_ms=300.0, bias_pA=currents)
    for I, spikes in zip(currents, result.spike_times_ms):
        climb = p["C_m"] * (p["V_th"] - p["V_reset"]) / I  # C dV/dt = I from V_reset (the initial V_m)
        expected = climb + (p["t_ref"] + climb) * np.arange(len(spikes))
        assert len(spikes) == int((300.0 - climb) // (p["t_ref"] + climb)) + 1
        np.testing.assert_allclose(spikes, expected, rtol=1e-10)


# ---------------------------------------------------------------------------- light input
def test_light_pulse_opsin_kinetics_match_matrix_exponential():
    model = bundled("optogenetic_lif")
    needed = {"k_a", "tau_d", "tau_r"}
    if not needed <= set(model.parameters) or not {"O", "D"} <= set(model.state) or model.light_input is None:
        pytest.skip("optogenetic_lif does not have the three-state opsin this test types in")
    k_a = model.parameters["k_a"].value  # 1/(ms mW/mm^2)
    tau_d, tau_r = model.parameters["tau_d"].value, model.parameters["tau_r"].value
    phi, on, off, duration = 5.0, 10.0, 40.0, 80.0
    samples = np.where((np.arange(800) * 0.1 >= on - 1e-9) & (np.arange(800) * 0.1 < off - 1e-9), phi, 0.0)
    times = np.linspace(0.0, duration, 161)
    result = reference_simulate(model, duration_ms=duration, light=samples, record=["O", "D"],
                                record_times_ms=times)

    # dO/dt = k_a phi (1 - O - D) - O/tau_d, dD/dt = O/tau_d - D/tau_r: x' = A x + c, piecewise in phi
    def propagate(x, phi_value, dt):
        A = np.array([[-k_a * phi_value - 1.0 / tau_d, -k_a * phi_value], [1.0 / tau_d, -1.0 / tau_r]])
        c = np.array([k_a * phi_value, 0.0])
        fixed = -np.linalg.solve(A, c)
        return fixed + expm(A * dt) @ (x - fixed)

    x_on = propagate(np.zeros(2), phi, off - on)
    expected = []
    for t in times:
        if t < on:
            expected.append(np.zeros(2))
        elif t < off:
            expected.append(propagate(np.zeros(2), phi, t - on))
        else:
            expected.append(propagate(x_on, 0.0, t - off))
    expected = np.array(expected).T
    assert expected[0].max() > 0.05
    np.testing.assert_allclose(result.traces["O"][1][0], expected[0], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(result.traces["D"][1][0], expected[1], rtol=1e-8, atol=1e-12)


# ---------------------------------------------------------------------------- nonlinear models
# Hodgkin-Huxley as in NEST hh_psc_alpha (Hodgkin & Huxley 1952 with V in mV, rates in 1/ms,
# C_m = 100 pF, conductances in nS), typed here for an independent integration.
HH = dict(C_m=100.0, g_Na=12000.0, g_K=3600.0, g_L=30.0, E_Na=50.0, E_K=-77.0, E_L=-54.402)


def hh_rhs(t, x, I):
    V, m, h, n = x
    alpha_n = 0.01 * (V + 55.0) / (1.0 - math.exp(-(V + 55.0) / 10.0))
    beta_n = 0.125 * math.exp(-(V + 65.0) / 80.0)
    alpha_m = 0.1 * (V + 40.0) / (1.0 - math.exp(-(V + 40.0) / 10.0))
    beta_m = 4.0 * math.exp(-(V + 65.0) / 18.0)
    alpha_h = 0.07 * math.exp(-(V + 65.0) / 20.0)
    beta_h = 1.0 / (1.0 + math.exp(-(V + 35.0) / 10.0))
    I_ion = (HH["g_Na"] * m ** 3 * h * (V - HH["E_Na"]) + HH["g_K"] * n ** 4 * (V - HH["E_K"])
             + HH["g_L"] * (V - HH["E_L"]))
    return [(I - I_ion) / HH["C_m"], alpha_m * (1 - m) - beta_m * m, alpha_h * (1 - h) - beta_h * h,
            alpha_n * (1 - n) - beta_n * n]


def test_hh_spike_times_agree_with_independent_lsoda():
    model = bundled("hh")
    for name, value in HH.items():
        if name not in model.parameters or model.parameters[name].value != value:
            pytest.skip(f"hh.toml differs from NEST hh_psc_alpha in {name}")
    I, duration = 1000.0, 100.0
    x0 = [model.initial_values_si()[k] / model.state[k].unit.scale for k in ("V_m", "m", "h", "n")]
    # spikes are detected at the peak of V_m above 0 mV (dV/dt turns negative there)
    peak = lambda t, x, I: hh_rhs(t, x, I)[0]
    peak.direction = -1.0
    sol = solve_ivp(hh_rhs, (0.0, duration), x0, method="LSODA", args=(I,), rtol=1e-11,
                    atol=[1e-9, 1e-12, 1e-12, 1e-12], events=peak, dense_output=True)
    expected = np.array([t for t, x in zip(sol.t_events[0], sol.y_events[0]) if x[0] >= 0.0])
    result = reference_simulate(model, duration_ms=duration, bias_pA=[0.0, I])
    assert result.spike_times_ms[0].size == 0
    spikes = result.spike_times_ms[1]
    assert len(spikes) == len(expected) >= 5
    assert np.max(np.abs(spikes - expected)) < 1e-3


def test_detection_only_model_without_reset():
    """No reset, no clamp: spikes are upward crossings, suppressed for t_ref after each one."""
    osc = """
[model]
name = "osc"
description = "harmonic oscillator, V_m = 10 mV sin(2 pi t/T)"
reference = "test"
[parameters]
T = { value = 10.0, unit = "ms", above = 0.0 }
t_ref = { value = 2.0, unit = "ms", min = 0.0 }
[state]
V_m = { unit = "mV", initial = 0.0 }
W = { unit = "mV", initial = 10.0 }
[equations]
V_m = "2.0*3.141592653589793*W/T"
W = "-2.0*3.141592653589793*V_m/T"
[spike]
condition = "V_m > 5.0*mV"
[refractory]
period = "t_ref"
clamp = []
"""
    model = from_text(osc)
    # sin(2 pi t/10) = 1/2 at t = 10/12 + 10 k ms (upward crossings of 5 mV)
    expected = 10.0 / 12.0 + 10.0 * np.arange(5)
    result = reference_simulate(model, duration_ms=50.0)
    np.testing.assert_allclose(result.spike_times_ms[0], expected, atol=1e-8)
    # a refractory period longer than the cycle suppresses every second crossing
    sparse = reference_simulate(model, duration_ms=50.0, t_ref=12.0)
    np.testing.assert_allclose(sparse.spike_times_ms[0], expected[::2], atol=1e-8)


def izhikevich_reference_spikes(I, a, b, c, d, v_peak, duration):
    """Izhikevich (2003) typed in: v' = 0.04 v^2 + 5 v + 140 - u + I, u' = a (b v - u); v >= v_peak: v = c, u += d."""
    def rhs(t, x):
        v, u = x
        return [0.04 * v * v + 5.0 * v + 140.0 - u + I, a * (b * v - u)]

    hit = lambda t, x: x[0] - v_peak
    hit.terminal, hit.direction = True, 1.0
    t, x, spikes = 0.0, [-65.0, b * -65.0], []
    while t < duration:
        sol = solve_ivp(rhs, (t, duration), x, method="DOP853", rtol=1e-12, atol=1e-12, events=hit)
        if sol.status != 1:
            break
        t = sol.t_events[0][0]
        spikes.append(t)
        x = [c, sol.y_events[0][0][1] + d]
    return np.array(spikes)


def test_izhikevich_against_typed_equations():
    model = bundled("izhikevich")
    names = ("a", "b", "c", "d", "V_th")
    if not set(names) <= set(model.parameters):
        pytest.skip("izhikevich.toml does not use the parameter names this test expects")
    p = {k: model.parameters[k].value for k in names}
    if model.parameters["I_e"].unit.name != "pA":
        pytest.skip("unexpected bias unit")
    expected = izhikevich_reference_spikes(10.0, p["a"], p["b"], p["c"], p["d"], p["V_th"], 200.0)
    result = reference_simulate(model, duration_ms=200.0, bias_pA=[0.0, 10.0])
    assert result.spike_times_ms[0].size == 0
    assert len(result.spike_times_ms[1]) == len(expected) >= 3
    np.testing.assert_allclose(result.spike_times_ms[1], expected, atol=1e-6)


EIF_TEXT = """
[model]
name = "eif_test"
description = "exponential integrate-and-fire"
reference = "test"
[parameters]
C_m = { value = 281.0, unit = "pF", above = 0.0 }
g_L = { value = 30.0, unit = "nS", above = 0.0 }
E_L = { value = -70.6, unit = "mV" }
V_T = { value = -50.4, unit = "mV" }
Delta_T = { value = 2.0, unit = "mV", above = 0.0 }
V_peak = { value = 0.0, unit = "mV" }
V_reset = { value = -60.0, unit = "mV" }
I_e = { value = 0.0, unit = "pA" }
[state]
V_m = { unit = "mV", initial = "E_L" }
[equations]
V_m = "(-g_L*(V_m - E_L) + g_L*Delta_T*exp((VCAP - V_T)/Delta_T) + I_e)/C_m"
[spike]
condition = "V_m >= V_peak"
reset = ["V_m = V_reset"]
"""


def test_kink_at_the_threshold_does_not_move_spikes():
    """exp((min(V, V_peak) - V_T)/Delta_T) has a kink at V_peak where the steps must fail the error test."""
    capped = reference_simulate(from_text(EIF_TEXT.replace("VCAP", "min(V_m, V_peak)")), duration_ms=100.0,
                                bias_pA=1000.0)
    smooth = reference_simulate(from_text(EIF_TEXT.replace("VCAP", "V_m")), duration_ms=100.0, bias_pA=1000.0)
    assert len(smooth.spike_times_ms[0]) >= 5
    np.testing.assert_allclose(capped.spike_times_ms[0], smooth.spike_times_ms[0], rtol=0, atol=1e-9)
    # the EIF from V_reset needs T = integral of C dV / (I - g_L (V - E_L) + g_L Delta_T e^{(V - V_T)/Delta_T})
    from scipy.integrate import quad
    f = lambda v: 281.0 / (1000.0 - 30.0 * (v + 70.6) + 30.0 * 2.0 * math.exp((v + 50.4) / 2.0))
    first = quad(f, -70.6, 0.0, epsabs=1e-13, epsrel=1e-13, limit=200)[0]
    period = quad(f, -60.0, 0.0, epsabs=1e-13, epsrel=1e-13, limit=200)[0]
    spikes = smooth.spike_times_ms[0]
    assert abs(spikes[0] - first) < 1e-7
    np.testing.assert_allclose(np.diff(spikes), period, atol=1e-7)


@pytest.mark.parametrize("name", ["adex", "izhikevich", "hh", "adaptive_lif", "lif_cond", "optogenetic_lif"])
def test_bundled_model_smoke(name):
    model = bundled(name)
    strong = float(model.hints.get("fi_current_range_pA", [0.0, 1000.0])[-1])
    if name == "izhikevich":
        strong = 15.0  # pA = mV/ms in this model
    result = reference_simulate(model, duration_ms=150.0, bias_pA=[0.0, strong])
    assert result.spike_times_ms[0].size == 0
    assert result.spike_times_ms[1].size >= 2
    assert np.all(np.diff(result.spike_times_ms[1]) > 0)
