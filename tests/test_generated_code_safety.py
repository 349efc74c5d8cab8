"""Free text of a model never becomes code, for every target.

Hostile text (a line break or any other line-ending or control character followed by a
statement) goes into every free-text field: the model's description and reference, the
descriptions of parameters, state variables, expressions and inputs, a constraint's
reason and ``[hints].notes``. Through a model file the loader folds line breaks to spaces
or refuses other control characters with a one-line message; through a Model built in
Python (bypassing the loader) every printer folds the text itself. The Brian2 script is
executed with a canary statement that must not run; the NESTML text is parsed with
NESTML's own parser and must declare exactly the model's parameters and state.
"""

import dataclasses
import json
import os
import subprocess
import sys
import tokenize
import io
import tomllib
from pathlib import Path
from types import MappingProxyType

import pytest

import lifbridge
from lifbridge import spec
from lifbridge.brian2 import generate_script
from lifbridge.errors import LifbridgeError, SpecError
from lifbridge.nestml import REFRACTORY_COUNTER, to_nestml
from lifbridge.text import comment_text
from lifbridge.units import Unit

ROOT = Path(__file__).resolve().parent.parent

# Every character that ends a line somewhere (Python, NESTML/ANTLR, str.splitlines, editors),
# and other control characters.
SEPARATORS = ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\x00"]
SEPARATOR_IDS = [repr(s) for s in SEPARATORS]
MODELS_WITH_EXPRESSIONS = "adex"   # has [expressions], spike and continuous inputs, constraints


def python_payload(canary, sep):
    return f'benign{sep}import pathlib; pathlib.Path({str(canary)!r}).write_text("x"){sep}'


def nestml_payload(sep):
    # would add a declaration to the block the comment is printed in
    return f"benign{sep}        injected_declaration real = 1{sep}"


def hostile_model(model, text):
    """``model`` with ``text`` in every free-text field, built in Python without the loader."""
    def first(mapping, change):
        name = next(iter(mapping))
        return MappingProxyType(dict(mapping, **{name: change(mapping[name])}))

    describe = lambda item: dataclasses.replace(item, description=text)  # noqa: E731
    parameters = MappingProxyType({n: describe(p) for n, p in model.parameters.items()})
    constraints = tuple(dataclasses.replace(c, reason=text) for c in model.constraints)
    return dataclasses.replace(
        model, description=text, reference=text, parameters=parameters,
        state=MappingProxyType({n: describe(s) for n, s in model.state.items()}),
        aliases=MappingProxyType({n: describe(a) for n, a in model.aliases.items()}),
        inputs=MappingProxyType({n: describe(p) for n, p in model.inputs.items()}),
        constraints=constraints, hints=MappingProxyType(dict(model.hints, notes=text)))


def run_script(script, tmp_path):
    """Execute a generated Brian2 script in a fresh namespace (as ``import`` would)."""
    compiled = compile(script, str(tmp_path / "generated.py"), "exec")
    exec(compiled, {"__name__": "generated"})


# ---------------------------------------------------------------------------- the helper
@pytest.mark.parametrize("sep", SEPARATORS + ["\u202e", "\ud800", "\x7f", "\x1f", "\x9b"], ids=repr)
def test_comment_text_is_one_python_comment(sep):
    folded = comment_text(f"a{sep}b{sep}{sep}c")
    assert len(folded.splitlines()) == 1
    assert folded == "a b c"
    tokens = list(tokenize.generate_tokens(io.StringIO(f"# {folded}\n").readline))
    assert [t.type for t in tokens] == [tokenize.COMMENT, tokenize.NL, tokenize.ENDMARKER]


def test_comment_text_keeps_ordinary_text():
    text = "Hodgkin & Huxley (1952) J Physiol 117:500 — g_Na m³h, tab\there, \"quotes\" # and hashes"
    assert comment_text(text) == text


# ---------------------------------------------------------------------------- Brian2, models built in Python
@pytest.mark.parametrize("sep", SEPARATORS, ids=SEPARATOR_IDS)
@pytest.mark.parametrize("name", ["lif", MODELS_WITH_EXPRESSIONS])
def test_brian2_script_runs_no_text_from_any_field(name, sep, tmp_path):
    canary = tmp_path / "canary"
    model = hostile_model(lifbridge.load(name), python_payload(canary, sep))
    script = generate_script(model)
    run_script(script, tmp_path)
    assert not canary.exists(), "text from the model ran as code"
    names = {t.string for t in tokenize.generate_tokens(io.StringIO(script).readline) if t.type == tokenize.NAME}
    assert "pathlib" not in names, "the text reached the script as code"


@pytest.mark.parametrize("field", ["description", "reference", "parameter", "state", "expression", "input",
                                   "reason", "notes", "brian2_method"])
def test_brian2_script_each_field_alone(field, tmp_path):
    canary = tmp_path / "canary"
    text = python_payload(canary, "\n")
    model = lifbridge.load(MODELS_WITH_EXPRESSIONS)
    if field in ("description", "reference"):
        model = dataclasses.replace(model, **{field: text})
    elif field == "reason":
        model = dataclasses.replace(model, constraints=tuple(dataclasses.replace(c, reason=text)
                                                             for c in model.constraints))
    elif field in ("notes", "brian2_method"):
        model = dataclasses.replace(model, hints=MappingProxyType(dict(model.hints, **{field: text})))
    else:
        table = {"parameter": "parameters", "state": "state", "expression": "aliases", "input": "inputs"}[field]
        items = getattr(model, table)
        changed = {n: dataclasses.replace(v, description=text) for n, v in items.items()}
        model = dataclasses.replace(model, **{table: MappingProxyType(changed)})
    run_script(generate_script(model), tmp_path)
    assert not canary.exists()


def test_brian2_unit_name_cannot_carry_code(tmp_path):
    canary = tmp_path / "canary"
    model = lifbridge.load("lif")
    c_m = model.parameters["C_m"]
    hostile_unit = Unit(c_m.unit.dim, c_m.unit.scale, f"pF # {python_payload(canary, chr(10))}")
    model = dataclasses.replace(model, parameters=MappingProxyType(
        dict(model.parameters, C_m=dataclasses.replace(c_m, unit=hostile_unit))))
    namespace = {}
    exec(compile(generate_script(model), "generated.py", "exec"), namespace)
    assert not canary.exists()
    assert float(namespace["lif_namespace"]["C_m"]) == pytest.approx(250e-12)


@pytest.mark.parametrize("bad_name", ["x\nimport os", "x y", "class", "x'''", "1x"])
def test_brian2_script_refuses_names_that_are_not_identifiers(bad_name):
    model = lifbridge.load("lif")
    c_m = model.parameters["C_m"]
    parameters = {bad_name if n == "C_m" else n: p for n, p in model.parameters.items()}
    with pytest.raises(LifbridgeError, match="not a Python identifier"):
        generate_script(dataclasses.replace(model, parameters=MappingProxyType(parameters)))
    with pytest.raises(LifbridgeError, match="not a Python identifier"):
        generate_script(dataclasses.replace(model, name=bad_name))
    del c_m


# ---------------------------------------------------------------------------- NESTML, parsed by NESTML
PARSE_SCRIPT = r"""
import json, sys
from pynestml.frontend.pynestml_frontend import init_predefined
from pynestml.utils.logger import Logger, LoggingLevel
from pynestml.utils.model_parser import ModelParser
init_predefined()
Logger.init_logger(LoggingLevel.NO)
out = {}
for path in sys.argv[1:]:
    ast = ModelParser.parse_file(path)
    if ast is None:
        out[path] = None
        continue
    def names(blocks):
        return [v.get_name() for b in blocks for d in b.get_declarations() for v in d.get_variables()]
    out[path] = [{"name": m.get_name(), "parameters": names(m.get_body().get_parameters_blocks()),
                  "state": names(m.get_body().get_state_blocks())} for m in ast.get_model_list()]
print(json.dumps(out))
"""


def parse_nestml(paths):
    pytest.importorskip("pynestml")
    done = subprocess.run([sys.executable, "-c", PARSE_SCRIPT, *map(str, paths)], capture_output=True, text=True,
                          timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def expected_declarations(model):
    state = list(model.state) + ([REFRACTORY_COUNTER] if model.refractory else [])
    return [{"name": f"{model.name}_neuron", "parameters": list(model.parameters), "state": state}]


def test_nestml_text_declares_exactly_the_model(tmp_path):
    paths, expected = [], {}
    for name in ("lif", MODELS_WITH_EXPRESSIONS):
        base = lifbridge.load(name)
        for i, sep in enumerate(SEPARATORS):
            model = hostile_model(base, nestml_payload(sep))
            text = to_nestml(model)
            path = tmp_path / f"{name}_{i}.nestml"
            path.write_text(text, encoding="utf-8")
            paths.append(path)
            expected[str(path)] = expected_declarations(base)
            assert "injected_declaration" not in "\n".join(
                line for line in text.splitlines() if not line.lstrip().startswith("#") and "  # " not in line)
    parsed = parse_nestml(paths)
    for path in paths:
        assert parsed[str(path)] == expected[str(path)], (path.name, parsed[str(path)])


# ---------------------------------------------------------------------------- through a model file
FREE_TEXT_FIELDS = {
    "[model].description": lambda d: d["model"],
    "[model].reference": lambda d: d["model"],
    "[parameters].C_m.description": lambda d: d["parameters"]["C_m"],
    "[state].V_m.description": lambda d: d["state"]["V_m"],
    "[expressions].I_spike.description": lambda d: d["expressions"]["I_spike"],
    "[inputs].I_stim.description": lambda d: d["inputs"]["I_stim"],
    "[[constraints]][0].reason": lambda d: d["constraints"][0],
    "[hints].notes": lambda d: d["hints"],
}


def adex_data():
    return tomllib.loads((ROOT / "models" / "adex.toml").read_text())


def set_text(data, field, text):
    key = field.rsplit(".", 1)[1]
    FREE_TEXT_FIELDS[field](data)[key] = text


def test_the_free_text_fields_exist_in_adex():
    data = adex_data()
    for field in FREE_TEXT_FIELDS:
        assert FREE_TEXT_FIELDS[field](data) is not None, field


@pytest.mark.parametrize("field", FREE_TEXT_FIELDS)
@pytest.mark.parametrize("sep", [s for s in SEPARATORS if s not in ("\n", "\r\n")], ids=repr)
def test_loader_refuses_control_characters_in_free_text(field, sep, tmp_path):
    data = adex_data()
    set_text(data, field, python_payload(tmp_path / "canary", sep))
    with pytest.raises(SpecError) as info:
        spec.build_model(data, "hostile.toml")
    message = str(info.value)
    assert info.value.field == field
    assert "control character" in message and message.startswith("hostile.toml " + field + ": ")
    assert len(message.splitlines()) == 1 and len(message) <= 400


@pytest.mark.parametrize("field", FREE_TEXT_FIELDS)
@pytest.mark.parametrize("sep", ["\n", "\r\n"], ids=repr)
def test_loader_folds_line_breaks_in_free_text(field, sep, tmp_path):
    canary = tmp_path / "canary"
    data = adex_data()
    set_text(data, field, python_payload(canary, sep))
    model = spec.build_model(data, "hostile.toml")
    run_script(generate_script(model), tmp_path)
    assert not canary.exists()
    text = to_nestml(model)
    assert "pathlib.Path(" not in "\n".join(line.split("#")[0] for line in text.splitlines())


def write_lif_variant(tmp_path, replacements, name="hostile.toml"):
    text = (ROOT / "models" / "lif.toml").read_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_model_file_with_a_multi_line_description(tmp_path):
    canary = tmp_path / "canary"
    payload = f'import pathlib; pathlib.Path("{canary}").write_text("x")'
    path = write_lif_variant(tmp_path, [('description = "Leaky', f'description = """\n{payload}\nLeaky'),
                                        ('synapses"\n', 'synapses"""\n')])
    model = lifbridge.load(path)
    assert "\n" not in model.description and payload in model.description
    run_script(generate_script(model), tmp_path)
    assert not canary.exists()


@pytest.mark.parametrize("escape", ["\\r", "\\f", "\\u000B", "\\u001C", "\\u0085", "\\u2028", "\\u2029", "\\u0000"])
def test_model_file_with_control_characters_is_refused(escape, tmp_path):
    path = write_lif_variant(tmp_path, [('description = "', f'description = "a{escape}import os; ')])
    with pytest.raises(SpecError) as info:
        lifbridge.load(path)
    assert info.value.field == "[model].description"
    assert len(str(info.value).splitlines()) == 1 and "hostile.toml" in str(info.value)


@pytest.mark.parametrize("key", ['"V_x\\n"', '"V_x\\nimport os"', '"V_x "', '"V_x\\u2028"'])
def test_names_must_match_the_whole_string(key, tmp_path):
    path = write_lif_variant(tmp_path, [("[parameters]\n", f"[parameters]\n{key} = {{ value = 1.0, unit = \"mV\" }}\n")])
    with pytest.raises(SpecError, match="not a valid name") as info:
        lifbridge.load(path)
    assert len(str(info.value).splitlines()) == 1


@pytest.mark.parametrize("statement", ["V_m = V_reset\n", "V_m = V_reset\nimport os"])
def test_statements_must_match_the_whole_string(statement, tmp_path):
    data = tomllib.loads((ROOT / "models" / "lif.toml").read_text())
    data["spike"]["reset"] = [statement]
    if statement.endswith("\n"):      # trailing white space is allowed, and dropped
        assert spec.build_model(data, "x.toml").spike.reset[0].target == "V_m"
    else:
        with pytest.raises(SpecError) as info:
            spec.build_model(data, "x.toml")
        assert len(str(info.value).splitlines()) == 1


def test_model_name_must_match_the_whole_string():
    data = tomllib.loads((ROOT / "models" / "lif.toml").read_text())
    data["model"]["name"] = "lif\n"
    with pytest.raises(SpecError, match="not a valid model name"):
        spec.build_model(data, "x.toml")


# ---------------------------------------------------------------------------- the command line
def run_cli(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "lifbridge", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)


def test_cli_generate_prints_the_same_safe_text(tmp_path):
    canary = tmp_path / "canary"
    payload = f'import pathlib; pathlib.Path("{canary}").write_text("x")'
    path = write_lif_variant(tmp_path, [('description = "Leaky', f'description = """\n{payload}\nLeaky'),
                                        ('synapses"\n', 'synapses"""\n'),
                                        ('description = "membrane capacitance"',
                                         f'description = """membrane\n{payload}\n"""')])
    model = lifbridge.load(path)
    brian2 = run_cli("generate", path, "--target", "brian2")
    assert brian2.returncode == 0, brian2.stderr
    assert brian2.stdout.strip() == generate_script(model).strip()
    run_script(brian2.stdout, tmp_path)
    assert not canary.exists()
    nestml = run_cli("generate", path, "--target", "nestml")
    assert nestml.returncode == 0, nestml.stderr
    assert nestml.stdout.strip() == to_nestml(model).strip()
    refused = run_cli("generate", write_lif_variant(tmp_path, [('description = "', 'description = "a\\u2028')],
                                                    "refused.toml"), "--target", "brian2")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and "[model].description" in refused.stderr


# ---------------------------------------------------------------------------- NMODL
def nmodl_payload(sep):
    # would add a PARAMETER block to the mechanism if it left its comment line
    return f"benign{sep}PARAMETER {{ injected_parameter = 1 }}{sep}VERBATIM{sep}"


@pytest.mark.parametrize("sep", SEPARATORS + ["\u202e", "\x7f", "\x1f", "\x9b"], ids=repr)
def test_nmodl_text_keeps_free_text_in_comment_lines(sep):
    """Every free-text field of a hostile model ends up inside NMODL ``:`` comments, on one
    line each: no line that NEURON's translator reads as code carries it."""
    from lifbridge.nmodl import to_nmodl

    for name in ("lif", MODELS_WITH_EXPRESSIONS):
        text = to_nmodl(hostile_model(lifbridge.load(name), nmodl_payload(sep)))
        assert not any(c in text for c in set(SEPARATORS) - {"\n"}), repr(sep)
        code = [line.split(":", 1)[0] for line in text.split("\n")]
        assert not any("injected_parameter" in line or "VERBATIM" in line for line in code)
        assert text.count("injected_parameter") >= 5   # the text is there, as comments
