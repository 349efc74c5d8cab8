"""The bundled model library: every model loads, keeps the common interface, and its
defaults and dynamics agree with NEST's built-ins and the published sources.

No simulator is run here except NEST's GetDefaults; dynamics are checked by
evaluating the models' own expressions with numpy/scipy.
"""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import lifbridge
from lifbridge import analytic
from lifbridge import expr as ex
from lifbridge.brian2 import METHOD_REASONS
from lifbridge.errors import ParameterError
from lifbridge.spec import bundled_models, models_dir
from lifbridge.units import AMP, FARAD, SECOND, SIEMENS, parse_unit

MODELS = ["lif", "pif", "lif_cond", "adaptive_lif", "adex", "optogenetic_lif", "izhikevich", "hh"]
ANALYTIC_NAMES = {"lif", "pif", "eif", "qif", "adaptive_lif", "optogenetic_lif"}


@pytest.fixture(scope="module", params=MODELS)
def model(request):
    return lifbridge.load(request.param)


def namespace(model, state=None, inputs=None):
    """SI values of parameters, state (default: initial), inputs (default 0) and all aliases."""
    ns = dict(model.parameter_values_si())
    ns.update(model.initial_values_si() if state is None else state)
    ns.update({name: 0.0 for name in model.continuous_inputs})
    ns.update(inputs or {})
    ns["t"] = 0.0
    for name in model.aliases_in_order():
        ns[name] = ex.evaluate(model.aliases[name].expr, ns)
    return ns


# ------------------------------------------------------------------------------ library
def test_all_models_are_bundled():
    assert set(MODELS) <= set(bundled_models())


def test_model_files_start_with_a_header_comment():
    for name in MODELS:
        text = (models_dir() / f"{name}.toml").read_text()
        header = text.split("[model]")[0]
        assert text.startswith("#") and header.count("\n#") >= 3, name


def test_common_interface(model):
    assert model.reference.strip()
    assert "V_m" in model.state
    assert model.state["V_m"].unit.name == "mV"
    assert model.input_current == "I_stim"
    assert model.inputs["I_stim"].unit.name == "pA"
    assert model.parameters["I_e"].unit.name == "pA"
    assert model.inputs["exc_spikes"].sign == "excitatory"
    assert model.inputs["inh_spikes"].sign == "inhibitory"
    assert model.spike is not None


def test_spike_ports_add_the_weight_magnitude(model):
    """NEST sign convention: inhibitory weights are negative there; here both ports
    receive |w|, and the inhibitory port must lower V_m (directly or via a current)."""
    ns = namespace(model)
    for port in ("exc_spikes", "inh_spikes"):
        statements = model.inputs[port].on_spike
        assert statements
        for statement in statements:
            value = ex.evaluate(statement.value, dict(ns, weight=1.0))
            assert value > 0, (port, statement)
    # the inhibitory statement either subtracts from V_m or adds to a variable that
    # enters dV_m/dt with a negative sign
    # (alpha synapses kick an auxiliary variable dI_syn_*: see test_hh_alpha_psc_peaks_at_weight)
    (inh,) = model.inputs["inh_spikes"].on_spike
    if inh.target == "V_m":
        assert inh.op == "-="
    elif not inh.target.startswith("dI_"):
        assert inh.op == "+="
        dv0 = ex.evaluate(model.equations["V_m"], ns)
        bumped = dict(model.initial_values_si())
        bumped[inh.target] += 1e-12 if model.state[inh.target].unit.dim == AMP else 1e-9
        assert ex.evaluate(model.equations["V_m"], namespace(model, bumped)) < dv0


def test_parameters_have_units_descriptions_and_ranges(model):
    for name, p in model.parameters.items():
        assert p.description.strip(), name
        if p.unit.dim == FARAD:
            assert p.minimum == 0.0 and p.exclusive_minimum, name
        if p.unit.dim == SECOND:
            assert p.minimum == 0.0, name
            assert p.exclusive_minimum == (not name.startswith("t_ref")), name
        # AdEx's subthreshold coupling a is not a channel conductance and may be
        # negative (resonance/rebound regimes; NEST does not restrict it either).
        if p.unit.dim == SIEMENS and not (model.name == "adex" and name == "a"):
            assert p.minimum == 0.0, name


def test_hints(model):
    assert model.hints["brian2_method"] in METHOD_REASONS
    if "analytic" in model.hints:
        assert model.hints["analytic"] in ANALYTIC_NAMES
    assert isinstance(model.hints.get("notes", ""), str)


@pytest.mark.parametrize("name, change", [
    ("pif", {"V_reset": -50.0}),
    ("lif_cond", {"V_reset": -55.0}),
    ("adaptive_lif", {"V_reset": -50.0}),
    ("adaptive_lif", {"E_K": -60.0}),
    ("optogenetic_lif", {"V_reset": -50.0}),
    ("adex", {"V_reset": 5.0}),
    ("adex", {"V_peak": -55.0}),
    ("adex", {"Delta_T": 0.05}),
    ("izhikevich", {"c": 35.0}),
])
def test_invalid_parameters_are_rejected(name, change):
    with pytest.raises(ParameterError):
        lifbridge.load(name).with_parameters(change)


# ------------------------------------------------------------------------------ NEST defaults
# model -> (NEST built-in, {our parameter: (NEST name, NEST unit)}, {our state: (NEST name, NEST unit)})
NEST_MAP = {
    "lif": ("iaf_psc_exp", {
        "C_m": ("C_m", "pF"), "tau_m": ("tau_m", "ms"), "E_L": ("E_L", "mV"), "V_th": ("V_th", "mV"),
        "V_reset": ("V_reset", "mV"), "t_ref": ("t_ref", "ms"), "tau_syn_exc": ("tau_syn_ex", "ms"),
        "tau_syn_inh": ("tau_syn_in", "ms"), "I_e": ("I_e", "pA"),
    }, {"V_m": ("V_m", "mV")}),
    "lif_cond": ("iaf_cond_exp", {
        "C_m": ("C_m", "pF"), "g_L": ("g_L", "nS"), "E_L": ("E_L", "mV"), "V_th": ("V_th", "mV"),
        "V_reset": ("V_reset", "mV"), "t_ref": ("t_ref", "ms"), "E_exc": ("E_ex", "mV"), "E_inh": ("E_in", "mV"),
        "tau_syn_exc": ("tau_syn_ex", "ms"), "tau_syn_inh": ("tau_syn_in", "ms"), "I_e": ("I_e", "pA"),
    }, {"V_m": ("V_m", "mV"), "g_exc": ("g_ex", "nS"), "g_inh": ("g_in", "nS")}),
    "adex": ("aeif_psc_exp", {
        "C_m": ("C_m", "pF"), "g_L": ("g_L", "nS"), "E_L": ("E_L", "mV"), "V_th": ("V_th", "mV"),
        "Delta_T": ("Delta_T", "mV"), "V_peak": ("V_peak", "mV"), "V_reset": ("V_reset", "mV"),
        "t_ref": ("t_ref", "ms"), "a": ("a", "nS"), "b": ("b", "pA"), "tau_w": ("tau_w", "ms"),
        "tau_syn_exc": ("tau_syn_ex", "ms"), "tau_syn_inh": ("tau_syn_in", "ms"), "I_e": ("I_e", "pA"),
    }, {"V_m": ("V_m", "mV"), "w": ("w", "pA"), "I_syn_exc": ("I_syn_ex", "pA"), "I_syn_inh": ("I_syn_in", "pA")}),
    "izhikevich": ("izhikevich", {
        "a": ("a", "1"), "b": ("b", "1"), "c": ("c", "mV"), "d": ("d", "mV"), "V_th": ("V_th", "mV"),
        "I_e": ("I_e", "pA"),
    }, {"V_m": ("V_m", "mV"), "U_m": ("U_m", "mV")}),
    "hh": ("hh_psc_alpha", {
        "C_m": ("C_m", "pF"), "g_Na": ("g_Na", "nS"), "g_K": ("g_K", "nS"), "g_L": ("g_L", "nS"),
        "E_Na": ("E_Na", "mV"), "E_K": ("E_K", "mV"), "E_L": ("E_L", "mV"), "t_ref": ("t_ref", "ms"),
        "tau_syn_exc": ("tau_syn_ex", "ms"), "tau_syn_inh": ("tau_syn_in", "ms"), "I_e": ("I_e", "pA"),
    }, {"V_m": ("V_m", "mV"), "m": ("Act_m", "1"), "h": ("Inact_h", "1"), "n": ("Act_n", "1")}),
}


def test_every_nest_builtin_hint_has_a_name_map():
    with_builtin = {name for name in MODELS if "nest_builtin" in lifbridge.load(name).hints}
    assert with_builtin == set(NEST_MAP)
    for name, (builtin, _, _) in NEST_MAP.items():
        assert lifbridge.load(name).hints["nest_builtin"] == builtin


@pytest.fixture(scope="module")
def nest():
    nest = pytest.importorskip("nest")
    return nest


def test_derived_builtin_equivalents_agree_with_the_hand_written_map():
    """lifbridge.nest derives its table from per-neuron and per-kinetics rules; for today's
    names it gives what NEST_MAP above says by hand."""
    from lifbridge.nest import BUILTIN_EQUIVALENTS

    for name, (builtin, params, states) in NEST_MAP.items():
        equivalent = BUILTIN_EQUIVALENTS[name]
        assert equivalent.builtin == builtin
        assert dict(equivalent.parameters) == params, name
        assert {k: v for k, v in equivalent.state.items() if k in states} == states, name


def _builtin_names():
    from lifbridge.nest import BUILTIN_EQUIVALENTS

    return sorted(BUILTIN_EQUIVALENTS)


@pytest.mark.parametrize("name", _builtin_names())
def test_defaults_equal_nest_builtin(nest, name):
    """Every entry of lifbridge.nest.BUILTIN_EQUIVALENTS: every parameter and every state
    variable NEST shows in its defaults has NEST's default value (NEST's units)."""
    from lifbridge.nest import BUILTIN_EQUIVALENTS

    equivalent = BUILTIN_EQUIVALENTS[name]
    model = lifbridge.load(name)
    defaults = nest.GetDefaults(equivalent.builtin)
    assert set(equivalent.parameters) == set(model.parameters), "every parameter must be mapped to NEST"
    for ours, (theirs, unit) in equivalent.parameters.items():
        p = model.parameters[ours]
        value = p.value * p.unit.factor_to(parse_unit(unit))
        assert value == pytest.approx(defaults[theirs], rel=1e-12, abs=1e-12), (ours, theirs)
    initial = model.initial_values_si()
    shown = [ours for ours, (theirs, _) in equivalent.state.items() if theirs in defaults]
    assert "V_m" in shown
    for ours in shown:
        theirs, unit = equivalent.state[ours]
        value = initial[ours] / parse_unit(unit).scale
        assert value == pytest.approx(defaults[theirs], rel=1e-12, abs=1e-12), (ours, theirs)


# ------------------------------------------------------------------------------ Izhikevich
# Izhikevich (2003) IEEE Trans Neural Netw 14:1569, Fig. 2: (a, b, c/mV, d/mV).
IZHIKEVICH_2003 = {
    "RS": (0.02, 0.2, -65.0, 8.0),
    "IB": (0.02, 0.2, -55.0, 4.0),
    "CH": (0.02, 0.2, -50.0, 2.0),
    "FS": (0.1, 0.2, -65.0, 2.0),
    "LTS": (0.02, 0.25, -65.0, 2.0),
    "TC": (0.02, 0.25, -65.0, 0.05),
    "RZ": (0.1, 0.26, -65.0, 2.0),
}


def test_izhikevich_presets_match_published_table():
    model = lifbridge.load("izhikevich")
    assert set(model.presets) == set(IZHIKEVICH_2003)
    for preset, (a, b, c, d) in IZHIKEVICH_2003.items():
        assert dict(model.presets[preset]) == {"a": a, "b": b, "c": c, "d": d}
        variant = model.with_preset(preset)
        assert [variant.parameters[k].value for k in "abcd"] == [a, b, c, d]
    # the default parameters are the RS cell
    assert [model.parameters[k].value for k in "abcd"] == list(IZHIKEVICH_2003["RS"])


def test_izhikevich_current_scale_is_nest_and_paper():
    """I = 10 pA gives 10 mV/ms, the paper's I = 10 (R = 1 GOhm, as in NEST)."""
    model = lifbridge.load("izhikevich")
    ns0 = namespace(model)
    ns10 = namespace(model, inputs={"I_stim": 10e-12})
    extra = ex.evaluate(model.equations["V_m"], ns10) - ex.evaluate(model.equations["V_m"], ns0)
    assert extra == pytest.approx(10.0, rel=1e-12)  # V/s = mV/ms


# ------------------------------------------------------------------------------ Hodgkin-Huxley
def test_hh_initial_gates_are_steady_state_of_own_rates():
    model = lifbridge.load("hh")
    ns = namespace(model)
    assert ns["V_m"] == pytest.approx(-65e-3)
    for gate in "mhn":
        alpha, beta = ns[f"alpha_{gate}"], ns[f"beta_{gate}"]
        assert model.initial_values_si()[gate] == pytest.approx(alpha / (alpha + beta), rel=1e-12)
        assert abs(ex.evaluate(model.equations[gate], ns)) < 1e-9  # d gate/dt, 1/s
    # E_L is chosen so that -65 mV is the resting potential
    assert abs(ex.evaluate(model.equations["V_m"], ns)) < 1e-2  # V/s, i.e. < 0.01 mV/ms


def test_hh_alpha_psc_peaks_at_weight():
    """NEST's normalisation: a spike of weight w gives an alpha current peaking at w after tau_syn."""
    model = lifbridge.load("hh")
    for port, current, aux, tau in (("exc_spikes", "I_syn_exc", "dI_syn_exc", "tau_syn_exc"),
                                    ("inh_spikes", "I_syn_inh", "dI_syn_inh", "tau_syn_inh")):
        ns = namespace(model)
        (kick,) = model.inputs[port].on_spike
        assert kick.target == aux
        weight = 100e-12
        y0 = [0.0, float(ex.evaluate(kick.value, dict(ns, weight=weight)))]
        f_i, f_d = (ex.compile_expression(model.equations[n]) for n in (current, aux))

        def rhs(t, y):
            local = dict(ns, **{current: y[0], aux: y[1]})
            return [f_i(local), f_d(local)]

        tau_syn = ns[tau]
        solution = solve_ivp(rhs, (0.0, 10 * tau_syn), y0, dense_output=True, rtol=1e-10, atol=1e-20)
        t = np.linspace(0.0, 10 * tau_syn, 20001)
        i_syn = solution.sol(t)[0]
        assert i_syn.max() == pytest.approx(weight, rel=1e-6)
        assert t[i_syn.argmax()] == pytest.approx(tau_syn, rel=1e-3)
        # the inhibitory current enters with a negative sign
        sign = -1 if port == "inh_spikes" else 1
        bumped = dict(model.initial_values_si(), **{current: weight})
        dv = ex.evaluate(model.equations["V_m"], namespace(model, bumped)) - ex.evaluate(model.equations["V_m"], ns)
        assert dv == pytest.approx(sign * weight / ns["C_m"], rel=1e-9)


def test_hh_spike_condition_is_at_the_peak_above_zero():
    model = lifbridge.load("hh")
    rising = namespace(model, dict(model.initial_values_si(), V_m=10e-3, m=0.9, h=0.6, n=0.3))
    falling = namespace(model, dict(model.initial_values_si(), V_m=10e-3, m=0.1, h=0.1, n=0.9))
    assert rising["I_m"] > 0 and falling["I_m"] < 0
    assert not ex.evaluate(model.spike.condition, rising)
    assert ex.evaluate(model.spike.condition, falling)
    assert not ex.evaluate(model.spike.condition, namespace(model))
    assert model.spike.reset == ()
    assert model.refractory.clamp == ()


# ------------------------------------------------------------------------------ optogenetics
def _opsin_rhs(model, phi):
    ns = namespace(model, inputs={"phi": phi})
    f_o, f_d = (ex.compile_expression(model.equations[n]) for n in ("O", "D"))
    aliases = [(name, ex.compile_expression(model.aliases[name].expr)) for name in model.aliases_in_order()]

    def rhs(t, y):
        local = dict(ns, O=y[0], D=y[1])
        for name, f in aliases:
            local[name] = f(local)
        return np.array([f_o(local), f_d(local)])

    return rhs


def test_optogenetic_desensitisation_gives_peak_then_lower_plateau():
    model = lifbridge.load("optogenetic_lif")
    assert model.light_input == "phi"
    phi = 5.0 * model.inputs["phi"].unit.scale  # 5 mW/mm^2 in W/m^2
    rhs = _opsin_rhs(model, phi)
    # the O/D system is affine: read off A and b and solve A x + b = 0
    b = rhs(0.0, [0.0, 0.0])
    A = np.column_stack([rhs(0.0, [1.0, 0.0]) - b, rhs(0.0, [0.0, 1.0]) - b])
    probe = np.array([0.3, 0.2])
    assert np.allclose(rhs(0.0, probe), A @ probe + b, rtol=1e-12, atol=0.0)
    open_ss, desensitised_ss = np.linalg.solve(A, -b)
    assert 0.0 < open_ss < 1.0 and 0.0 < desensitised_ss < 1.0 and open_ss + desensitised_ss < 1.0

    # the closed form of lifbridge.analytic agrees with the model's own equations
    p = {k: v.value for k, v in model.parameters.items()}
    assert open_ss == pytest.approx(analytic.three_state_opsin_steady_state(
        5.0, k_a=p["k_a"], tau_d=p["tau_d"], tau_r=p["tau_r"]), rel=1e-9)

    initial = model.initial_values_si()
    solution = solve_ivp(rhs, (0.0, 2.0), [initial["O"], initial["D"]], method="LSODA",
                         rtol=1e-9, atol=1e-12, max_step=1e-3, dense_output=True)
    t = np.linspace(0.0, 2.0, 200001)
    open_, desensitised = solution.sol(t)
    peak = open_.max()
    assert peak / open_ss > 1.5
    assert 1e-3 < t[open_.argmax()] < 0.1  # peak within ~100 ms of light onset
    assert open_[-1] == pytest.approx(open_ss, rel=1e-4)  # then relaxes to the plateau
    assert np.all(open_ >= -1e-12) and np.all(open_ + desensitised <= 1.0 + 1e-12)

    # a few hundred pA at rest; the plateau photocurrent is clearly lower
    drive = p["E_ChR"] - p["E_L"]
    assert 200.0 < p["g_ChR"] * peak * drive < 1500.0  # pA
    assert p["g_ChR"] * open_ss * drive < p["g_ChR"] * peak * drive / 1.5


def test_optogenetic_photocurrent_depolarises():
    model = lifbridge.load("optogenetic_lif")
    state = dict(model.initial_values_si(), O=0.1)
    ns = namespace(model, state)
    assert ns["I_ChR"] > 0
    assert ex.evaluate(model.equations["V_m"], ns) > ex.evaluate(model.equations["V_m"], namespace(model))
    assert ns["C"] == pytest.approx(0.9)


def test_optogenetic_dark_state_is_at_rest():
    model = lifbridge.load("optogenetic_lif")
    ns = namespace(model)
    for name in model.state:
        assert ex.evaluate(model.equations[name], ns) == 0.0, name


# ------------------------------------------------------------------------------ AdEx
def test_adex_right_hand_sides_see_v_m_bounded_at_v_peak():
    """As in NEST's aeif models, min(V_m, V_peak) enters every term, so an overshoot of
    V_peak within a step neither overflows the exponential nor kicks w."""
    model = lifbridge.load("adex")
    at_peak = namespace(model, dict(model.initial_values_si(), V_m=model.parameter_values_si()["V_peak"]))
    overshoot = namespace(model, dict(model.initial_values_si(), V_m=1e3))
    for name in ("V_m", "w"):
        assert ex.evaluate(model.equations[name], overshoot) == ex.evaluate(model.equations[name], at_peak)
    assert np.isfinite(overshoot["I_spike"])
