"""Model files: every bundled model loads; every file in tests/bad_models/ fails with one located message.

Each bad model starts with two comment lines saying what the error must be::

    # expect-field: [equations].V_m      (or "-" for an error about the whole file)
    # expect: cannot add

A file too broken to hold comments (the empty file) has its expectation in NO_HEADER.
"""

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import lifbridge
from lifbridge import spec
from lifbridge.errors import SpecError

ROOT = Path(__file__).resolve().parent.parent
BAD = sorted((Path(__file__).resolve().parent / "bad_models").glob("*.toml"))
MODELS = sorted((ROOT / "models").glob("*.toml"))
#: The model files as they were before composition (whole files, synapses typed in): the
#: reader's checks are tested on them; tests/test_compose.py checks that composition
#: gives the same models.
LEGACY = Path(__file__).resolve().parent / "data" / "legacy_models"
NO_HEADER = {"empty.toml": ("-", "the file is empty")}
SENTINELS = [Path("/tmp/lifbridge_pwned_by_model")]
CLI = ROOT / "lifbridge" / "cli.py"
MAIN = ROOT / "lifbridge" / "__main__.py"


def expectation(path):
    if path.name in NO_HEADER:
        return NO_HEADER[path.name]
    head = path.read_bytes()[:2000].decode("ascii", errors="replace")
    field = re.search(r"^# expect-field: *(.*?) *$", head, re.M)
    phrase = re.search(r"^# expect: *(.*?) *$", head, re.M)
    assert field and phrase, f"{path.name} needs '# expect-field:' and '# expect:' header lines"
    return field.group(1), phrase.group(1)


def check_message(message, path, field, phrase):
    lines = message.splitlines()
    caret = len(lines) == 3 and lines[2].strip() == "^"
    assert len(lines) == 1 or caret, f"not one line: {message!r}"
    first = lines[0]
    assert path.name in first, first
    located = first[first.index(path.name) + len(path.name):]
    if field == "-":
        assert located.startswith(": "), first
    else:
        assert located.startswith(f" {field}: "), f"expected field {field!r} in {first!r}"
    assert phrase in message, f"expected {phrase!r} in {message!r}"
    for noise in ("Traceback", "Dimension(", "Fraction(", "Unit(dim", "<class", "object at 0x", "\\n"):
        assert noise not in message, f"{noise!r} in {message!r}"


def test_there_are_enough_bad_models():
    assert len(BAD) >= 20


@pytest.fixture(autouse=True)
def no_sentinels():
    for sentinel in SENTINELS:
        if sentinel.exists():
            sentinel.unlink()
    yield
    for sentinel in SENTINELS:
        assert not sentinel.exists(), f"a model file created {sentinel}"


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_model_is_rejected_with_a_located_message(path):
    field, phrase = expectation(path)
    with pytest.raises(SpecError) as info:
        lifbridge.load(path)
    check_message(str(info.value), path, field, phrase)
    error = info.value
    assert error.field == ("" if field == "-" else field)


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_model_through_the_command_line(path, cli_results):
    field, phrase = expectation(path)
    returncode, stdout, stderr = cli_results[path]
    assert "Traceback" not in stderr, stderr
    assert returncode == 2, (returncode, stderr)
    message = stderr.strip()
    assert message, "no message on stderr"
    check_message(message, path, field, phrase)


@pytest.fixture(scope="module")
def cli_results():
    """``python -m lifbridge show FILE`` for every bad model, run in parallel."""
    if not (CLI.exists() and MAIN.exists()):
        pytest.skip("the command line (lifbridge/cli.py, lifbridge/__main__.py) is not there yet")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))

    def run(path):
        done = subprocess.run([sys.executable, "-m", "lifbridge", "show", str(path)], capture_output=True,
                              text=True, cwd=ROOT, env=env, timeout=120)
        return path, (done.returncode, done.stdout, done.stderr)

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return dict(pool.map(run, BAD))


@pytest.mark.parametrize("path", MODELS, ids=[p.stem for p in MODELS])
def test_bundled_model_loads(path):
    model = lifbridge.load(path)
    assert model.name
    assert set(model.equations) == set(model.state)
    model.check_constraints()
    values = model.initial_values_si()
    assert set(values) == set(model.state)


def test_bundled_models_load_by_name():
    for name in lifbridge.bundled_models():
        assert lifbridge.load(name).name


def test_lif_contents(lif):
    assert lif.parameters["C_m"].value == 250.0
    assert lif.parameters["C_m"].unit.name == "pF"
    assert lif.state["V_m"].unit.name == "mV"
    assert lif.spike is not None and lif.refractory is not None
    assert lif.initial_values_si()["V_m"] == pytest.approx(-0.070)
    assert lif.spike_inputs["exc_spikes"].on_spike[0].target == "I_syn_exc"


# ---------------------------------------------------------------------------- build_model directly
def lif_data():
    import tomllib

    return tomllib.loads((LEGACY / "lif.toml").read_text())


def test_build_model_from_data():
    model = spec.build_model(lif_data(), "mine.toml")
    assert model.source == "mine.toml"


@pytest.mark.parametrize("change, field, phrase", [
    (lambda d: d.update(model=[1]), "[model]", "must be a table"),
    (lambda d: d["parameters"].update(C_m=250.0), "[parameters].C_m", "must be an inline table"),
    (lambda d: d["parameters"]["C_m"].update(value=float("inf")), "[parameters].C_m.value", "finite"),
    (lambda d: d["state"]["V_m"].update(initial=[1]), "[state].V_m.initial", "must be a number"),
    (lambda d: d["equations"].update(V_m=["a"]), "[equations].V_m", "expected an expression in quotes"),
    (lambda d: d["spike"].update(reset="V_m == V_reset"), "[spike].reset[0]", "use '=' to assign"),
    (lambda d: d["spike"].update(reset="V_m = = V_reset"), "[spike].reset[0]", "syntax error"),
    (lambda d: d["spike"].update(reset=[3]), "[spike].reset[0]", "must be a string"),
    (lambda d: d["spike"].update(reset=["V_m *= V_reset"]), "[spike].reset[0]", "a dimensionless factor"),
    (lambda d: d["spike"].update(reste=[]), "[spike].reste", "did you mean 'reset'"),
    (lambda d: d["refractory"].update(period="V_m"), "[refractory].period", "'V_m' is a state variable"),
    (lambda d: d["refractory"].update(period="-t_ref"), "[refractory].period", ">= 0"),
    (lambda d: d["refractory"].update(clamp=["w"]), "[refractory].clamp", "must be a list of state variables"),
    (lambda d: d["inputs"]["I_stim"].update(unit="mV"), "[inputs].I_stim.unit", "current unit"),
    (lambda d: d["inputs"]["exc_spikes"].update(sign="up"), "[inputs].exc_spikes.sign", "excitatory"),
    (lambda d: d["inputs"]["exc_spikes"].update(on_spike=["V_th += weight"]), "[inputs].exc_spikes.on_spike[0]",
     "it is a parameter"),
    (lambda d: d.update(presets={"fast": {"tau_m": -1.0}}), "[presets.fast].tau_m", "must be > 0"),
    (lambda d: d.update(presets={"hot": {"V_reset": -40.0}}), "[presets.hot]", "does not hold"),
    (lambda d: d.update(presets={"x": {"tau": 1.0}}), "[presets.x].tau", "did you mean 'tau_m'"),
    (lambda d: d["hints"].update(brain2_method="exact"), "[hints].brain2_method", "did you mean 'brian2_method'"),
    (lambda d: d["model"].update(name="my model"), "[model].name", "not a valid model name"),
    (lambda d: d["constraints"].append({"check": "tau_m"}), "[[constraints]][1].check", "must be a comparison"),
    (lambda d: d.update(expressions={"I_L": {"expr": "V_m - E_L", "unit": "pA"}}), "[expressions].I_L.expr",
     "must be in pA"),
    (lambda d: d["state"]["V_m"].update(initial="I_e"), "[state].V_m.initial", "must be in mV"),
    (lambda d: d["state"].update({"1x": {"unit": "mV", "initial": 0.0}}), "[state].1x", "not a valid name"),
    (lambda d: d["parameters"].update(dt={"value": 0.1, "unit": "ms"}), "[parameters].dt", "reserved"),
    (lambda d: d["inputs"].update(V_m={"kind": "spike", "sign": "excitatory", "unit": "mV",
                                       "on_spike": ["V_m += weight"]}), "[inputs].V_m", "duplicate name"),
])
def test_build_model_errors(change, field, phrase):
    data = lif_data()
    change(data)
    with pytest.raises(SpecError) as info:
        spec.build_model(data, "mine.toml")
    error = info.value
    assert error.field == field, str(error)
    assert phrase in error.problem, str(error)
    lines = str(error).splitlines()
    assert len(lines) == 1 or (len(lines) == 3 and lines[2].strip() == "^"), str(error)


def test_model_with_expressions_loads():
    data = lif_data()
    data["expressions"] = {"I_L": {"expr": "C_m*(V_m - E_L)/tau_m", "unit": "pA"},
                           "I_tot": {"expr": "I_syn_exc - I_syn_inh + I_e + I_stim - I_L", "unit": "pA"}}
    data["equations"]["V_m"] = "I_tot/C_m"
    model = spec.build_model(data, "mine.toml")
    assert model.aliases_in_order() == ["I_L", "I_tot"]


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(SpecError, match="no such model file"):
        lifbridge.load(tmp_path / "nothing.toml")
    with pytest.raises(SpecError, match="cannot read file"):
        spec.load_file(tmp_path)
    with pytest.raises(lifbridge.LifbridgeError, match="unknown model 'no_such_model'"):
        lifbridge.load("no_such_model")


def test_utf8_with_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + (LEGACY / "lif.toml").read_bytes())
    assert lifbridge.load(path).name == "lif"


def test_huge_file_is_refused(tmp_path):
    path = tmp_path / "huge.toml"
    path.write_bytes(b"# " + b"x" * 2_000_000 + b"\n")
    with pytest.raises(SpecError, match="too large"):
        lifbridge.load(path)


def test_with_parameters_rejects_bad_values(lif):
    with pytest.raises(lifbridge.ParameterError):
        lif.with_parameters(C_m=True)
    with pytest.raises(lifbridge.ParameterError):
        lif.with_parameters(E_L=float("nan"))
    with pytest.raises(lifbridge.ParameterError, match="C_m"):
        lif.with_parameters(C_m="250 mV")
    with pytest.raises(lifbridge.ParameterError, match="C_m"):
        lif.with_parameters(C_m="fast")
    assert lif.with_parameters(C_m="0.5nF").parameters["C_m"].value == 500.0


# ---------------------------------------------------------------------------- [hints]
def with_hint(**hints):
    data = lif_data()
    data["hints"].update(hints)
    return data


@pytest.mark.parametrize("hints, phrase", [
    ({"brian2_method": "exakt"}, "did you mean 'exact'"),
    ({"brian2_method": 4}, "use one of: exact, linear, exponential_euler, rk4"),
    ({"brian2_method": "gsl"}, "is not allowed"),
    ({"nestml_solver": "rk4"}, "use one of: rk45, forward-Euler"),
    ({"analytic": "LIF"}, "did you mean 'lif'"),
    ({"analytic": "pif"}, "the closed form 'pif' does not describe this model"),
    ({"analytic": "eif"}, "reads the parameters g_L, Delta_T, V_peak, which the model does not have"),
    ({"analytic": "adaptive_lif"}, "g_a, E_K, tau_a, b"),
    ({"nest_builtin": "iaf psc"}, "must be the name of a NEST model"),
    ({"nest_builtin": ["iaf_psc_exp"]}, "must be the name of a NEST model"),
    ({"fi_current_range_pA": "0:2000"}, "must be two finite numbers [lo, hi] in pA with lo < hi"),
    ({"fi_current_range_pA": [2000.0, 0.0]}, "lo < hi"),
    ({"fi_current_range_pA": [0.0, float("inf")]}, "finite"),
    ({"fi_current_range_pA": [0.0, 10 ** 400]}, "an integer of 401 digits"),
    ({"fi_current_range_pA": [0.0]}, "two finite numbers"),
    ({"validation_dt_ms": 0.0}, "must be a positive finite number (in ms)"),
    ({"validation_dt_ms": "0.1"}, "must be a positive finite number"),
    ({"reference_max_step_ms": float("nan")}, "must be a positive finite number"),
    ({"reference_rtol": 1.5}, "between 0 and 1"),
    ({"reference_rtol": 0}, "between 0 and 1"),
    ({"spike_variable": "V_n"}, "is not a state variable (did you mean 'V_m'?)"),
    ({"notes": 5}, "must be a string"),
    ({"notes": "a\x0bb"}, "control character"),
])
def test_hints_are_checked(hints, phrase):
    [key] = hints
    with pytest.raises(SpecError) as info:
        spec.build_model(with_hint(**hints), "mine.toml")
    assert info.value.field == f"[hints].{key}", str(info.value)
    assert phrase in info.value.problem, str(info.value)
    assert len(str(info.value).splitlines()) == 1


def test_valid_hints_are_kept():
    model = spec.build_model(with_hint(fi_current_range_pA=[0, 2000], validation_dt_ms=0.05, reference_rtol=1e-9,
                                       spike_variable="V_m", nestml_solver="rk45"), "mine.toml")
    assert model.hints["fi_current_range_pA"] == [0.0, 2000.0]
    assert model.hints["validation_dt_ms"] == 0.05 and model.hints["spike_variable"] == "V_m"


def test_analytic_hint_of_every_bundled_model_fits():
    for name in lifbridge.bundled_models():
        model = lifbridge.load(name)
        kind = model.hints.get("analytic")
        assert kind is None or kind in spec.ANALYTIC_FORMS


def test_analytic_lif_for_a_conductance_model_uses_C_m_over_g_L():
    data = tomllib_load("lif_cond")
    data["hints"]["analytic"] = "lif"
    assert spec.build_model(data, "x.toml").hints["analytic"] == "lif"
    data["parameters"]["g_L"]["value"] *= 2     # still a LIF, with tau_m = C_m/g_L
    spec.build_model(data, "x.toml")


def test_analytic_hint_must_match_the_membrane_equation():
    data = tomllib_load("adex")
    data["hints"]["analytic"] = "lif"           # the exponential term is not in the LIF's closed form
    with pytest.raises(SpecError, match="does not describe this model") as info:
        spec.build_model(data, "adex.toml")
    assert info.value.field == "[hints].analytic"
    data["hints"]["analytic"] = "eif"
    spec.build_model(data, "adex.toml")


def tomllib_load(name):
    import tomllib

    return tomllib.loads((LEGACY / f"{name}.toml").read_text())


@pytest.mark.parametrize("field, value, phrase", [
    ("description", 5, "must be a non-empty string"),
    ("description", "x" * 3000, "at most 2000"),
    ("description", "a\rb", "control character '\\r'"),
    ("reference", "a\u2028b", "control character '\\u2028'"),
])
def test_free_text_rules(field, value, phrase):
    data = lif_data()
    data["model"][field] = value
    with pytest.raises(SpecError) as info:
        spec.build_model(data, "mine.toml")
    assert info.value.field == f"[model].{field}" and phrase in info.value.problem, str(info.value)


def test_line_breaks_in_free_text_read_as_spaces():
    data = lif_data()
    data["model"]["description"] = "Leaky\n  integrate-and-fire\r\n\n\nneuron\n"
    data["parameters"]["C_m"]["description"] = "membrane\ncapacitance"
    model = spec.build_model(data, "mine.toml")
    assert model.description == "Leaky integrate-and-fire neuron"
    assert model.parameters["C_m"].description == "membrane capacitance"


@pytest.mark.parametrize("table, limit", [("parameters", spec.MAX_PARAMETERS), ("state", spec.MAX_STATE),
                                          ("expressions", spec.MAX_EXPRESSIONS), ("inputs", spec.MAX_INPUTS),
                                          ("presets", spec.MAX_PRESETS)])
def test_table_size_limits(table, limit):
    data = lif_data()
    data[table] = {f"x{i}": {} for i in range(limit + 1)}
    with pytest.raises(SpecError) as info:
        spec.build_model(data, "mine.toml")
    assert info.value.field == f"[{table}]" and f"at most {limit}" in info.value.problem


def test_too_many_constraints_and_statements():
    data = lif_data()
    data["constraints"] = [{"check": "V_reset < V_th"}] * (spec.MAX_CONSTRAINTS + 1)
    with pytest.raises(SpecError, match=f"at most {spec.MAX_CONSTRAINTS}"):
        spec.build_model(data, "mine.toml")
    data = lif_data()
    data["spike"]["reset"] = ["V_m = V_reset"] * (spec.MAX_STATEMENTS + 1)
    with pytest.raises(SpecError, match=f"at most {spec.MAX_STATEMENTS}") as info:
        spec.build_model(data, "mine.toml")
    assert info.value.field == "[spike].reset"


def test_long_names_are_refused():
    data = lif_data()
    data["parameters"]["x" * (spec.MAX_NAME_CHARS + 1)] = {"value": 1.0, "unit": "mV"}
    with pytest.raises(SpecError, match=f"at most {spec.MAX_NAME_CHARS}"):
        spec.build_model(data, "mine.toml")
