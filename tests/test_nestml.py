"""The NESTML generator: committed files are current, and names, units, spike condition,
reset, refractoriness and inputs carry over from the model specs.

No NEST or NESTML is run here (the compiled models are tested in test_nest.py).
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

import lifbridge
from lifbridge import expr as ex
from lifbridge.errors import ExpressionError
from lifbridge.nestml import (REFRACTORY_COUNTER, REFRACTORY_STEPS, continuous_receptors, main, nestml_path,
                              nestml_unit, neuron_name, stale_files, to_nestml, write_all)
from lifbridge.spec import bundled_models
from lifbridge.units import parse_unit

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "nestml_models"
MODELS = bundled_models()


@pytest.fixture(scope="module", params=MODELS)
def generated(request):
    model = lifbridge.load(request.param)
    return model, to_nestml(model)


def _block(text, name):
    """The lines of a top-level block (``state:``, ``parameters:`` ...) of the neuron."""
    lines = text.splitlines()
    start = lines.index(f"    {name}:") + 1
    body = []
    for line in lines[start:]:
        if line and not line.startswith("        "):
            break
        if line.strip():
            body.append(line.strip())
    return body


def _declarations(text, block):
    """name -> (type, initial value text) of the declarations in a block (comments removed)."""
    out = {}
    for line in _block(text, block):
        code = line.split("  #")[0]
        match = re.match(r"(inline\s+)?(\w+)\s+(.+?)\s+=\s+(.+)$", code)
        if match:
            out[match.group(2)] = (match.group(3), match.group(4))
    return out


def _literal_unit(text):
    """(dimension, SI scale) of a NESTML unit literal: ``mV``, ``* ((1 pA) / (1 ms))``."""
    text = text.removeprefix("* ")
    text = re.sub(r"\b1 ([A-Za-z]+)", r"\1", text)
    unit = parse_unit(text)
    return unit.dim, unit.scale


# ------------------------------------------------------------------------------ committed files
def test_committed_files_are_what_the_generator_writes():
    """Fails when a model spec or the generator changed without `python -m lifbridge.nestml`."""
    stale = stale_files(COMMITTED)
    assert not stale, (f"stale NESTML files {[p.name for p in stale]}: regenerate them with "
                       f"`python -m lifbridge.nestml` and commit nestml_models/")


def test_every_committed_file_belongs_to_a_bundled_model():
    expected = {f"{neuron_name(lifbridge.load(m))}.nestml" for m in MODELS}
    assert {p.name for p in COMMITTED.glob("*.nestml")} == expected


def test_regenerating_is_one_command(tmp_path):
    out = subprocess.run([sys.executable, "-m", "lifbridge.nestml", str(tmp_path)], capture_output=True,
                         text=True, cwd=ROOT, check=True)
    written = sorted(p.name for p in tmp_path.glob("*.nestml"))
    assert written == sorted(f"{m}_neuron.nestml" for m in MODELS)
    assert len(out.stdout.split()) == len(MODELS)
    for name in MODELS:
        assert (tmp_path / f"{name}_neuron.nestml").read_text() == to_nestml(lifbridge.load(name))
    # --check: 0 when current, 1 (with the file named) when one differs
    assert main([str(tmp_path), "--check"]) == 0
    (tmp_path / "lif_neuron.nestml").write_text("# edited\n")
    check = subprocess.run([sys.executable, "-m", "lifbridge.nestml", str(tmp_path), "--check"],
                           capture_output=True, text=True, cwd=ROOT)
    assert check.returncode == 1 and "lif_neuron.nestml" in check.stderr


def test_write_all_returns_the_paths(tmp_path):
    paths = write_all(tmp_path, models=["lif", "adex"])
    assert paths == [nestml_path(lifbridge.load("lif"), tmp_path), nestml_path(lifbridge.load("adex"), tmp_path)]
    assert stale_files(tmp_path, models=["lif", "adex"]) == []


# ------------------------------------------------------------------------------ what carries over
def test_neuron_is_named_after_the_model(generated):
    model, text = generated
    assert re.search(rf"^model {model.name}_neuron:$", text, re.MULTILINE)


def test_parameters_keep_names_units_and_values(generated):
    model, text = generated
    declared = _declarations(text, "parameters")
    assert list(declared) == list(model.parameters)
    for name, p in model.parameters.items():
        unit, value = declared[name]
        assert unit == nestml_unit(p.unit)
        number, _, literal = value.partition(" ")
        assert float(number) == p.value, (name, value)
        if unit != "real":
            assert _literal_unit(literal) == (p.unit.dim, pytest.approx(p.unit.scale, rel=1e-12)), value


def test_state_keeps_names_units_and_initial_values(generated):
    model, text = generated
    declared = _declarations(text, "state")
    assert list(declared)[:len(model.state)] == list(model.state)
    for name, var in model.state.items():
        unit, value = declared[name]
        assert unit == nestml_unit(var.unit)
        if isinstance(var.initial, float):
            assert float(value.split()[0]) == var.initial
        else:
            assert value == lifbridge.nestml.NestmlPrinter().doprint(var.initial)
    if model.refractory:
        assert declared[REFRACTORY_COUNTER] == ("integer", "0")
    else:
        assert REFRACTORY_COUNTER not in declared


def test_equations_and_expressions_are_all_there(generated):
    model, text = generated
    body = _block(text, "equations")
    for var in model.equations:
        assert sum(line.startswith(f"{var}' = ") for line in body) == 1
    inlines = _declarations(text, "equations")
    for name, alias in model.aliases.items():
        assert inlines[name][0] == nestml_unit(alias.unit)


def test_spike_condition_reset_and_refractoriness(generated):
    model, text = generated
    printer = lifbridge.nestml.NestmlPrinter()
    condition = printer.doprint(model.spike.condition)
    if model.refractory:
        expected = f"onCondition({REFRACTORY_COUNTER} == 0 and ({condition})):"
        assert _declarations(text, "internals")[REFRACTORY_STEPS] == (
            "integer", f"steps({printer.doprint(model.refractory.period)})")
    else:
        expected = f"onCondition({condition}):"
    assert expected in text
    block = text[text.index(expected):].splitlines()[1:]
    statements = [line.strip() for line in block if line.startswith("        ")]
    resets = [f"{a.target} {a.op} {printer.doprint(a.value)}" for a in model.spike.reset]
    head = [f"{REFRACTORY_COUNTER} = {REFRACTORY_STEPS}"] if model.refractory else []
    assert statements == head + resets + ["emit_spike()"]


def test_clamped_variables_are_not_integrated_while_refractory(generated):
    model, text = generated
    update = "\n".join(_block(text, "update"))
    if model.refractory and model.refractory.clamp:
        free = [v for v in model.state if v not in model.refractory.clamp]
        assert f"if {REFRACTORY_COUNTER} > 0:" in update
        assert f"integrate_odes({', '.join(free)})" in update
        for var in model.refractory.clamp:
            assert var not in free
    else:
        assert "integrate_odes()" in update


def test_inputs_become_ports(generated):
    model, text = generated
    ports = _block(text, "input")
    for name, port in model.inputs.items():
        if port.kind == "spike":
            assert any(re.match(rf"{name} <- {port.sign} spike\b", line) for line in ports)
            assert f"onReceive({name}):" in text
        else:
            assert any(re.match(rf"{re.escape(name)} {re.escape(nestml_unit(port.unit))} <- continuous\b", line)
                       for line in ports)
    # continuous ports appear in spec order: that order is NEST's receptor_type
    names = [line.split()[0] for line in ports if "<- continuous" in line]
    assert names == list(continuous_receptors(model))


def test_spike_weights_enter_in_the_port_unit():
    """A spike port is a sum of delta pulses (1/s) in NESTML: times 1 s and the unit it is the weight."""
    text = to_nestml(lifbridge.load("lif"))
    assert "I_syn_exc += (exc_spikes * 1 pA * 1 s)" in text
    assert "I_syn_inh += (inh_spikes * 1 pA * 1 s)" in text
    text = to_nestml(lifbridge.load("izhikevich"))
    assert "V_m -= (inh_spikes * 1 mV * 1 s)" in text
    text = to_nestml(lifbridge.load("lif_cond"))
    assert "g_exc += (exc_spikes * 1 nS * 1 s)" in text


def test_light_is_the_second_continuous_port():
    model = lifbridge.load("optogenetic_lif")
    assert continuous_receptors(model) == {"I_stim": 0, "phi": 1}
    text = to_nestml(model)
    assert "phi mW/mm**2 <- continuous" in text
    assert "CurrentEvent receptor_type 1" in text


def test_compound_units_are_written_as_unit_literals():
    """NESTML allows unit names in expressions only after a number."""
    hh = to_nestml(lifbridge.load("hh"))
    assert "dI_syn_exc pA/ms = 0 * ((1 pA) / (1 ms))" in hh
    opto = to_nestml(lifbridge.load("optogenetic_lif"))
    assert "k_a 1/(ms*mW/mm**2) = 0.01 * (1 / (((1 ms) * (1 mW)) / (1 mm)**2))" in opto
    assert nestml_unit(parse_unit("1")) == "real"
    assert nestml_unit(parse_unit("Gohm")) == "GOhm"


def test_unit_literals_in_expressions():
    izh = to_nestml(lifbridge.load("izhikevich"))
    assert "(I_e + I_stim) * (1 GOhm)) / (1 ms)" in izh
    assert "0.04 / (1 mV) * V_m**2" in izh


def test_functions_are_nestml_functions():
    printer = lifbridge.nestml.NestmlPrinter()
    names = {"x", "y"}
    assert printer.doprint(ex.parse_expression("log(x) + min(x, y)", names)) == "ln(x) + min(x, y)"


def test_reserved_names_are_refused():
    model = lifbridge.load("lif")
    from dataclasses import replace
    from types import MappingProxyType

    params = dict(model.parameters)
    params[REFRACTORY_COUNTER] = replace(params["t_ref"], name=REFRACTORY_COUNTER)
    with pytest.raises(ExpressionError, match=REFRACTORY_COUNTER):
        to_nestml(replace(model, parameters=MappingProxyType(params)))


def test_header_says_how_to_regenerate(generated):
    model, text = generated
    assert "python -m lifbridge.nestml" in text
    assert f"lifbridge generate {model.name} --target nestml" in text
