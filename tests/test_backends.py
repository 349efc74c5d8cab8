"""The backend registry (lifbridge.backends): one table, read by every shared module.

* the registry's API: names, declarations, availability with reasons, generators, options,
  capabilities;
* no shared module names a backend: only a backend's own modules (declared in its
  ``modules``) may, so adding a backend touches nothing shared;
* a missing backend (its simulator unimportable, its registry line dropped, or its module
  broken) leaves every other command working;
* overrides give the same one-line error, or the same number, on every backend and on the
  reference integrator.
"""

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lifbridge
from lifbridge import backends
from lifbridge.errors import BackendUnavailable, ParameterError
from lifbridge.stimulus import Stimulus

PACKAGE = Path(lifbridge.__file__).resolve().parent


# ---------------------------------------------------------------------------- the API
def test_registry_lists_every_backend_without_importing_a_simulator():
    code = ("import sys, lifbridge, lifbridge.cli, lifbridge.validation; from lifbridge import backends; "
            "backends.describe(); backends.generators(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('brian2', 'nest', 'pynestml', 'pyNN', 'nir')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    assert backends.names() == ("brian2", "nest", "pynn.nest", "pynn.brian2", "pynn.neuron", "spinnaker.emulated",
                                "pynn.spinnaker", "nir", "brainscales2.emulated")


def test_get_an_unknown_backend_is_one_line_with_did_you_mean():
    with pytest.raises(BackendUnavailable, match=r"unknown backend 'brain2'; did you mean 'brian2'\? "
                                                 r"backends: brian2, nest, pynn.nest, pynn.brian2, pynn.neuron"):
        backends.get("brain2")


def test_generators_belong_to_their_backend():
    table = backends.generators()
    assert {target: name for target, (name, _) in table.items()} == {"brian2": "brian2", "nestml": "nest", "pynn": "pynn.nest", "nmodl": "pynn.neuron",
                                                                      "spinnaker": "pynn.spinnaker", "nir": "nir",
                                                                      "brainscales2": "brainscales2.emulated"}
    lif = lifbridge.load("lif")
    assert "NeuronGroup(N, **lif_kwargs" in backends.generator("brian2")(lif)
    assert "\nmodel lif_neuron:" in backends.generator("nestml")(lif)
    with pytest.raises(BackendUnavailable, match="unknown target 'nope'; targets: brian2, nestml, pynn"):
        backends.generator("nope")


def test_run_options_are_checked_by_their_backend():
    brian2 = backends.get("brian2")
    assert brian2.run_options() == {"target": "numpy"}
    assert brian2.run_options(validation=True) == {"target": "cython"}
    assert brian2.run_options(validation=True, quick=True) == {"target": "numpy"}
    with pytest.raises(backends.OptionError, match="--target 'c': not a brian2 target; choose one of numpy, "
                                                   "cython, cpp_standalone"):
        brian2.run_options({"target": "c"})
    with pytest.raises(backends.OptionError, match=r"--target applies to --backend brian2 or pynn.brian2 only "
                                                   r"\(got --backend nest\); drop --target"):
        backends.get("nest").run_options({"target": "numpy"})


def test_capabilities_say_exact_or_approximate_with_the_tolerance_tables_numbers():
    models = [lifbridge.load(name) for name in ("lif", "adex")]
    caps = {(c.model, c.backend): c for c in backends.capabilities(models)}
    assert caps[("lif", "brian2")].support == backends.EXACT
    assert caps[("lif", "nest")].support == backends.EXACT and "iaf_psc_exp" in caps[("lif", "nest")].reason
    adex = caps[("adex", "brian2")]
    assert adex.support == backends.APPROXIMATE and "Runge-Kutta" in adex.reason
    # the quantified error is the tolerance table's row, not a second copy of it
    from lifbridge.validation.tolerances import tolerance_for

    row = tolerance_for("fi_steady_rate", "adex", "brian2")
    assert f"{row.steps:g} time step(s)" in adex.error and f"{row.rel:.0%}" in adex.error


def test_backends_json_lists_every_backend_with_availability_targets_options_and_capabilities():
    out = subprocess.run([sys.executable, "-m", "lifbridge", "backends", "--json"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    rows = {row["name"]: row for row in json.loads(out.stdout)}
    assert set(rows) == {"brian2", "nest", "pynn.nest", "pynn.brian2", "pynn.neuron", "spinnaker.emulated", "pynn.spinnaker",
                         "nir", "brainscales2.emulated"}
    assert rows["brian2"]["generate_targets"].keys() == {"brian2"}
    assert rows["nest"]["generate_targets"].keys() == {"nestml"}
    assert rows["brian2"]["options"]["target"]["choices"] == ["numpy", "cython", "cpp_standalone"]
    assert rows["nest"]["commands"] == ["nest-build"]
    for row in rows.values():
        assert row["available"] == (row["reason"] == "")
        assert set(row["models"]) == set(lifbridge.bundled_models())
        assert all(m["support"] in ("exact", "approximate", "unsupported") for m in row["models"].values())
    text = subprocess.run([sys.executable, "-m", "lifbridge", "backends"], capture_output=True, text=True,
                          timeout=300)
    assert text.returncode == 0 and "brian2 (Brian2)" in text.stdout and "nest (NEST)" in text.stdout


# ---------------------------------------------------------------------------- no shared module names a backend
def _words():
    """Backend names, generator targets and the import names of the backends' packages."""
    words = set(backends.names()) | set(backends.generators())
    for name in backends.names():
        words |= {module for module, _ in backends.get(name).packages}
    return words


def _own_files():
    files = {PACKAGE / "backends" / "__init__.py", PACKAGE / "backends" / "base.py"}
    for name in backends.names():
        for module in backends.get(name).modules:
            parts = module.split(".")[1:]
            files.add(PACKAGE.joinpath(*parts[:-1], parts[-1] + ".py"))
    return files


#: (file, word) -> why this shared module may name it. Brian2's quantities are accepted as
#: values wherever a unit is read: recognising one is not running Brian2.
EXEMPT = {
    ("overrides.py", "brian2"): "Brian2 quantities are accepted as override values (a unit library)",
    ("model.py", "brian2"): "to_unit accepts a Brian2 quantity (a unit library)",
    ("analytic.py", "brian2"): "closed forms accept Brian2 quantities (a unit library)",
    ("compose.py", "nest"): "a synapse file's [synaptic_input].nest table is data of the model file (NEST's "
                            "names for the same kinetics), read by the composition like any other field",
    ("divergence.py", "neuron"): "the word 'neuron' (a neuron of the population), not the NEURON package",
    ("overrides.py", "neuron"): "the word 'neuron' (a neuron of the population), not the NEURON package",
}


def _docstring_nodes(tree):
    nodes = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                nodes.add(id(first.value))
    return nodes


def _named_backends(path, words):
    """(line, word, what) for every place ``path`` names a backend in code: a string that
    is the name (or a dotted/colon path with it as a part: ``"lifbridge.runners.brian2"``,
    ``"nest:iaf_psc_exp"``), or an import of a backend's module or package. Comments and
    docstrings are prose, not switches."""
    tree = ast.parse(path.read_text())
    docstrings = _docstring_nodes(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            text = node.value.strip().lower()
            if re.fullmatch(r"[\w.:]+", text):
                for word in words & set(re.split(r"[.:]", text)):
                    found.append((node.lineno, word, f"string {node.value!r}"))
        elif isinstance(node, ast.ImportFrom):
            parts = (node.module or "").split(".")
            names = [a.name for a in node.names]
            for word in words & (set(parts) | set(names)):
                found.append((node.lineno, word, f"from {'.' * node.level}{node.module or ''} import ..."))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                for word in words & set(alias.name.split(".")):
                    found.append((node.lineno, word, f"import {alias.name}"))
    return found


def _imported_modules(path):
    """Absolute names of the lifbridge modules ``path`` imports (relative imports resolved)."""
    package = "lifbridge." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rstrip(".").split(".")
            base = base[:len(base) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_no_backend_imports_another_backend():
    """Each backend is one unit: its modules never import another backend's modules."""
    problems = []
    for name in backends.names():
        others = {m for other in backends.names() if other != name for m in backends.get(other).modules}
        for module in backends.get(name).modules:
            path = PACKAGE.joinpath(*module.split(".")[1:-1], module.split(".")[-1] + ".py")
            problems += [f"{module} ({name}) imports {m}" for m in sorted(_imported_modules(path) & others)]
    assert not problems, problems


def test_no_shared_module_names_a_backend():
    """Shared modules (the command line, validation, runners' lookup, records, stimulus,
    overrides, model, spec, ...) read the registry; they never switch on a backend's name.
    A backend's own modules (its ``modules`` in the registry) may name it."""
    words, own = _words(), _own_files()
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path in own:
            continue
        relative = path.relative_to(PACKAGE).as_posix()
        for line, word, what in _named_backends(path, words):
            if (relative, word) not in EXEMPT:
                problems.append(f"lifbridge/{relative}:{line}: {what} names backend {word!r}")
    assert not problems, "\n".join(problems)


def test_the_scan_finds_a_switch_on_a_backend_name(tmp_path):
    source = tmp_path / "shared.py"
    source.write_text('"""Runs on brian2 or nest."""\n# brian2 in a comment\n'
                      'from .nest import install\nimport brian2\n'
                      'def f(b):\n    """nest"""\n    return 1 if b == "nest" else "lifbridge.runners.brian2"\n')
    found = {(line, word) for line, word, _ in _named_backends(source, _words())}
    assert found == {(3, "nest"), (4, "brian2"), (7, "nest"), (7, "brian2")}


def test_every_backend_module_is_declared_by_exactly_one_backend():
    owners = {}
    for name in backends.names():
        for module in backends.get(name).modules:
            assert module not in owners, (module, owners.get(module), name)
            owners[module] = name
    for path in _own_files():
        assert path.is_file(), path


# ---------------------------------------------------------------------------- a missing backend
WITHOUT_NEST_PACKAGES = "import sys; sys.modules['nest'] = None; sys.modules['pynestml'] = None\n"
WITHOUT_NEST_ENTRY = ("import types, lifbridge.backends as b\n"
                      "b.REGISTRY = types.MappingProxyType({k: v for k, v in b.REGISTRY.items() if k != 'nest'})\n")
BROKEN_NEST_MODULE = ("import types, lifbridge.backends as b\n"
                      "b.REGISTRY = types.MappingProxyType(dict(b.REGISTRY, nest='lifbridge.backends.no_such_module'))\n")


def run_without(setup, *args, tmp_path):
    code = setup + "from lifbridge.cli import main; sys.exit(main(sys.argv[1:]))"
    if not code.startswith("import sys"):
        code = "import sys\n" + code
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=600,
                          cwd=tmp_path)


@pytest.mark.slow  # three processes per command
@pytest.mark.parametrize("setup", [WITHOUT_NEST_PACKAGES, WITHOUT_NEST_ENTRY, BROKEN_NEST_MODULE],
                         ids=["simulator missing", "registry line dropped", "module broken"])
def test_without_nest_every_other_command_works(setup, tmp_path):
    for args in (["models"], ["show", "lif"], ["generate", "lif", "--target", "brian2"],
                 ["run", "lif", "--backend", "brian2", "--current", "500pA", "--duration", "0.05"],
                 ["validate", "--quick", "--models", "lif", "--no-progress", "--out", str(tmp_path / "report")]):
        out = run_without(setup, *args, tmp_path=tmp_path)
        assert out.returncode == 0, (args, out.stderr)
        assert "Traceback" not in out.stderr
    out = run_without(setup, "backends", "--json", tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = {row["name"]: row for row in json.loads(out.stdout)}
    assert rows["brian2"]["available"] is True
    if setup is WITHOUT_NEST_ENTRY:
        assert "nest" not in rows
        out = run_without(setup, "nest-build", "lif", tmp_path=tmp_path)
        assert out.returncode == 2 and "invalid choice: 'nest-build'" in out.stderr
        return
    assert rows["nest"]["available"] is False
    reason = rows["nest"]["reason"]
    if setup is WITHOUT_NEST_PACKAGES:
        assert reason == ("backend 'nest' needs the Python package(s) nest, pynestml; "
                          "install them with: pip install 'lifbridge[nest]'")
    else:
        assert "backend 'nest': its module lifbridge.backends.no_such_module cannot be imported" in reason
    out = run_without(setup, "run", "lif", "--backend", "nest", "--duration", "0.01", tmp_path=tmp_path)
    assert out.returncode == 1 and out.stderr.strip() == f"lifbridge run: {reason}"


# ---------------------------------------------------------------------------- overrides, the same everywhere
def _simulate(backend, model, overrides, n=2):
    stimulus = Stimulus.constant([500.0] * n)
    if backend == "reference":
        from lifbridge import reference

        return reference.simulate(model, stimulus, duration_ms=60.0, **overrides)
    try:
        return backends.require(backend).simulate(model, stimulus, duration_ms=60.0, **overrides)
    except BackendUnavailable as error:   # installed, but cannot run here (pynn.spinnaker without hardware)
        pytest.skip(str(error))


def _bad_overrides():
    import brian2

    return [
        ({"C_m": 250 * brian2.mV}, 'C_m: 250. mV is a voltage, C_m needs a capacitance (pF), e.g. C_m="250pF"'),
        ({"C_m": "250 mV"}, 'C_m: 250 mV is a voltage, C_m needs a capacitance (pF), e.g. C_m="250pF"'),
        ({"tau_syn_ex": "5 mV"}, "tau_syn_ex (= tau_syn_exc): 5 mV is a voltage, tau_syn_exc needs a time (ms)"),
        ({"tau_syn_in": 5.0, "tau_syn_inh": 5.0}, "tau_syn_inh is given twice (as tau_syn_in and tau_syn_inh)"),
        ({"I_syn_in": 1.0}, "I_syn_in is NEST's spelling of an inhibitory current that NEST may keep negative"),
        ({"C_m": [250.0, 250.0, 250.0]}, "C_m: 3 values given for 2 neurons"),
        ({"tau_m": [10.0, -1.0]}, "neuron 1: "),
    ]


@pytest.mark.parametrize("case", range(7))
def test_a_bad_override_is_the_same_one_line_error_on_every_backend(backend, case):
    overrides, message = _bad_overrides()[case]
    lif = lifbridge.load("lif")
    errors = {}
    for where in (backend.name, "reference"):
        with pytest.raises((ParameterError, ValueError)) as error:
            _simulate(where, lif, overrides)
        text = str(error.value)
        assert "\n" not in text and message in text, (where, text)
        errors[where] = text
    assert errors[backend.name] == errors["reference"]


def test_overrides_in_every_form_are_read_alike_on_every_backend(backend):
    """Strings with units, numbers in the spec's units, per-neuron lists mixing both, Brian2
    quantities and NEST spellings: the same model, so the same spikes as the reference
    integrator (each within one step, found on the grid)."""
    import brian2

    from lifbridge.validation.tolerances import known_gap

    lif = lifbridge.load("lif")
    gap = known_gap(lif.name, backend.name, "step_spike_times")
    if gap is not None:  # a backend that declares lif's spike times a known gap runs another model
        pytest.skip(f"{backend.name}: {gap.reason}")
    overrides = {"tau_syn_ex": "5 ms", "C_m": [200.0, "0.3 nF"], "V_m": -60 * brian2.mV, "tau_m": "0.01 s"}
    ours = _simulate(backend.name, lif, overrides)
    judge = _simulate("reference", lif, overrides)
    for got, exact in zip(ours.spike_times_ms, judge.spike_times_ms):
        exact = exact[exact < 50.0]  # grid delays add up: compare the spikes well inside the run
        got = got[:len(exact)]
        assert len(got) == len(exact) > 1
        assert np.all((got - exact >= -1e-9) & (got - exact < 0.1 * len(exact) + 1e-9)), (got, exact)
    assert len(ours.spike_times_ms[0]) > len(ours.spike_times_ms[1])  # the smaller capacitance fires faster


# ---------------------------------------------------------------------------- NEST built-ins: names and signs
@pytest.mark.nest
@pytest.mark.filterwarnings("ignore:\\s*SetStatus\\(\\) is deprecated")
def test_builtin_records_the_inhibitory_current_with_lifbridges_sign():
    """iaf_psc_exp keeps I_syn_in negative; recorded through the runner it is the magnitude,
    as on the generated neuron."""
    runner = backends.require("nest").runner_module()
    lif = lifbridge.load("lif")
    kwargs = dict(duration_ms=20.0, record=["I_syn_inh", "I_syn_exc"], spike_input=[([5.0], -50.0), ([8.0], 30.0)])
    builtin = runner.simulate(lif, Stimulus.constant([0.0]), builtin=True, **kwargs)
    generated = runner.simulate(lif, Stimulus.constant([0.0]), **kwargs)
    for var in ("I_syn_inh", "I_syn_exc"):
        values = builtin.traces[var][1][0]
        assert values.max() == pytest.approx(50.0 if var == "I_syn_inh" else 30.0, rel=1e-6) and values.min() >= 0
        np.testing.assert_allclose(values, generated.traces[var][1][0], rtol=1e-9, atol=1e-9)


@pytest.mark.nest
def test_builtin_refuses_state_nest_keeps_internal():
    runner = backends.require("nest").runner_module()
    with pytest.raises(ValueError) as error:
        runner.simulate(lifbridge.load("hh"), Stimulus.constant([0.0]), duration_ms=5.0, record=["dI_syn_exc"],
                        builtin=True)
    text = str(error.value)
    assert "\n" not in text
    assert text == ("record dI_syn_exc: NEST's hh_psc_alpha keeps dI_syn_exc internal (not recordable); record it "
                    "on the generated hh_neuron (builtin=None) or another backend")


# ---------------------------------------------------------------------------- the backend fixture
def test_the_backend_fixture_skips_a_missing_backend_with_the_registrys_reason(tmp_path):
    code = ("import sys; sys.modules['nest'] = None; sys.modules['pynestml'] = None; import pytest; "
            "sys.exit(pytest.main(sys.argv[1:]))")
    root = PACKAGE.parent
    out = subprocess.run([sys.executable, "-c", code, "-q", "-rs", "-p", "no:cacheprovider",
                          str(root / "tests" / "test_backends.py"), "-k", "same_one_line_error and -0]",
                          "--rootdir", str(root)],
                         capture_output=True, text=True, timeout=600, cwd=root)
    assert out.returncode == 0, out.stdout + out.stderr
    # brian2, pynn.brian2, pynn.neuron, spinnaker.emulated, nir and brainscales2.emulated run; nest and pynn.nest (which runs on the NEST
    # backend) are skipped, and so is pynn.spinnaker, which only maps on a virtual board here
    assert "6 passed, 3 skipped" in out.stdout, out.stdout
    assert ("backend 'nest' needs the Python package(s) nest, pynestml; install them with: "
            "pip install 'lifbridge[nest]'") in out.stdout


# ---------------------------------------------------------------------------- the report
def test_validate_records_what_each_backend_declares_and_the_report_shows_it(tmp_path):
    from lifbridge.validation import validate, write_report

    lif = lifbridge.load("lif")
    report = validate([lif], ["brian2"], quick=True, progress=False, include_siegert=False,
                      include_hh_equivalent=False, backend_options={"brian2": {"target": "numpy"}})
    config = report["config"] if isinstance(report, dict) else report.config
    assert config["backend_options"] == {"brian2": {"target": "numpy"}}
    # every registered backend's declaration (the report's capability matrix), the run one's included
    assert config["capabilities"] == [backends.get(name).capability_of(lif).as_record() for name in backends.names()]
    page = write_report(report, tmp_path / "report").read_text()
    assert "What each backend declares" in page and "linear equations integrated exactly" in page
    assert "Capability matrix" in page and "<th>brian2 *</th>" in page
    with pytest.raises(backends.OptionError, match="--target 'gpu': not a brian2 target"):
        validate([lif], ["brian2"], quick=True, progress=False, include_siegert=False, include_hh_equivalent=False,
                 backend_options={"brian2": {"target": "gpu"}})


# ---------------------------------------------------------------------------- the README's matrix
def test_the_readmes_capability_matrix_is_the_registrys():
    """README.md carries `lifbridge backends --matrix` verbatim: a backend that changes what it
    declares changes the README in the same commit."""
    from lifbridge.validation.harness import bundled_models

    readme = (PACKAGE.parent / "README.md").read_text()
    block = readme.split("<!-- capability matrix: begin -->\n")[1].split("<!-- capability matrix: end -->")[0]
    assert block == backends.capability_matrix([lifbridge.load(name) for name in bundled_models()]), \
        "regenerate the README's capability matrix with `lifbridge backends --matrix`"
    cli = subprocess.run([sys.executable, "-m", "lifbridge", "backends", "--matrix"], capture_output=True, text=True,
                         timeout=300)
    assert cli.returncode == 0 and cli.stdout == block
