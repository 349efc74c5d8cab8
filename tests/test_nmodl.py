"""The NMODL printer (lifbridge.nmodl) and its build (lifbridge.nmodl_build).

Exact strings per construct, the split of the membrane equation around the current input,
refusals as one-line errors, and every model's .mod compiled by NEURON's nrnivmodl (all in
one library, cached by content hash).
"""

import dataclasses
from types import MappingProxyType

import pytest

import lifbridge
from lifbridge import expr as ex
from lifbridge.nmodl import (NmodlError, NmodlPrinter, event_function, mechanism_name, membrane,
                             section_capacitance_nF, to_nmodl)

ALL_MODELS = sorted(set(lifbridge.bundled_models()) | set(lifbridge.compositions()))


def _printer():
    return NmodlPrinter({"V_m": ("v", 1e-3), "C_m": ("C_m", 1e-9), "g": ("g", 1.0)})


def _tree(text):
    return ex.parse_expression(text, {"V_m", "C_m", "g"})


@pytest.mark.parametrize("text,printed", [
    ("V_m", "(v*0.001)"),
    ("g", "g"),
    ("-g", "-g"),
    ("g**3", "((g)^(3.0))"),
    ("exp(g)/C_m", "exp(g) / (C_m*1e-09)"),
    ("abs(g)", "fabs(g)"),
    ("min(g, V_m)", "lb_min(g, (v*0.001))"),
    ("g - (g - g)", "g - (g - g)"),
    ("70*mV", "70.0 * 0.001"),
    ("g*(-2.5)", "g * (-2.5)"),
])
def test_printer_prints_each_construct_over_si_values(text, printed):
    assert _printer().doprint(_tree(text)) == printed


def test_printer_refuses_unknown_names_and_functions():
    with pytest.raises(NmodlError, match="the name 'x' has no value"):
        _printer().doprint(ex.Sym("x"))
    with pytest.raises(NmodlError, match="cannot print the function sin"):
        _printer().doprint(ex.Call("sin", (ex.Sym("g"),)))
    with pytest.raises(NmodlError, match="finite"):
        _printer().doprint(ex.Num(float("nan")))


def test_event_function_follows_the_reference_integrator():
    g = event_function(_tree("V_m >= C_m and g < 1"))
    assert isinstance(g, ex.Call) and g.func == "min"
    inline = NmodlPrinter(_printer().names, inline_min_max=True).doprint(g)
    assert "lb_min" not in inline and "fabs" in inline     # WATCH cannot call a FUNCTION


def test_membrane_is_split_around_the_current_input():
    model = lifbridge.load("lif")
    split = membrane(model)
    assert split.variable == "V_m" and "I_stim" not in ex.symbols(split.rest)
    si = model.parameter_values_si()
    assert section_capacitance_nF(model, si) == pytest.approx(0.25)      # C_m = 250 pF
    izh = lifbridge.load("izhikevich")                                      # dV/dt = ... + I*GOhm/ms
    assert section_capacitance_nF(izh, izh.parameter_values_si()) == pytest.approx(1e-3)


def test_lif_mod_file():
    text = to_nmodl(lifbridge.load("lif"))
    assert "POINT_PROCESS lb_lif\n" in text
    assert "    C_m = 0.25 : nF, membrane capacitance\n" in text
    assert "    V_th = -55.0 : mV, spike threshold\n" in text
    assert "    I_syn_exc' = (1 - lb_retired)*(-(I_syn_exc*1e-09) / (tau_syn_exc*0.001))*1000000.0\n" in text
    assert "SOLVE lb_states METHOD cnexp" in text
    assert "NET_RECEIVE (weight, lb_receptor) {\n    LOCAL lb_w\n    INITIAL {" in text
    assert "lb_w = (-1.0)*weight : inh_spikes" in text          # PyNN: inhibitory currents are negative
    assert "net_send(((t_ref*0.001))*1000.0, 3)" in text
    assert "lb_i = lb_gclamp*(v - lb_hold_V_m)" in text
    assert all(len(line) <= 200 for line in text.splitlines())


def test_conductances_take_positive_weights_on_both_ports():
    text = to_nmodl(lifbridge.load("lif_cond_alpha"))
    assert text.count("lb_w = 1.0*weight") == 2


def test_multisynapse_models_route_by_receptor_index():
    model = lifbridge.load("lif", receptors=[("exc", "psc_exp"), ("inh", "psc_alpha"), ("slow", "psc_exp")])
    text = to_nmodl(model)
    for index in range(len(model.spike_inputs)):
        assert f"(lb_receptor == {index})" in text


@pytest.mark.parametrize("bad", ["x\nimport os", "1x", "v", "dt", "lb_x", "weight", "x y", "class"])
def test_names_that_are_not_nmodl_identifiers_are_refused(bad):
    model = lifbridge.load("lif")
    parameters = {bad if n == "tau_m" else n: p for n, p in model.parameters.items()}
    broken = dataclasses.replace(model, parameters=MappingProxyType(parameters))
    with pytest.raises(NmodlError) as error:
        to_nmodl(broken)
    assert "\n" not in str(error.value)
    with pytest.raises(NmodlError):
        mechanism_name(dataclasses.replace(model, name=bad))


def test_a_current_input_that_does_not_enter_additively_is_refused():
    model = lifbridge.load("lif")
    eq = dict(model.equations, V_m=ex.parse_expression("I_stim*I_stim/C_m/pA", set(model.parameters) |
                                                        set(model.state) | {"I_stim"}))
    with pytest.raises(NmodlError, match="must enter additively"):
        to_nmodl(dataclasses.replace(model, equations=MappingProxyType(eq)))


@pytest.mark.parametrize("name", ALL_MODELS)
def test_every_model_prints(name):
    text = to_nmodl(lifbridge.load(name))
    assert text.startswith(": lb_")
    assert "WATCH (" in text


@pytest.mark.pynn_neuron
def test_every_model_compiles_with_nrnivmodl_and_loads():
    pytest.importorskip("neuron")
    from lifbridge import nmodl_build

    models = [lifbridge.load(n) for n in ALL_MODELS]
    loaded = nmodl_build.load(models)
    from neuron import h

    assert set(loaded) == set(ALL_MODELS)
    for mechanism in loaded.values():
        assert hasattr(h, mechanism)


def test_generate_target_nmodl_writes_the_mod_file(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "lif.mod"
    done = subprocess.run([sys.executable, "-m", "lifbridge", "generate", "lif", "--target", "nmodl", "-o", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert out.read_text() == to_nmodl(lifbridge.load("lif"))
