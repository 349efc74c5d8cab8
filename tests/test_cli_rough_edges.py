"""The command line's rough edges: units on every option, one-line errors for every bad
input, exit statuses, a closed pipe, an unusable cache, notes on stderr."""

import io
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import lifbridge
from lifbridge.cli import BACKENDS, EXIT_BROKEN_PIPE, build_parser
from lifbridge.backends import REGISTRY


def cli(*args, env=None, timeout=600, prefix=()):
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, *prefix, "-m", "lifbridge", *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env)


def assert_one_line_usage_error(out, *phrases):
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    for phrase in phrases:
        assert phrase in lines[0], (phrase, lines[0])


# ---------------------------------------------------------------------------- units on every option
def test_duration_dt_and_step_times_take_units():
    bare = json.loads(cli("run", "lif", "--step", "10:150:0.5nA", "--duration", "0.2", "--dt", "0.1",
                          "--json").stdout)
    units = cli("run", "lif", "--step", "10ms:0.15s:500pA", "--duration", "200ms", "--dt", "100us", "--json")
    assert units.returncode == 0, units.stderr
    data = json.loads(units.stdout)
    assert data["duration_s"] == pytest.approx(0.2) and data["dt_ms"] == pytest.approx(0.1)
    assert data["spike_times_ms"] == pytest.approx(bare["spike_times_ms"])
    assert len(data["spike_times_ms"]) > 3 and data["spike_times_ms"][0] == pytest.approx(10 + 13.9, abs=0.11)


def test_light_pulse_times_take_units():
    bare = json.loads(cli("run", "optogenetic_lif", "--light", "20:200:5", "--current", "300pA", "--duration", "0.3",
                          "--json").stdout)
    units = json.loads(cli("run", "optogenetic_lif", "--light", "20ms:0.2s:5mW/mm**2", "--current", "300pA",
                           "--duration", "300ms", "--json").stdout)
    assert len(bare["spike_times_ms"]) >= 4
    assert units["spike_times_ms"] == pytest.approx(bare["spike_times_ms"])


def test_time_options_parse_units_and_keep_bare_meanings():
    parser = build_parser()
    run = parser.parse_args(["run", "lif", "--duration", "500ms", "--dt", "0.05ms"])
    assert run.duration == pytest.approx(0.5) and run.dt == pytest.approx(0.05)
    bare = parser.parse_args(["run", "lif", "--duration", "2", "--dt", "0.025"])
    assert bare.duration == 2.0 and bare.dt == 0.025          # bare: s and ms, as before
    assert parser.parse_args(["validate", "--dt", "10us"]).dt == pytest.approx(0.01)
    assert parser.parse_args(["validate", "--dt", "0.01"]).dt == 0.01
    assert parser.parse_args(["fi", "lif", "--currents", "0:1:2", "--duration", "1.5s"]).duration == 1.5


def test_negative_values_are_read_as_values():
    data = json.loads(cli("fi", "lif", "--currents", "-500:500:3", "--duration", "0.1", "--json").stdout)
    assert data["currents"] == [-500.0, 0.0, 500.0] and data["rates_hz"][:2] == [0.0, 0.0]
    out = cli("run", "lif", "--current", "-0.5nA", "--record", "V_m", "--duration", "50ms", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["spike_times_ms"] == [] and min(data["V_m"]) < -75  # hyperpolarised by 20 mV (R = 40 MOhm)
    assert_one_line_usage_error(cli("run", "lif", "--step", "-5:10:5pA"), "--step", "T0", "zero or positive")


def test_fi_currents_take_units():
    data = json.loads(cli("fi", "lif", "--currents", "0nA:1000pA:3", "--duration", "0.2", "--json").stdout)
    assert data["currents"] == [0.0, 500.0, 1000.0] and data["unit"] == "pA"
    bare = json.loads(cli("fi", "lif", "--currents", "0:1000:3", "--duration", "0.2", "--json").stdout)
    assert data["rates_hz"] == bare["rates_hz"]


@pytest.mark.parametrize("args, option", [
    (["run", "lif", "--duration", "500pA"], "--duration"),
    (["run", "lif", "--dt", "1mV"], "--dt"),
    (["fi", "lif", "--currents", "0:1:2", "--duration", "3nS"], "--duration"),
    (["validate", "--dt", "5pA"], "--dt"),
    (["run", "lif", "--step", "10pA:20ms:5pA"], "--step"),
    (["run", "lif", "--step", "10ms:20ms:5ms"], "--step"),
    (["run", "optogenetic_lif", "--light", "1:2mV:5"], "--light"),
])
def test_wrong_dimension_names_the_option(args, option):
    out = cli(*args)
    assert_one_line_usage_error(out, option)


# ---------------------------------------------------------------------------- --target, backends
def test_target_with_nest_backend_is_an_error():
    out = cli("run", "lif", "--backend", "nest", "--target", "cython", "--duration", "0.01")
    assert_one_line_usage_error(out, "--target applies to --backend brian2 or pynn.brian2 only")
    out = cli("fi", "lif", "--backend", "nest", "--target", "numpy", "--currents", "0:1:2")
    assert_one_line_usage_error(out, "--target applies to --backend brian2 or pynn.brian2 only")


def test_target_defaults_to_numpy_for_brian2():
    from lifbridge.cli import resolve_target

    args = build_parser().parse_args(["run", "lif"])
    assert args.target is None
    resolve_target(args)
    assert args.target == "numpy"


def test_help_advertises_only_backends_that_exist():
    assert set(BACKENDS) == set(REGISTRY)
    texts = [cli("--help").stdout] + [cli(c, "--help").stdout for c in ("run", "fi", "validate")]
    registered = {b for b in REGISTRY if b.startswith("pynn.")}
    for text in texts:
        # no PyNN backend without a registry line
        assert set(re.findall(r"pynn\.\w+", " ".join(text.lower().split()))) <= registered, text
    assert all(b in " ".join(texts[0].split()) for b in REGISTRY)
    assert "{" + ",".join(BACKENDS) + "}" in texts[1]
    out = cli("run", "lif", "--backend", "pynn.loihi")
    assert_one_line_usage_error(out, "--backend", "pynn.loihi")


# ---------------------------------------------------------------------------- names and units
@pytest.mark.parametrize("command", [["show"], ["run"], ["generate", "--target", "brian2"], ["nest-build"]])
def test_misspelled_model_gets_a_suggestion(command):
    out = cli(command[0], "lfi", *command[1:])
    assert_one_line_usage_error(out, "unknown model 'lfi'; did you mean 'lif'?", "bundled models:", "adex")


def test_misspelled_model_in_validate_and_wrong_case():
    assert_one_line_usage_error(cli("validate", "--models", "adexx"), "did you mean 'adex'?")
    assert_one_line_usage_error(cli("show", "HH"), "did you mean 'hh'?")


def test_unit_power_error_shows_the_accepted_spelling():
    out = cli("run", "optogenetic_lif", "--light", "0:10:5mW/mm2", "--duration", "0.05")
    assert_one_line_usage_error(out, "--light", "mm**2")
    # and the spelling it shows is accepted
    ok = cli("run", "optogenetic_lif", "--light", "0:10:5mW/mm**2", "--duration", "0.05")
    assert ok.returncode == 0, ok.stderr
    ok = cli("run", "optogenetic_lif", "--light", "0:10:5mW/mm^2", "--duration", "0.05")
    assert ok.returncode == 0, ok.stderr


# ---------------------------------------------------------------------------- hh-equivalent units
def test_hh_equivalent_text_and_json_state_units():
    from lifbridge.cli import print_hh_equivalent
    from lifbridge.judge import hh_equivalent
    from lifbridge.records import dumps

    result = hh_equivalent(quick=True)
    stream = io.StringIO()
    print_hh_equivalent(result, stream)
    text = stream.getvalue()
    lif_units = {"C_m": "pF", "tau_m": "ms", "E_L": "mV", "V_th": "mV", "V_reset": "mV", "t_ref": "ms"}
    section = text.split("Equivalent LIF\n")[1].split("\n\n")[0].splitlines()
    assert {line.split()[0]: line.split()[-1] for line in section} == lif_units
    section = text.split("Equivalent ADEX\n")[1].split("\n\n")[0].splitlines()
    adex = lifbridge.load("adex")
    for line in section:
        name, _, unit = line.split()
        assert unit == adex.parameters[name].unit.name
    assert "I [pA]" in text and "HH [Hz]" in text and "AdEx [Hz]" in text
    checks = text.split("\nChecks\n")[1].split("\n\n")[0].splitlines()
    assert checks[0].split()[-1] == "unit"
    for line in checks[1:]:
        assert line.split()[-1] in {"mV", "Hz", "relative", "ratio", "dimensionless"}, line
    measurements = text.split("Measurements\n")[1].split("\n\n")[0].splitlines()
    for line in measurements:  # every value is followed by its unit
        assert not re.fullmatch(r"[-+0-9.e]+", line.split()[-1]), line
    plain = json.loads(dumps(result))
    assert plain["units"]["lif_parameters"] == lif_units
    assert set(plain["units"]["adex_parameters"]) == set(plain["adex_parameters"])
    assert plain["units"]["measurements.rest_state"]["V_m"] == "mV"


# ---------------------------------------------------------------------------- broken pipe
@pytest.mark.parametrize("args", [["show", "hh"], ["models"], ["models", "--json"], ["show", "adex", "--json"],
                                  ["generate", "adex", "--target", "nestml"],
                                  ["run", "lif", "--current", "500pA", "--duration", "0.05"]])
def test_closed_stdout_ends_quietly_with_141(args):
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        out = subprocess.run([sys.executable, "-m", "lifbridge", *args], stdout=write_end, stderr=subprocess.PIPE,
                             text=True, timeout=600)
    finally:
        os.close(write_end)
    assert out.returncode == EXIT_BROKEN_PIPE, out.stderr
    assert out.stderr == ""


def test_show_into_head_has_no_traceback():
    out = subprocess.run(f"{sys.executable} -m lifbridge show hh | head -n 1", shell=True, capture_output=True,
                         text=True, timeout=600)
    assert out.stdout.startswith("hh:") and out.stderr == ""


# ---------------------------------------------------------------------------- backend not installed
WITHOUT_NEST = ("-c", "import sys; sys.modules['nest'] = None; sys.modules['pynestml'] = None; "
                "from lifbridge.cli import main; sys.exit(main(sys.argv[1:]))")


@pytest.mark.parametrize("args", [["nest-build", "lif"], ["run", "lif", "--backend", "nest", "--duration", "0.01"],
                                  ["fi", "lif", "--backend", "nest", "--currents", "0:1:2"],
                                  ["validate", "--models", "lif", "--backends", "nest", "--quick", "--no-progress"]])
def test_backend_not_installed_is_exit_1_everywhere(args, tmp_path):
    out = subprocess.run([sys.executable, *WITHOUT_NEST, *args, *(["--out", str(tmp_path)] if args[0] == "validate"
                                                                  else [])],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 1, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr
    assert "backend 'nest' needs the Python package(s) nest" in lines[0] and "pip install" in lines[0]


# ---------------------------------------------------------------------------- unusable cache
@pytest.mark.parametrize("args", [["run", "lif", "--target", "cpp_standalone", "--duration", "0.01"],
                                  ["fi", "lif", "--target", "cpp_standalone", "--currents", "0:1:2"],
                                  ["run", "lif", "--backend", "nest", "--duration", "0.01"],
                                  ["nest-build", "lif"],
                                  ["validate", "--models", "lif", "--quick", "--no-progress"]])
@pytest.mark.parametrize("kind", ["file", "below a file"])
def test_unusable_cache_is_one_line_naming_the_variable(args, kind, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    path = blocker if kind == "file" else blocker / "cache"
    extra = ["--out", str(tmp_path / "report")] if args[0] == "validate" else []
    out = cli(*args, *extra, env={"LIFBRIDGE_CACHE": str(path)})
    assert_one_line_usage_error(out, f"LIFBRIDGE_CACHE={path}", "writable directory")


def test_cache_root_checks_once_and_creates_the_directory(tmp_path, monkeypatch):
    from lifbridge.cache import CacheError, cache_root

    monkeypatch.setenv("LIFBRIDGE_CACHE", str(tmp_path / "new" / "cache"))
    assert cache_root() == tmp_path / "new" / "cache" and cache_root().is_dir()
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("LIFBRIDGE_CACHE", str(tmp_path / "file"))
    with pytest.raises(CacheError, match="not a directory"):
        cache_root()


# ---------------------------------------------------------------------------- rebuild notes
def test_damaged_reference_result_says_why_it_is_recomputed(tmp_path, monkeypatch, capsys):
    from lifbridge.stimulus import Stimulus
    from lifbridge.validation.protocols import Batch
    from lifbridge.validation.references import cache_dir, reference_batch

    monkeypatch.setenv("LIFBRIDGE_CACHE", str(tmp_path))
    batch = Batch(lifbridge.load("lif"), Stimulus.constant([500.0]), 50.0, 0.1, [])
    first = reference_batch(batch)
    assert capsys.readouterr().err == ""
    (entry,) = cache_dir().glob("lif-*.json")
    entry.write_text(entry.read_text()[:20])
    again = reference_batch(batch)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"rebuilding reference result {entry.name}: cached result damaged" in err[0]
    assert np.allclose(again.spike_times_ms[0], first.spike_times_ms[0])
    reference_batch(batch)
    assert capsys.readouterr().err == ""


# ---------------------------------------------------------------------------- recommended time step
@pytest.mark.slow
def test_note_when_the_model_recommends_a_finer_dt():
    out = cli("run", "hh", "--current", "1nA", "--duration", "30ms")
    assert out.returncode == 0, out.stderr
    notes = [line for line in out.stderr.splitlines() if line.startswith("note:")]
    assert notes == ["note: hh recommends dt <= 0.01 ms (Brian2 exponential Euler is first order); "
                     "running at 0.1 ms"]
    out = cli("fi", "hh", "--currents", "0:1000:2", "--duration", "30ms", "--dt", "0.05ms")
    assert out.stderr.count("note: hh recommends dt <= 0.01 ms") == 1 and "running at 0.05 ms" in out.stderr
    for args in (["run", "hh", "--duration", "20ms", "--dt", "0.01"], ["run", "lif", "--duration", "20ms"]):
        out = cli(*args)
        assert out.returncode == 0 and "note:" not in out.stderr, out.stderr


# ---------------------------------------------------------------------------- no traceback, ever
BAD_INPUTS = [
    # unknown model
    ["show", "nosuch"], ["generate", "nosuch", "--target", "brian2"], ["run", "nosuch"],
    ["fi", "nosuch", "--currents", "0:1:2"], ["validate", "--models", "nosuch"], ["nest-build", "nosuch"],
    ["show", "tests/does_not_exist.toml"], ["run", "/nonexistent/model.toml"],
    # bad unit
    ["run", "lif", "--current", "5xA"], ["run", "lif", "--current", "5mV"], ["run", "lif", "--duration", "1parsec"],
    ["fi", "lif", "--currents", "0:1:3", "--unit", "xx"], ["fi", "lif", "--currents", "0:1:3", "--unit", "mV"],
    ["run", "lif", "--param", "C_m=3mV"], ["run", "lif", "--init", "V_m=3pA"], ["validate", "--dt", "1pA"],
    ["run", "optogenetic_lif", "--light", "0:10:5mW/mm2"], ["run", "lif", "--step", "0:10:5mV"],
    # bad number
    ["run", "lif", "--duration", "abc"], ["run", "lif", "--dt", "fast"], ["run", "lif", "--current", "abc"],
    ["run", "lif", "--dt", "1e999"], ["fi", "lif", "--currents", "a:b:c"], ["fi", "lif", "--currents", "0:1:2.5"],
    ["validate", "--dt", "x"], ["run", "lif", "--param", "C_m=abc"], ["run", "lif", "--step", "a:b:5pA"],
    ["run", "lif", "--param", "C_m=nan"],
    # negative duration
    ["run", "lif", "--duration", "-1"], ["fi", "lif", "--currents", "0:1:2", "--duration", "-1s"],
    ["run", "lif", "--step", "-5:10:5pA"],
    # zero dt
    ["run", "lif", "--dt", "0"], ["fi", "lif", "--currents", "0:1:2", "--dt", "0ms"], ["validate", "--dt", "0"],
    # dt larger than duration; too many steps
    ["run", "lif", "--dt", "5ms", "--duration", "1ms"], ["fi", "lif", "--currents", "0:1:2", "--dt", "2s"],
    ["run", "lif", "--duration", "1000s", "--dt", "1e-6ms"],
    # --param / --init on unknown names
    ["run", "lif", "--param", "nosuch=1"], ["fi", "lif", "--currents", "0:1:2", "--param", "tau=5ms"],
    ["run", "lif", "--init", "nosuch=1"], ["run", "lif", "--param", "=5"], ["run", "lif", "--param", "C_m"],
    ["run", "lif", "--param", "V_m=-60mV"], ["run", "lif", "--init", "C_m=250pF"],
    # empty currents range, N = 0
    ["fi", "lif", "--currents", ""], ["fi", "lif", "--currents", "::"], ["fi", "lif", "--currents", "0:100"],
    ["fi", "lif", "--currents", "0:100:0"], ["fi", "lif", "--currents", "0:100:-3"],
    ["fi", "lif", "--currents", "0:100:10000000000"],
    # other usage
    ["run", "lif", "--step", "10:5:100pA"], ["run", "lif", "--step", "1:2"], ["run", "lif", "--light", "0:10:5"],
    ["run", "lif", "--record", "nosuch"], ["run", "izhikevich", "--preset", "XX"],
    ["run", "lif", "--backend", "nest", "--target", "numpy"], ["run", "lif", "--backend", "pynn"],
    ["generate", "lif", "--target", "nope"], ["generate", "lif", "--target", "brian2", "-o", "/nonexistent/dir/x.py"],
    ["validate", "--backends", "pynn"], ["validate", "--out", "/proc/version/report", "--models", "lif"],
    ["show"], ["nosuchcommand"], ["run", "lif", "--nosuchoption"], ["hh-equivalent", "--nosuchoption"],
    ["models", "--nosuchoption"], ["nest-build", "--nosuchoption"], ["hh-equivalent", "--out", "/proc/version/x"],
]


@pytest.mark.parametrize("args", BAD_INPUTS, ids=[" ".join(a) or "(empty)" for a in BAD_INPUTS])
def test_bad_input_is_exit_2_and_one_line(args):
    out = cli(*args)
    assert_one_line_usage_error(out)
    assert out.stdout == ""
