"""Brian2 backend: generated code runs in every Brian2 mode and matches LIF theory."""

import subprocess
import sys

import numpy as np
import pytest

import lifbridge
from lifbridge import brian2 as lb2
from lifbridge.errors import ParameterError
from lifbridge.runners import brian2 as runner
from lifbridge.stimulus import Stimulus

brian2 = pytest.importorskip("brian2")
pytestmark = pytest.mark.brian2

LIF_DEFAULTS = dict(C_m=250.0, tau_m=10.0, E_L=-70.0, V_th=-55.0, V_reset=-70.0, t_ref=2.0)


def lif_crossing_time(I, C_m, tau_m, E_L, V_th, V_reset, t_ref):
    """Time (ms) from reset to threshold, computed here from V(t) = V_inf + (V_reset - V_inf) e^{-t/tau}."""
    v_inf = E_L + I * tau_m / C_m
    return tau_m * np.log((v_inf - V_reset) / (v_inf - V_th))


@pytest.mark.parametrize("target", ["numpy", "cython", "cpp_standalone"])
def test_lif_fi_matches_closed_form_within_time_step_bound(target):
    dt = 0.1
    rheobase = (LIF_DEFAULTS["V_th"] - LIF_DEFAULTS["E_L"]) * LIF_DEFAULTS["C_m"] / LIF_DEFAULTS["tau_m"]  # 375 pA
    currents = np.linspace(0.0, 5.5 * rheobase, 37)
    assert not np.any(np.isclose(currents, rheobase))
    result = runner.simulate(lifbridge.load("lif"), Stimulus.constant(currents), duration_ms=1000.0, dt_ms=dt,
                             target=target)
    below = currents < rheobase
    assert all(len(result.spike_times_ms[i]) == 0 for i in np.flatnonzero(below))
    for i in np.flatnonzero(~below):
        isi_true = LIF_DEFAULTS["t_ref"] + lif_crossing_time(currents[i], **LIF_DEFAULTS)
        isis = np.diff(result.spike_times_ms[i])
        assert len(isis) > 5
        # A spike is found at the first grid point after the crossing, and the clamp is
        # released t_ref after that grid point (as in NEST), so every interval is the
        # closed-form one rounded up to the grid: ISI = ceil(isi_true/dt)*dt.
        assert np.allclose(isis, np.ceil(isi_true / dt - 1e-9) * dt, atol=1e-6), (currents[i], isis, isi_true)
        rate = 1000.0 / isis.mean()
        assert 1000.0 / (isi_true + dt) < rate <= 1000.0 / isi_true
        first = result.spike_times_ms[i][0]
        t_first = lif_crossing_time(currents[i], **{**LIF_DEFAULTS, "V_reset": LIF_DEFAULTS["E_L"]})
        assert t_first <= first + 1e-9 < t_first + dt + 1e-6


def test_neuron_group_per_neuron_bias_in_plain_script():
    brian2.start_scope()
    brian2.prefs.codegen.target = "numpy"
    group = lb2.neuron_group(lifbridge.load("lif"), 5)
    group.I_e = "1*nA*i/N"
    monitor = brian2.SpikeMonitor(group)
    brian2.run(200 * brian2.ms)
    counts = np.asarray(monitor.count)
    assert counts[0] == 0 and counts[1] == 0  # 0 and 200 pA are below the 375 pA rheobase
    assert np.all(np.diff(counts[2:]) > 0)


def test_neuron_group_overrides_scalar_and_per_neuron():
    brian2.start_scope()
    model = lifbridge.load("lif")
    group = lb2.neuron_group(model, 3, C_m="0.5nF", V_th=[-55.0, -50.0, -45.0], V_m="-60mV")
    assert np.allclose(np.asarray(group.V_th) * 1e3, [-55, -50, -45])
    assert np.allclose(np.asarray(group.V_m) * 1e3, -60.0)
    assert group.namespace["C_m"] == 500 * brian2.pF
    with pytest.raises(lifbridge.ParameterError):
        lb2.neuron_group(model, 2, tau_m=-1.0)
    with pytest.raises(lifbridge.ParameterError, match="no parameter or state variable 'tau'; did you mean tau_m"):
        lb2.neuron_group(model, 2, tau=3.0)


def test_generated_script_runs_in_a_plain_brian2_process(tmp_path):
    script = tmp_path / "lif_script.py"
    script.write_text(lb2.generate_script(lifbridge.load("lif")) + "\n".join([
        "",
        "prefs.codegen.target = 'numpy'",
        "group = lif_group(2)",
        "group.I_e = [0, 500] * pA",
        "monitor = SpikeMonitor(group)",
        "run(200*ms)",
        "print([int(c) for c in monitor.count])",
    ]))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    counts = eval(out.stdout.strip().splitlines()[-1], {})
    # 500 pA: crossing after 13.86 ms, ISI 15.86 ms -> 12 spikes in 200 ms
    assert counts[0] == 0 and counts[1] == 12


def test_generated_script_states_the_integration_method():
    text = lb2.generate_script(lifbridge.load("lif"))
    assert "method='exact'" in text and "# Integration method: exact" in text


def test_synapse_statement_delivers_weights():
    model = lifbridge.load("lif")
    assert lb2.on_pre(model, "exc_spikes") == "I_syn_exc_post += weight"
    brian2.start_scope()
    brian2.prefs.codegen.target = "numpy"
    group = lb2.neuron_group(model, 1)
    source = brian2.SpikeGeneratorGroup(1, [0], [10] * brian2.ms)
    synapses = brian2.Synapses(source, group, "weight : amp", on_pre=lb2.on_pre(model, "exc_spikes"))
    synapses.connect()
    synapses.weight = 1 * brian2.nA
    monitor = brian2.StateMonitor(group, "V_m", record=0)
    brian2.run(30 * brian2.ms)
    v = np.asarray(monitor.V_m[0]) * 1e3
    # PSP peak of an exponential current (tau_s = 2 ms) in a tau_m = 10 ms membrane, independently:
    tau_m, tau_s, C = 10.0, 2.0, 250.0
    t = np.linspace(0, 20, 20001)
    psp = 1000.0 / C * tau_m * tau_s / (tau_m - tau_s) * (np.exp(-t / tau_m) - np.exp(-t / tau_s))
    assert v.max() - (-70.0) == pytest.approx(psp.max(), rel=2e-3)


def suprathreshold_current(model):
    """Half the top of the model's f-I sweep range: several times rheobase for every bundled model."""
    lo, hi = model.hints["fi_current_range_pA"]
    return lo + 0.5 * (hi - lo)


#: Models that fire without input: pif (no leak: any net current) and hh_traub (NEST's
#: hh_cond_exp_traub defaults fire at rest, about 14 Hz; its rheobase is about -36 pA).
FIRES_AT_REST = {"pif": 0.0, "hh_traub": -100.0}     # a bias (pA) that keeps the neuron at rest


@pytest.mark.parametrize("target", ["numpy", "cython", "cpp_standalone"])
@pytest.mark.parametrize("name", lifbridge.bundled_models())
def test_every_model_spikes_in_every_brian2_mode(name, target):
    model = lifbridge.load(name)
    current = suprathreshold_current(model)
    result = runner.simulate(model, Stimulus.constant([0.0, current]), duration_ms=100.0,
                             dt_ms=float(model.hints.get("validation_dt_ms", 0.1)), target=target)
    assert len(result.spike_times_ms[0]) == 0 or name in FIRES_AT_REST, f"{name} fires without input"
    assert len(result.spike_times_ms[1]) >= 2, f"{name} on {target}: no spikes at {current} pA"


@pytest.mark.parametrize("name", lifbridge.bundled_models())
def test_generated_script_of_every_model_runs(tmp_path, name):
    model = lifbridge.load(name)
    script = tmp_path / f"{name}_script.py"
    script.write_text(lb2.generate_script(model) + "\n".join([
        "",
        "prefs.codegen.target = 'numpy'",
        # the model's recommended step where it has one (hh_traub's RK4 needs dt <= 0.05 ms)
        f"defaultclock.dt = {model.hints.get('validation_dt_ms', 0.1)} * ms",
        f"group = {name}_group(1)",
        f"group.I_e = {suprathreshold_current(model)} * pA",
        "monitor = SpikeMonitor(group)",
        "run(100*ms)",
        "print(int(monitor.count[0]))",
    ]))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert int(out.stdout.strip().splitlines()[-1]) >= 2


# ------------------------------------------------------------------------------ spike inputs
# Weight magnitudes per port unit that move every bundled model visibly without a spike.
TEST_WEIGHT = {"pA": 100.0, "nS": 5.0, "mV": 2.0}


def _weight(model, port):
    unit = model.inputs[port].unit
    return TEST_WEIGHT[unit.name] * lb2.quantity(1.0, unit)


def _spike_source():
    return brian2.SpikeGeneratorGroup(1, [0], [5.0] * brian2.ms)


@pytest.mark.parametrize("name", [m for m in lifbridge.bundled_models() if lifbridge.load(m).spike_inputs])
def test_weights_take_nests_sign_on_every_model_and_port(name):
    """Neuron 1 gets +w on the excitatory port, neuron 2 -w on the inhibitory port (NEST's
    convention), neurons 3 and 4 the same weights routed by sign (port=None): inhibition
    lowers V_m, and routing by sign is the same as naming the port."""
    brian2.start_scope()
    brian2.prefs.codegen.target = "numpy"
    model = lifbridge.load(name)
    brian2.defaultclock.dt = model.hints.get("validation_dt_ms", 0.1) * brian2.ms   # hh_traub: RK4 at 0.01 ms
    w = _weight(model, "exc_spikes")
    group = lb2.neuron_group(model, 5, I_e=FIRES_AT_REST.get(name, 0.0))
    source = _spike_source()
    synapses = [lb2.synapses(source, group, model, "exc_spikes", weight=w, connect=dict(i=0, j=1)),
                lb2.synapses(source, group, model, "inh_spikes", weight=-w, connect=dict(i=0, j=2)),
                lb2.synapses(source, group, model, None, weight=w, connect=dict(i=0, j=3)),
                lb2.synapses(source, group, model, None, weight=-w, connect=dict(i=0, j=4))]
    monitor = brian2.StateMonitor(group, "V_m", record=True)
    brian2.Network(group, source, *synapses, monitor).run(25 * brian2.ms, namespace={})
    brian2.defaultclock.dt = 0.1 * brian2.ms                  # Brian2's default again, for the other tests
    v = np.asarray(monitor.V_m) * 1e3
    after = np.asarray(monitor.t / brian2.ms) > 5.0
    deviation_exc = (v[1] - v[0])[after]
    deviation_inh = (v[2] - v[0])[after]
    # the largest deviation from the neuron without input (later ones may overshoot)
    assert deviation_exc[np.argmax(np.abs(deviation_exc))] > 0.05, name
    assert deviation_inh[np.argmax(np.abs(deviation_inh))] < -0.05, name
    assert np.array_equal(v[3], v[1]) and np.array_equal(v[4], v[2])
    assert len(synapses[0]) == 1


@pytest.mark.parametrize("name", ["lif", "izhikevich", "lif_cond", "hh"])
def test_a_weight_of_the_wrong_sign_or_unit_is_an_error_at_creation(name):
    brian2.start_scope()
    model = lifbridge.load(name)
    w = _weight(model, "exc_spikes")
    group = lb2.neuron_group(model, 3)
    source = _spike_source()
    unit = model.inputs["inh_spikes"].unit.name
    with pytest.raises(lifbridge.ParameterError) as error:
        lb2.synapses(source, group, model, "inh_spikes", weight=w, connect=True)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"synapses onto {name}.inh_spikes: weight {TEST_WEIGHT[unit]:g} {unit} is positive")
    assert f"give {-TEST_WEIGHT[unit]:g} {unit}" in message
    with pytest.raises(lifbridge.ParameterError, match="is negative, but exc_spikes is excitatory"):
        lb2.synapses(source, group, model, "exc_spikes", weight=-w, connect=True)
    with pytest.raises(lifbridge.ParameterError, match=r"\(synapse 2 of 3\) is positive"):
        lb2.synapses(source, group, model, "inh_spikes", weight=[-1, 0, 1] * w, connect=True)
    with pytest.raises(lifbridge.ParameterError, match=f"synapses onto {name}.inh_spikes: weight: 1. s is a time"):
        lb2.synapses(source, group, model, "inh_spikes", weight=1 * brian2.second, connect=True)
    with pytest.raises(lifbridge.ParameterError, match="2 weights given for 3 synapses"):
        lb2.synapses(source, group, model, "inh_spikes", weight=[-1, -1] * w, connect=True)
    with pytest.raises(lifbridge.ParameterError, match="weight= needs connect="):
        lb2.synapses(source, group, model, "inh_spikes", weight=-w)
    # weights set later are checked on request; a Brian2 expression is checked once set
    S = lb2.synapses(source, group, model, "inh_spikes", connect=True)
    S.weight = w
    with pytest.raises(lifbridge.ParameterError, match=f"check_weights\\({name}, 'inh_spikes'\\): weight .* is positive"):
        lb2.check_weights(S, model, "inh_spikes")
    S.weight = -w
    lb2.check_weights(S, model, "inh_spikes")
    with pytest.raises(lifbridge.ParameterError, match="is positive"):
        lb2.synapses(source, group, model, "inh_spikes", weight=f"j*{TEST_WEIGHT[unit]}*{lb2.brian2_unit_symbol(unit)}",
                     connect=True)


def test_synapses_onto_adex_with_the_default_weight_name():
    """adex has a state variable w: the default weight is 'weight', and 'w' is refused in one line."""
    brian2.start_scope()
    brian2.prefs.codegen.target = "numpy"
    model = lifbridge.load("adex")
    group = lb2.neuron_group(model, 1)
    source = _spike_source()
    S = brian2.Synapses(source, group, "weight : amp", on_pre=lb2.on_pre(model, "exc_spikes"))
    S.connect()
    S.weight = 100 * brian2.pA
    S2 = lb2.synapses(source, group, model, "inh_spikes", weight=-50 * brian2.pA, connect=True)
    monitor = brian2.StateMonitor(group, ["I_syn_exc", "I_syn_inh"], record=0)
    brian2.run(6 * brian2.ms)
    assert np.asarray(monitor.I_syn_exc[0]).max() == pytest.approx(100e-12)
    assert np.asarray(monitor.I_syn_inh[0]).max() == pytest.approx(50e-12)
    assert len(S2) == 1
    with pytest.raises(lifbridge.ParameterError) as error:
        lb2.on_pre(model, "exc_spikes", weight="w")
    assert str(error.value) == ("on_pre(adex, 'exc_spikes'): weight name 'w' is also a name of the adex neurons; "
                                "choose another, e.g. the default 'weight'")
    with pytest.raises(lifbridge.ParameterError, match="weight name 'w' is also a name"):
        lb2.synapses(source, group, model, "exc_spikes", weight_name="w")


def _hh_psc_run(target_dir=None):
    """hh neuron 0 gets +100 pA on exc_spikes, neuron 1 -100 pA routed by sign; the script
    defines its own tau_syn_exc and tau_syn_inh, which must not be used. Returns the peaks (pA)."""
    model = lifbridge.load("hh")
    group = lb2.neuron_group(model, 2)
    source = _spike_source()
    tau_syn_exc = 7.0 * brian2.ms  # noqa: F841 -- names in the script's namespace, as a user's script has them
    tau_syn_inh = 0.3 * brian2.ms  # noqa: F841
    S1 = brian2.Synapses(source, group, "weight : amp", on_pre=lb2.on_pre(model, "exc_spikes"))
    S1.connect(i=0, j=0)
    S1.weight = 100 * brian2.pA
    S2 = brian2.Synapses(source, group, "weight : amp", on_pre=lb2.on_pre(model))
    S2.connect(i=0, j=1)
    S2.weight = -100 * brian2.pA
    monitor = brian2.StateMonitor(group, ["I_syn_exc", "I_syn_inh"], record=True)
    brian2.run(15 * brian2.ms)
    return (np.asarray(monitor.I_syn_exc[0]).max() * 1e12, np.asarray(monitor.I_syn_inh[1]).max() * 1e12,
            np.asarray(monitor.I_syn_exc[1]).max() * 1e12)


@pytest.mark.parametrize("target", ["numpy", "cython", "cpp_standalone"])
def test_on_pre_uses_the_neurons_own_parameters_in_every_mode(target, tmp_path):
    brian2.start_scope()
    if target == "cpp_standalone":
        brian2.set_device("cpp_standalone", directory=str(tmp_path / "project"), build_on_run=True)
    else:
        brian2.prefs.codegen.target = target
    try:
        exc_peak, inh_peak, routed_exc = _hh_psc_run()
    finally:
        if target == "cpp_standalone":
            brian2.device.reinit()
            brian2.device.activate()
            brian2.set_device("runtime")
    # an alpha current peaks at its weight (tau_syn = 0.2 ms and 2 ms are whole numbers of steps)
    assert exc_peak == pytest.approx(100.0, rel=1e-9)
    assert inh_peak == pytest.approx(100.0, rel=1e-9)   # the magnitude of the -100 pA weight
    assert routed_exc == 0.0


# ------------------------------------------------------------------------------ exact synapses
@pytest.mark.parametrize("target", ["numpy", "cython"])
@pytest.mark.parametrize("tau_syn", [0.2, 0.5])
@pytest.mark.parametrize("name", ["hh", "lif", "adex", "pif"])
def test_synaptic_currents_are_exact_whatever_the_membrane_method(name, tau_syn, target):
    """The PSC at every grid point equals the closed form; its peak and integral too.

    hh (exponential Euler): alpha current w e (t/tau) exp(-t/tau), peak w at t = tau,
    integral e w tau. lif (exact), adex and pif (RK4): exponential w exp(-t/tau),
    integral w tau. dt = 0.1 ms.
    """
    dt, w = 0.1, 100.0
    brian2.start_scope()
    brian2.prefs.codegen.target = target
    brian2.defaultclock.dt = dt * brian2.ms
    model = lifbridge.load(name)
    group = lb2.neuron_group(model, 1, tau_syn_exc=tau_syn)
    source = _spike_source()
    S = lb2.synapses(source, group, model, "exc_spikes", weight=w * brian2.pA, connect=True)  # noqa: F841
    alpha = "dI_syn_exc" in model.state
    variables = ["I_syn_exc", "dI_syn_exc"] if alpha else ["I_syn_exc"]
    monitor = brian2.StateMonitor(group, variables, record=0)
    brian2.run(5 * brian2.ms + 60 * tau_syn * brian2.ms)
    current = np.asarray(monitor.I_syn_exc[0]) * 1e12
    # the spike at 5 ms is delivered after the update of that step: the state jumps at 5 ms + dt
    start = int(round((5.0 + dt) / dt))
    assert np.all(current[:start] == 0.0) and (current[start] > 0 or alpha)
    s = (np.arange(len(current)) - start) * dt
    s_after = s[start:]
    if alpha:
        closed = w * np.e * s_after / tau_syn * np.exp(-s_after / tau_syn)
    else:
        closed = w * np.exp(-s_after / tau_syn)
    np.testing.assert_allclose(current[start:], closed, rtol=1e-9, atol=1e-9 * w)
    peak = current.max()
    assert peak == pytest.approx(w if alpha else w, rel=1e-9)
    if alpha:
        assert s[np.argmax(current)] == pytest.approx(tau_syn)
    # The integral from the recorded states: between grid points the state evolves by
    # the linear ODE, whose solution from (I, dI) over a step h is (I + dI s) exp(-s/tau).
    q = np.exp(-dt / tau_syn)
    integral = np.sum(current * tau_syn * (1 - q))
    if alpha:
        d_current = np.asarray(monitor.dI_syn_exc[0]) * 1e12 / 1e3   # pA/ms
        integral += np.sum(d_current * (tau_syn ** 2 * (1 - q) - tau_syn * dt * q))
    expected = np.e * w * tau_syn if alpha else w * tau_syn
    assert integral == pytest.approx(expected, rel=1e-9)


def test_generated_script_prints_the_exact_synaptic_update_and_refractory_rule():
    text = lb2.generate_script(lifbridge.load("hh"))
    assert "lifbridge_next_dI_syn_exc = dI_syn_exc*exp(-dt/tau_syn_exc)" in text
    assert "when='before_groups'" in text and "when='after_groups'" in text
    lif_text = lb2.generate_script(lifbridge.load("lif"))
    assert "run_regularly" not in lif_text   # lif is integrated exactly as a whole
    assert "refractory='timestep(t - lastspike, dt) <= timestep(t_ref, dt)'" in lif_text


def test_linear_subsystem_is_found_from_the_equations():
    found = {name: lifbridge.load(name).linear_subsystem() for name in lifbridge.bundled_models()}
    assert found["hh"] == ("I_syn_exc", "dI_syn_exc", "I_syn_inh", "dI_syn_inh")
    assert found["adex"] == ("I_syn_exc", "I_syn_inh")         # w depends on V_m
    assert found["lif_cond"] == ("g_exc", "g_inh")
    assert found["optogenetic_lif"] == ("I_syn_exc", "I_syn_inh")   # O is driven by the light phi
    assert found["izhikevich"] == ()
    assert "V_m" not in found["pif"]                          # clamped while refractory, driven by I_stim


# ------------------------------------------------------------------------------ refractoriness
def test_refractory_release_on_the_same_grid_point_as_nest():
    """lif at 500 pA, dt = 0.1 ms: Brian2's interval is NEST's iaf_psc_exp's and the
    closed-form interval rounded up to the grid (15.863 ms -> 15.9 ms)."""
    from lifbridge import analytic

    nest = pytest.importorskip("nest")
    dt, current, duration = 0.1, 500.0, 300.0
    model = lifbridge.load("lif")
    params = {k: p.value for k, p in model.parameters.items() if k in ("C_m", "tau_m", "E_L", "V_th", "V_reset", "t_ref")}
    isi_true = 1000.0 / analytic.lif_rate(current, **params)
    assert isi_true == pytest.approx(15.863, abs=1e-3)
    brian = runner.simulate(model, Stimulus.constant([current]), duration_ms=duration, dt_ms=dt).spike_times_ms[0]
    nest.ResetKernel()
    nest.set(resolution=dt)
    neuron = nest.Create("iaf_psc_exp", params=dict(params, I_e=current, tau_syn_ex=2.0, tau_syn_in=2.0))
    recorder = nest.Create("spike_recorder")
    nest.Connect(neuron, recorder)
    nest.Simulate(duration)
    nest_times = np.asarray(recorder.get("events")["times"], dtype=float)
    assert len(brian) == len(nest_times) > 10
    np.testing.assert_allclose(brian, nest_times, atol=1e-9)
    np.testing.assert_allclose(np.diff(brian), np.ceil(isi_true / dt) * dt, atol=1e-9)


def test_no_split_when_the_whole_model_is_integrated_exactly():
    hh = lifbridge.load("hh")
    for method in ("exact", "linear"):
        code = lb2.to_brian2(lifbridge.load("lif"), method=method)
        assert code.exact == () and code.exact_code == ()
    assert lb2.to_brian2(hh, method="rk2").exact == ("I_syn_exc", "dI_syn_exc", "I_syn_inh", "dI_syn_inh")


def test_neuron_group_checks_the_unit_of_every_override():
    """Brian2 quantities, arrays of them, strings and numbers are all checked against the spec."""
    brian2.start_scope()
    model = lifbridge.load("lif")
    with pytest.raises(lifbridge.ParameterError) as error:
        lb2.neuron_group(model, 1, C_m=250 * brian2.mV)
    assert str(error.value) == ('neuron_group(lif): C_m: 250. mV is a voltage, C_m needs a capacitance (pF), '
                                'e.g. C_m="250pF"')
    with pytest.raises(lifbridge.ParameterError, match="V_th: .* s is a time, V_th needs a voltage"):
        lb2.neuron_group(model, 2, V_th=[-50, -55] * brian2.second)
    with pytest.raises(lifbridge.ParameterError, match=r"V_m\[1\]: 2. nA is a current"):
        lb2.neuron_group(model, 2, V_m=[-60 * brian2.mV, 2 * brian2.nA])
    with pytest.raises(lifbridge.ParameterError, match="neuron 1: parameter t_ref = -1 ms is not allowed"):
        lb2.neuron_group(model, 2, t_ref=[1.0, -1.0])
    group = lb2.neuron_group(model, 2, C_m=0.5 * brian2.nF, V_th=[-50, -52] * brian2.mV, tau_syn_ex=5 * brian2.ms)
    assert group.namespace["C_m"] == 500 * brian2.pF and group.namespace["tau_syn_exc"] == 5 * brian2.ms
    assert np.allclose(np.asarray(group.V_th), [-0.050, -0.052])


@pytest.mark.parametrize("name, parameter", [("lif", "tau_syn_exc"), ("lif_psc_alpha", "tau_syn_inh")])
def test_equal_time_constants_in_an_exact_update_are_one_line_not_nan(name, parameter):
    """Brian2's closed-form update of V_m driven by a synaptic current is 0/0 when tau_syn = tau_m,
    and loses its digits close to it (lif_psc_alpha: 0.09 mV off at 1e-6 apart): refused
    before the run, naming both variables and the fix; 1% apart runs and agrees with the
    reference integrator."""
    import brian2

    from lifbridge.reference import reference_simulate
    from lifbridge.stimulus import SpikeTrain

    model = lifbridge.load(name)
    tau_m = model.parameters["tau_m"].value
    for close in (tau_m, tau_m * (1 + 1e-6)):
        brian2.start_scope()
        with pytest.raises(ParameterError) as error:
            lb2.neuron_group(model, 1, **{parameter: close})
        message = str(error.value)
        assert "\n" not in message and "V_m and I_syn_" in message and "rk4" in message
    port = "exc_spikes" if parameter.endswith("exc") else "inh_spikes"
    weight = 100.0 if port == "exc_spikes" else -100.0
    stimulus = Stimulus(np.zeros(1), spikes=[SpikeTrain(port, [5.0], weight, [0])])
    apart = {parameter: tau_m * 1.01}
    ours = runner.simulate(model, stimulus, duration_ms=40.0, record=("V_m",), **apart)
    judge = reference_simulate(model, duration_ms=40.0, record=("V_m",), spikes={port: [(5.0, weight)]}, **apart)
    n = min(ours.traces["V_m"][1].shape[1], judge.traces["V_m"][1].shape[1])
    assert np.max(np.abs(ours.traces["V_m"][1][0, :n] - judge.traces["V_m"][1][0, :n])) < 1e-6


@pytest.mark.parametrize("name", lifbridge.bundled_models())
def test_every_parameter_can_be_a_per_neuron_variable(name):
    """Brian2's equation grammar reads every unit lifbridge prints (k_a's metre**2/watt/second:
    Brian2 rejects a parenthesised product), so each parameter can be a per-neuron variable, as
    pyNN.brian2 makes them all."""
    import brian2

    model = lifbridge.load(name)
    code = lb2.to_brian2(model, per_neuron=tuple(model.parameters))
    equations = brian2.Equations(code.equations)
    assert set(model.parameters) <= set(equations.names)
