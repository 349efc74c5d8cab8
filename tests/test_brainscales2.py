"""BrainScaleS-2: generated pynn_brainscales scripts, range checks, quantisation and the emulation.

Expected values are derived by hand in the comments: the hardware's ranges are calix's
(check_target), the voltage map is -70 mV -> 80 CADC at 3 CADC/mV, hardware time is
biological time / 1000 (ms -> us), and the emulated LIF without quantisation and mismatch
is the exact LIF on the time grid.
"""

import math
from pathlib import Path
import types

import numpy as np
import pytest

import lifbridge
from lifbridge import backends
from lifbridge.analytic import lif_rate
from lifbridge.brainscales2 import emulate as em
from lifbridge.brainscales2 import mapping
from lifbridge.errors import BackendUnavailable, ParameterError
from lifbridge.overrides import resolve
from lifbridge.pynn.brainscales2 import cell_type
from lifbridge.runners import brainscales2_emulated as runner
from lifbridge.stimulus import SpikeTrain, Stimulus, steady_rate

NAME = "brainscales2.emulated"
#: supported models with the --param values that put their defaults into the hardware's ranges
#: (lif_cond_exp's and adex's tau_syn_exc = 0.2 ms is below 0.3 us; adex's t_ref = 0 below 40 ns)
SUPPORTED = {
    "lif_psc_exp": ({}, "CalibHXNeuronCuba"),
    "lif_cond_exp": ({"tau_syn_exc": "0.3 ms"}, "CalibHXNeuronCoba"),
    "adex_psc_exp": ({"tau_syn_exc": "0.3 ms", "t_ref": "0.1 ms"}, "HXNeuron"),
    "adex_cond_exp": ({"tau_syn_exc": "0.3 ms", "t_ref": "0.1 ms"}, "HXNeuron"),
}


def load(name, **values):
    return resolve(lifbridge.load(name), values).model


# ---------------------------------------------------------------------------- generation
@pytest.mark.parametrize("name", sorted(SUPPORTED))
def test_every_supported_model_generates_a_script_that_compiles(name):
    values, cell = SUPPORTED[name]
    source = backends.generator("brainscales2")(load(name, **values))
    compile(source, f"{name}.py", "exec")
    assert "import pynn_brainscales.brainscales2 as pynn" in source
    assert f"pynn.cells.{cell}(" in source
    assert "delay" not in source.replace("# no delay", "")
    if cell == "HXNeuron":
        assert "UNCALIBRATED" in source and "TARGETS = {" in source


def test_the_lif_script_holds_the_translated_values():
    source = backends.generator("brainscales2")(lifbridge.load("lif_psc_exp"))
    # E_L = -70 mV -> 80, V_reset = -70 mV -> 80, V_th = -55 mV -> 80 + 3 x 15 = 125 CADC;
    # tau_m = 10 ms -> 10 us, t_ref = 2 ms -> 2 us, tau_syn = 2 ms -> 2 us; input at 100 ms -> 0.1 hardware ms
    assert ("pynn.cells.CalibHXNeuronCuba(v_rest=80.0, v_reset=80.0, v_thresh=125.0, tau_m=10.0, tau_refrac=2.0, "
            "tau_syn_E=2.0, tau_syn_I=2.0)") in source
    assert "spike_times=[0.1, 0.3, 0.305, 0.31]" in source
    assert "pynn.run(RUNTIME_BIO_MS / SPEEDUP)" in source and "SPEEDUP = 1000.0" in source


def test_the_coba_script_takes_the_reversal_potentials_in_cadc():
    source = backends.generator("brainscales2")(load("lif_cond_exp", tau_syn_exc="0.3 ms"))
    # E_exc = 0 mV -> 80 + 3 x 70 = 290, E_inh = -85 mV -> 35 (calix accepts any reversal potential)
    assert "e_rev_E=290.0" in source and "e_rev_I=35.0" in source and "tau_syn_E=0.3" in source


def test_a_constant_current_becomes_the_rest_potential():
    # I_e = 100 pA through R = 10 ms / 250 pF = 40 MOhm: E_L + R I = -66 mV -> 80 + 12 = 92 CADC
    source = backends.generator("brainscales2")(load("lif_psc_exp", I_e="100 pA"))
    assert "v_rest=92.0" in source and "leak over threshold" in source


@pytest.mark.parametrize("name", ["lif_psc_delta", "lif_psc_alpha", "izhikevich_psc_exp", "hh_psc_exp"])
def test_models_without_a_brainscales2_cell_type_are_refused_in_one_line(name):
    with pytest.raises(ParameterError) as error:
        backends.generator("brainscales2")(lifbridge.load(name))
    message = str(error.value)
    assert "\n" not in message and "not available on BrainScaleS-2" in message and "nearest: lif_psc_exp" in message


# ---------------------------------------------------------------------------- range checks
#: (parameter, value, hardware text, range text), each derived from the map and calix's ranges
VIOLATIONS = [
    ("E_L", "-100 mV", "v_rest = -10 CADC", "[50, 160] CADC"),           # 80 + 3 (-30)
    ("E_L", "-20 mV", "v_rest = 230 CADC", "[50, 160] CADC"),            # 80 + 3 x 50
    ("V_reset", "-90 mV", "v_reset = 20 CADC", "[50, 160] CADC"),
    ("V_th", "-10 mV", "v_thresh = 260 CADC", "[50, 220] CADC"),
    ("tau_m", "100 ms", "tau_m = 100 us", "[0.5, 60] us"),
    ("tau_m", "0.4 ms", "tau_m = 0.4 us", "[0.5, 60] us"),
    ("tau_syn_exc", "0.2 ms", "tau_syn_E = 0.2 us", "[0.3, 30] us"),
    ("tau_syn_inh", "31 ms", "tau_syn_I = 31 us", "[0.3, 30] us"),
    ("t_ref", "0.03 ms", "tau_refrac = 0.03 us", "[0.04, 32] us"),
    ("t_ref", "33 ms", "tau_refrac = 33 us", "[0.04, 32] us"),
    # I_e = 1 nA: E_L + R I = -70 + 40 = -30 mV -> 200 CADC
    ("I_e", "1000 pA", "v_rest = 200 CADC", "[50, 160] CADC"),
]


@pytest.mark.parametrize("name, value, hardware, allowed", VIOLATIONS)
def test_each_limit_violated_is_a_one_line_error_with_both_units_and_the_range(name, value, hardware, allowed):
    model = load("lif_psc_exp", **{name: value})
    for call in (lambda: backends.generator("brainscales2")(model),
                 lambda: cell_type(model, types.SimpleNamespace(cells=types.SimpleNamespace(CalibHXNeuronCuba=dict)))):
        with pytest.raises(ParameterError) as error:
            call()
        message = str(error.value)
        assert "\n" not in message
        shown_name = "E_L + R*I_e" if name == "I_e" else name
        assert f"{shown_name} = " in message and hardware in message and allowed in message, message
        if name != "I_e":
            assert f"{name} = {float(value.split()[0]):g} {value.split()[1]}" in message
        assert "; use " in message   # the fix


@pytest.mark.parametrize("name, value", [("tau_m", "0.5 ms"), ("tau_m", "60 ms"), ("t_ref", "0.04 ms"),
                                         ("t_ref", "32 ms"), ("tau_syn_exc", "0.3 ms"), ("tau_syn_exc", "30 ms"),
                                         ("V_reset", "-80 mV"), ("E_L", "-43.34 mV"), ("V_th", "-23.4 mV")])
def test_values_at_the_edges_of_the_ranges_pass(name, value):
    model = load("lif_psc_exp", **{name: value})
    backends.generator("brainscales2")(model)
    built = cell_type(model, types.SimpleNamespace(cells=types.SimpleNamespace(CalibHXNeuronCuba=dict)))
    assert set(built) == {"v_rest", "v_reset", "v_thresh", "tau_m", "tau_refrac", "tau_syn_E", "tau_syn_I"}


def test_cell_type_builds_the_modules_cell_type_with_hardware_values():
    cells = types.SimpleNamespace(CalibHXNeuronCuba=dict, CalibHXNeuronCoba=dict, HXNeuron=dict)
    module = types.SimpleNamespace(cells=cells)
    assert cell_type(lifbridge.load("lif_psc_exp"), module) == {
        "v_rest": 80.0, "v_reset": 80.0, "v_thresh": 125.0, "tau_m": 10.0, "tau_refrac": 2.0, "tau_syn_E": 2.0,
        "tau_syn_I": 2.0}
    # lif_cond_exp: tau_m = C_m / g_L = 250 pF / 16.6667 nS = 15.0 ms -> 15.0 us
    coba = cell_type(load("lif_cond_exp", tau_syn_exc="0.3 ms"), module)
    assert coba["tau_m"] == pytest.approx(15.0, rel=1e-5) and coba["v_reset"] == 110.0
    adex = cell_type(load("adex_psc_exp", tau_syn_exc="0.3 ms", t_ref="0.1 ms"), module)
    assert adex == {"threshold_enable": True, "exponential_enable": True, "adaptation_enable": True}


def test_cell_type_refuses_a_population_larger_than_a_chip_and_a_module_without_the_cell():
    module = types.SimpleNamespace(cells=types.SimpleNamespace(CalibHXNeuronCuba=dict))
    with pytest.raises(ParameterError, match=r"population of 513 neurons: .* 512 neuron circuits"):
        cell_type(lifbridge.load("lif_psc_exp"), module, n=513)
    assert cell_type(lifbridge.load("lif_psc_exp"), module, n=512)["v_thresh"] == 125.0
    with pytest.raises(BackendUnavailable, match="no cells.CalibHXNeuronCoba"):
        cell_type(load("lif_cond_exp", tau_syn_exc="0.3 ms"), module)


def test_cell_type_without_pynn_brainscales_says_where_it_comes_from():
    with pytest.raises(BackendUnavailable, match="not on the package registry"):
        cell_type(lifbridge.load("lif_psc_exp"))


# ---------------------------------------------------------------------------- quantisation
def test_time_constants_are_quantised_as_a_10_bit_bias_with_power_of_two_ranges():
    # tau = 10 us, tau_low = 0.5 us: exact code 1022 x 0.5 / 10 = 51.1; x 2^4 = 817.6 -> 818; 511 x 16 / 818
    assert em.quantise_tau(10.0, 0.5) == pytest.approx(511 * 16 / 818, rel=1e-15)
    # tau = 60 us: 8.5167 x 2^6 = 545.07 -> 545; 511 x 64 / 545 = 60.0073
    assert em.quantise_tau(60.0, 0.5) == pytest.approx(511 * 64 / 545, rel=1e-15)
    # at the bottom of the range the code is 1022 itself: exact
    assert em.quantise_tau(0.5, 0.5) == 0.5
    # relative error at most 1 / (2 x 511)
    taus = np.geomspace(0.5, 60, 997)
    assert np.max(np.abs(em.quantise_tau(taus, 0.5) / taus - 1)) <= 1 / 1022 + 1e-12


def test_voltages_refractory_times_and_weights_are_quantised_by_hand():
    # CapMem voltage step 256 / 1024 = 0.25 CADC
    assert em.VOLTAGE_STEP_CADC == 0.25
    assert em.quantise_voltage(80.1) == 80.0 and em.quantise_voltage(80.13) == 80.25
    # refractory: 2 us = 2000 ns > 255 x 4 ns, so the clock is 8 ns: 250 counts, exact
    assert em.quantise_refractory(2.0) == 2.0
    # 3 us: 3000 / (255 x 4) = 2.94 -> 16 ns clock; 187.5 counts -> 188 (round half to even) -> 3.008 us
    assert em.quantise_refractory(3.0) == pytest.approx(3.008)
    # 41.1 ns at 4 ns: 10.275 -> 10 counts -> 40 ns
    assert em.quantise_refractory(0.0411) == pytest.approx(0.040)
    # weights: the largest |w| is 63 LSB
    assert em.weight_lsb([126.0, -30.0]) == 2.0
    codes, realised = em.quantise_weights(np.array([126.0, -30.0, 31.0, 0.9]), 2.0)
    assert codes.tolist() == [63, 15, 16, 0] and realised.tolist() == [126.0, -30.0, 32.0, 0.0]
    assert mapping.weight_rows([0, 63, 64, 126, 127]).tolist() == [1, 1, 2, 2, 3]


def test_hardware_time_is_biological_time_over_the_speedup():
    assert mapping.time_to_hw(1.0, "ms") == pytest.approx(1.0)         # 1 ms -> 1 us
    assert mapping.time_to_hw(2.0, "s") == pytest.approx(2000.0)       # 2 s -> 2 ms = 2000 us
    assert mapping.time_from_hw(0.3, "ms") == pytest.approx(0.3)


# ---------------------------------------------------------------------------- emulation
def _closed_form_grid_isi(I_pA, dt=0.1):
    """The exact LIF on the grid under a constant current from V = V_reset = E_L: a spike at the
    first grid point after the crossing, the refractory period restarting there."""
    tau, R = 10.0, 10.0 / 250.0 * 1e3   # ms, MOhm
    v_inf = -70.0 + R * I_pA * 1e-3      # mV (pA x MOhm = 1e-3 mV... x 1e3 / 1e3)
    T = tau * math.log((v_inf + 70.0) / (v_inf + 55.0))
    return math.ceil(T / dt) * dt, T


def test_without_quantisation_and_mismatch_the_emulation_is_the_exact_lif_spike_for_spike():
    currents = np.array([400.0, 500.0, 800.0])
    result = runner.simulate(lifbridge.load("lif_psc_exp"), Stimulus(currents), duration_ms=500.0, dt_ms=0.1,
                             quantisation="off")
    for I, spikes in zip(currents, result.spike_times_ms):
        first, T = _closed_form_grid_isi(I)
        assert abs(T / 0.1 - round(T / 0.1)) > 1e-3       # the crossing is not on a grid point
        expected = first + np.arange(len(spikes)) * (first + 2.0)
        np.testing.assert_allclose(spikes, expected, atol=1e-9)
        assert len(spikes) == int((500.0 - first) // (first + 2.0)) + 1
    # and the rates are the analytic f-I curve's within one step per interval
    rates = [steady_rate(s, 500.0) for s in result.spike_times_ms]
    exact = lif_rate(currents, C_m=250.0, tau_m=10.0, E_L=-70.0, V_th=-55.0, V_reset=-70.0, t_ref=2.0)
    assert exact[1] == pytest.approx(1e3 / (2.0 + 10.0 * math.log(4.0)))
    for r, e in zip(rates, exact):
        # each interval is the closed form's rounded up to the grid: 0 <= 1/r - 1/e < dt
        assert 0.0 <= 1e3 / r - 1e3 / e < 0.1


def test_the_subthreshold_response_to_spikes_is_the_reference_integrators():
    from lifbridge.reference import simulate as reference

    model = lifbridge.load("lif_psc_exp")
    times = np.array([5.0, 12.0, 12.5, 30.0])
    stimulus = Stimulus(np.array([0.0]), spikes=[SpikeTrain("exc_spikes", times, 300.0, [0]),
                                                 SpikeTrain("inh_spikes", np.array([20.0]), -300.0, [0])])
    ours = runner.simulate(model, stimulus, duration_ms=50.0, dt_ms=0.1, record=("V_m", "I_syn_exc"),
                           quantisation="off")
    exact = reference(model, stimulus, duration_ms=50.0, dt_ms=0.1, record=("V_m", "I_syn_exc"))
    assert ours.spike_times_ms[0].size == 0 and exact.spike_times_ms[0].size == 0
    np.testing.assert_allclose(ours.traces["V_m"][1], exact.traces["V_m"][1], atol=1e-5)
    np.testing.assert_allclose(ours.traces["I_syn_exc"][1], exact.traces["I_syn_exc"][1], atol=1e-4)


def test_the_membrane_saturates_at_the_ends_of_the_hardware_range():
    model = lifbridge.load("lif_psc_exp")
    stimulus = Stimulus(np.array([0.0]), spikes=[SpikeTrain("inh_spikes", np.array([1.0]), -20000.0, [0])])
    ours = runner.simulate(model, stimulus, duration_ms=20.0, dt_ms=0.1, record=("V_m",), quantisation="off")
    # 0 CADC is -70 + (0 - 80) / 3 = -96.667 mV; without the limit 20 nA x 2 ms / 250 pF would reach far lower
    assert ours.traces["V_m"][1].min() == pytest.approx(-70.0 - 80.0 / 3.0, abs=1e-9)
    wide = runner.simulate(model, stimulus, duration_ms=20.0, dt_ms=0.1, record=("V_m",), quantisation="off",
                           v_range=(-1e9, 1e9))
    assert wide.traces["V_m"][1].min() < -150.0


def test_mismatch_is_seeded_and_reproducible():
    model, stimulus = lifbridge.load("lif_psc_exp"), Stimulus(np.full(8, 600.0))
    a = runner.simulate(model, stimulus, duration_ms=200.0, mismatch="calibrated", seed=7)
    b = runner.simulate(model, stimulus, duration_ms=200.0, mismatch="calibrated", seed=7)
    c = runner.simulate(model, stimulus, duration_ms=200.0, mismatch="calibrated", seed=8)
    assert all(np.array_equal(x, y) for x, y in zip(a.spike_times_ms, b.spike_times_ms))
    assert not all(np.array_equal(x, y) for x, y in zip(a.spike_times_ms, c.spike_times_ms))


def test_the_drawn_parameters_have_the_configured_spreads():
    hw = mapping.translate(lifbridge.load("lif_psc_exp"))
    n = 4000
    spreads = em.Spreads(v_rest=2.0, v_reset=1.5, v_thresh=1.0, tau_m=0.03, tau_syn=0.04, tau_refrac=0.0,
                         weight_gain=0.05)
    neurons = em.realise(hw, n, quantise=False, spreads=spreads, seed=3)
    # the sample SD of n normal values has a relative standard error of 1 / sqrt(2 (n - 1)) = 1.1%: allow 5 of them
    rel = 5 / math.sqrt(2 * (n - 1))
    for values, target, sigma in ((neurons.v_leak, 80.0, 2.0), (neurons.v_reset, 80.0, 1.5),
                                  (neurons.v_thresh, 125.0, 1.0), (neurons.tau_m, 10.0, 0.3),
                                  (neurons.tau_syn["E"], 2.0, 0.08), (neurons.gain["I"], 1.0, 0.05)):
        assert np.std(values, ddof=1) == pytest.approx(sigma, rel=rel)
        assert abs(np.mean(values) - target) < 5 * sigma / math.sqrt(n)
    assert np.all(neurons.tau_refrac == 2.0)


def test_the_rate_spread_from_a_threshold_spread_is_the_derived_one():
    # only the threshold varies: sigma = 1 CADC = 1/3 mV. At I = 500 pA, V_inf = -50 mV, the rate
    # r = 1 / (t_ref + tau ln((V_inf - V_reset) / (V_inf - V_th))) has dr/dV_th = -r^2 tau / (V_inf - V_th):
    # r = 63.05 Hz, so SD(r) = r^2 x 10 ms / 5 mV x (1/3) mV = 2.65 Hz (first order).
    n, sigma_mV = 400, 1.0 / 3.0
    spreads = em.Spreads(0, 0, 1.0, 0, 0, 0, 0)
    result = runner.simulate(lifbridge.load("lif_psc_exp"), Stimulus(np.full(n, 500.0)), duration_ms=2000.0,
                             dt_ms=0.05, quantisation="off", spreads=spreads, seed=11)
    rates = np.array([steady_rate(s, 2000.0) for s in result.spike_times_ms])
    r = 1.0 / (2.0 + 10.0 * math.log(20.0 / 5.0)) * 1e3
    expected = (r * 1e-3) ** 2 * 10.0 / 5.0 * sigma_mV * 1e3
    assert expected == pytest.approx(2.65, abs=0.01)
    # sampling error 1/sqrt(2 x 399) = 3.5%, second-order terms ~ sigma / 5 mV, the grid's rate jitter < 1%
    assert np.std(rates, ddof=1) == pytest.approx(expected, rel=0.15)


def test_the_emulation_refuses_what_it_does_not_emulate_in_one_line():
    with pytest.raises(ParameterError, match="CalibHXNeuronCoba is generated but not emulated"):
        runner.simulate(load("lif_cond_exp", tau_syn_exc="0.3 ms"), Stimulus(np.array([0.0])), duration_ms=10.0)
    with pytest.raises(ParameterError, match="tau_m = 100 ms is tau_m = 100 us"):
        runner.simulate(lifbridge.load("lif_psc_exp"), Stimulus(np.array([0.0])), duration_ms=10.0, tau_m="100 ms")


def test_the_backend_declares_capabilities_with_reasons():
    declared = backends.get(NAME)
    assert declared.capability_of(lifbridge.load("lif_psc_exp")).support == "approximate"
    for name, words in (("lif_cond_exp", "not emulated"), ("lif_psc_delta", "no delta synapse"),
                        ("izhikevich_psc_exp", "no izhikevich dynamics")):
        capability = declared.capability_of(lifbridge.load(name))
        assert capability.support == "unsupported" and words in capability.reason
    assert dict(declared.mismatch_options) == {"mismatch": "calibrated"}


# ---------------------------------------------------------------------------- report section
def test_the_mismatch_section_shows_the_spread_across_neurons_against_the_closed_form(tmp_path):
    from lifbridge.validation.mismatch import mismatch_part, save_figure

    section, checks = mismatch_part(lifbridge.load("lif_psc_exp"), NAME, quick=True)
    assert checks == []
    rates = np.array(section.data["rates_hz"])
    assert rates.shape == (9, 32)
    values = {row["name"]: row["value"] for row in section.numbers}
    # with the default spreads the neurons differ, and the median stays near the closed form
    assert values[f"mismatch_fi_std_max_{NAME}"] > 1.0
    assert values[f"mismatch_fi_median_rel_{NAME}"] < 0.1
    paths = save_figure(section, tmp_path)
    assert len(paths) == 1 and paths[0].stat().st_size > 10_000


def test_a_weight_below_one_lsb_of_the_largest_is_refused_in_one_line():
    # one LSB = 1000 pA / 63 = 15.9 pA; 5 pA is 0.31 LSB and rounds to 0
    stimulus = Stimulus(np.array([0.0]), spikes=[SpikeTrain("exc_spikes", np.array([5.0]), 1000.0, [0]),
                                                 SpikeTrain("exc_spikes", np.array([10.0]), 5.0, [0])])
    with pytest.raises(ParameterError, match=r"weight 5 onto exc_spikes is 0 of 63 LSB .*one LSB = 15.9 pA"):
        runner.simulate(lifbridge.load("lif_psc_exp"), stimulus, duration_ms=20.0)


@pytest.mark.parametrize("sep", ["\n", "\r", "\u2028", "\x0c"])
def test_free_text_and_the_name_of_a_model_never_become_code(sep, tmp_path):
    import ast
    import dataclasses
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from test_generated_code_safety import hostile_model, python_payload

    canary = tmp_path / "canary"
    payload = python_payload(canary, sep)
    model = hostile_model(lifbridge.load("lif_psc_exp"), payload)
    source = backends.generator("brainscales2")(model)
    tree = ast.parse(source)
    imports = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert [alias.name for node in imports for alias in node.names] == ["pynn_brainscales.brainscales2"]
    assert "pathlib" not in "".join(line for line in source.splitlines() if not line.lstrip().startswith("#"))
    # a model named with a line break: the name is not a BrainScaleS-2 model's, refused in one line
    renamed = dataclasses.replace(model, name=f"lif_psc_exp{payload}")
    with pytest.raises(ParameterError) as error:
        backends.generator("brainscales2")(renamed)
    assert not any(c in str(error.value) for c in "\n\r\u2028\x0c")
