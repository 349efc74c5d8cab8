"""A diverged simulation is reported as such on every backend, never as spikes or rates.

The four cases: izhikevich under 1e9 pA (rk4 overflows to nan), hh at dt = 0.5 ms under
1e6 pA (exponential Euler runs away to volts; the true peak is 255 mV), a model file whose
tau_m is 0 (nan from the first step), and a sweep over such currents.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lifbridge
from lifbridge.errors import ParameterError
from lifbridge.overrides import resolve
from lifbridge.divergence import RUNAWAY_FACTOR, runaway_bounds
from lifbridge.errors import Diverged
from lifbridge.reference import reference_simulate
from lifbridge.stimulus import Stimulus

MODELS = Path(lifbridge.__file__).resolve().parent.parent / "models"


def cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "lifbridge", *args], capture_output=True, text=True,
                          timeout=timeout)


def strict_json(text):
    """Parse ``text`` refusing NaN and Infinity tokens."""
    return json.loads(text, parse_constant=lambda token: pytest.fail(f"non-strict JSON token {token}"))


def assert_one_line_divergence(out, command, model, *phrases):
    assert out.returncode == 3, (out.returncode, out.stderr)
    # one line for the divergence (a note about the model's recommended step, or that a cached
    # build is being made, may precede it)
    lines = [line for line in out.stderr.strip().splitlines()
             if not line.startswith(("note: ", "lifbridge: building "))]
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith(f"lifbridge {command}: {model} ")
    assert "diverged at t = " in lines[0] and "fix: a smaller --dt" in lines[0]
    assert "Traceback" not in out.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]


def model_file(tmp_path, source, name, replacements, drop=()):
    text = (MODELS / f"{source}.toml").read_text()
    text = text.replace(f'name = "{source}"', f'name = "{name}"', 1)
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    lines = [line for line in text.splitlines() if not any(line.startswith(d) for d in drop)]
    path = tmp_path / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def zero_tau(tmp_path):
    """lif with tau_m = 0 (the 'above = 0' bound removed; no closed form to check against)."""
    return model_file(tmp_path, "lif", "lif_tau0",
                      [('tau_m       = { value = 10.0,  unit = "ms", above = 0.0,',
                        'tau_m       = { value = 0.0,  unit = "ms",')],
                      drop=("analytic",))


@pytest.fixture
def stiff_izhikevich(tmp_path):
    """izhikevich with a = 30/ms: rk4 at dt = 0.1 ms is unstable for U_m (a dt = 3), the reference is not."""
    return model_file(tmp_path, "izhikevich", "izhikevich_stiff",
                      [('a    = { value = 0.02,', 'a    = { value = 30.0,')], drop=("nest_builtin",))


# ---------------------------------------------------------------------------- the rule
def test_runaway_bound_is_ten_times_the_largest_voltage_parameter_of_the_membrane_potential():
    hh, izh, lif = (lifbridge.load(m) for m in ("hh", "izhikevich", "lif"))
    assert RUNAWAY_FACTOR == 10
    assert runaway_bounds(hh)["V_m"] == pytest.approx(770.0)   # E_K = -77 mV
    assert runaway_bounds(lif)["V_m"] == pytest.approx(700.0)  # E_L = -70 mV
    bounds = runaway_bounds(izh)
    assert bounds["V_m"] == pytest.approx(650.0)               # c = -65 mV
    assert bounds["U_m"] == np.inf                             # not read by the spike condition
    assert all(v == np.inf for k, v in runaway_bounds(hh).items() if k != "V_m")
    # overrides are part of the model as simulated (as the runners pass them: resolved)
    resolved = resolve(lif, {"V_reset": "-100 mV"})
    assert runaway_bounds(lif, resolved.parameters)["V_m"] == pytest.approx(1000.0)
    per_neuron = resolve(lif, {"V_reset": ["-80 mV", "-120 mV"]}, n=2)
    assert runaway_bounds(lif, per_neuron.parameters)["V_m"] == pytest.approx(1200.0)


# ---------------------------------------------------------------------------- the command line
def _fixed_point(backend) -> bool:
    """A backend whose numbers are SpiNNaker's s16.15: 1e9 pA cannot be written at all."""
    return backend.name == "spinnaker.emulated"


def test_run_with_a_huge_current_exits_3_with_one_line_and_no_spike_count(backend):
    from conftest import skip_unless_supported

    skip_unless_supported(backend, lifbridge.load("izhikevich"))
    out = cli("run", "izhikevich", "--current", "1e9pA", "--duration", "0.02", "--backend", backend.name)
    if _fixed_point(backend):
        # refused before it runs: one line naming the value and the number format's range
        assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert "i_offset = 1e+09" in out.stderr and "s16.15 range" in out.stderr
        assert out.stdout == ""
        return
    assert_one_line_divergence(out, "run", "izhikevich", f"on {backend.name}", "(V_m = nan")
    assert out.stdout == ""  # no "3 spikes"


def test_run_json_of_a_diverged_run_is_strict_and_has_no_spikes_or_traces():
    out = cli("run", "izhikevich", "--current", "1e9pA", "--duration", "0.05", "--record", "V_m", "--json")
    assert out.returncode == 3, out.stderr
    data = strict_json(out.stdout)
    assert "spike_times_ms" not in data and "V_m" not in data
    diverged = data["diverged"]
    assert diverged["variable"] == "V_m" and diverged["kind"] == "non-finite"
    assert diverged["value"] is None and diverged["value_text"] == "nan"
    assert 0 < diverged["t_ms"] < 5 and diverged["neurons"] == [0]


def test_fi_gives_no_rate_for_diverged_currents():
    out = cli("fi", "izhikevich", "--currents", "0:1e9:5", "--duration", "0.05", "--json")
    assert out.returncode == 3, out.stderr
    data = strict_json(out.stdout)
    assert data["rates_hz"][0] == 0.0
    assert data["rates_hz"][1:] == [None] * 4
    assert data["diverged_currents"] == pytest.approx([2.5e8, 5e8, 7.5e8, 1e9])
    assert "4 of 5 currents diverged" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    text = cli("fi", "izhikevich", "--currents", "0:1e9:5", "--duration", "0.05")
    assert text.returncode == 3
    rows = [line.split() for line in text.stdout.splitlines() if not line.lstrip().startswith(("#", "I"))]
    assert [row[1] for row in rows] == ["0", "diverged", "diverged", "diverged", "diverged"]


def test_hh_at_a_coarse_step_runs_away_and_says_so():
    out = cli("run", "hh", "--dt", "0.5", "--current", "1e6pA", "--duration", "0.02")
    assert_one_line_divergence(out, "run", "hh", "V_m = ", "mV, beyond the runaway bound +-770 mV")


def test_zero_time_constant_diverges_on_brian2_and_the_reference(zero_tau):
    out = cli("run", str(zero_tau), "--current", "500pA", "--duration", "0.05")
    assert_one_line_divergence(out, "run", "lif_tau0", "(V_m = nan)")
    result = reference_simulate(lifbridge.load(zero_tau), duration_ms=50.0, bias_pA=[0.0, 500.0])
    assert result.diverged_neurons == [0, 1]
    assert result.diverged.first.t_ms == 0.0 and result.diverged.first.variable == "dV_m/dt"
    with pytest.raises(Diverged, match="diverged at t = 0 ms"):
        result.rates_hz()


# ---------------------------------------------------------------------------- runners, healthy runs
def test_runner_names_the_diverged_neurons_and_refuses_their_rates(backend):
    from conftest import skip_unless_supported

    skip_unless_supported(backend, lifbridge.load("izhikevich"))
    if _fixed_point(backend):
        # s16.15 holds 65535 nA at most: 1e9 pA is refused before the run, naming the value
        with pytest.raises(ParameterError, match="s16.15 range"):
            backend.simulate(lifbridge.load("izhikevich"), Stimulus.constant([10.0, 1e9]), duration_ms=20.0)
        return
    result = backend.simulate(lifbridge.load("izhikevich"), Stimulus.constant([10.0, 1e9]), duration_ms=20.0)
    assert result.diverged_neurons == [1]
    assert result.diverged.first.variable == "V_m" and 0 < result.diverged.first.t_ms <= 1.0
    with pytest.raises(Diverged):
        result.rates_hz()
    rates = result.rates_hz(skip_diverged=True)
    assert np.isnan(rates[1]) and np.isfinite(rates[0])


def test_overdriven_reset_model_is_not_flagged(backend):
    # lif under 10 uA crosses threshold by volts within one step, but the reset takes it back
    result = backend.simulate(lifbridge.load("lif"), Stimulus.constant([500.0, 1e7]), duration_ms=50.0)
    if _fixed_point(backend):
        # on SpiNNaker I R = 10 uA x 40 MOhm = 4e5 mV wraps around in s16.15: that is a divergence
        assert result.diverged_neurons == [1] and "wrap" in result.diverged.describe()
        return
    assert result.diverged is None
    assert result.rates_hz()[1] > 400


def test_true_hh_peak_is_not_flagged():
    # the exact hh solution under 1 uA peaks at 255 mV, within its bound of 770 mV
    reference = reference_simulate(lifbridge.load("hh"), duration_ms=20.0, bias_pA=1e6, record=["V_m"])
    assert reference.diverged is None
    assert 200 < reference.traces["V_m"][1].max() < 770


# ---------------------------------------------------------------------------- NEST
@pytest.fixture(scope="module")
def nest_runner():
    from lifbridge import backends

    return backends.require("nest").runner_module()


@pytest.mark.nest
def test_nest_reports_runaway_and_nan_of_the_generated_neurons(nest_runner):
    hh = nest_runner.simulate(lifbridge.load("hh"), Stimulus.constant([1e6]), duration_ms=10.0, dt_ms=0.5)
    assert hh.diverged_neurons == [0] and hh.diverged.first.t_ms is not None
    lif = nest_runner.simulate(lifbridge.load("lif"), Stimulus.constant([0.0, 500.0]), duration_ms=10.0,
                               parameters={"tau_m": 0.0})
    assert lif.diverged_neurons == [0, 1]


@pytest.mark.nest
def test_a_nest_solver_failure_is_a_divergence_of_the_whole_run(nest_runner):
    # aeif_psc_exp stops the simulation with NumericalInstability: no neuron's spikes are complete
    result = nest_runner.simulate(lifbridge.load("adex"), Stimulus.constant([500.0, -1e9]), duration_ms=20.0,
                                  builtin=True)
    assert result.diverged_neurons == [0, 1]
    assert "numerical instability" in result.diverged.describe()


# ---------------------------------------------------------------------------- validate
def run_validate(model_path, tmp_path):
    from lifbridge.validation import summary_text, validate, write_report

    # the current-driven protocols only: the spike-input protocol diverges on its own population too
    report = validate([lifbridge.load(model_path)], ["brian2"], quick=True, progress=False, include_siegert=False,
                      include_hh_equivalent=False, spike_input=())
    write_report(report, tmp_path / "report")
    strict_json((tmp_path / "report" / "report.json").read_text())
    return report, summary_text(report), (tmp_path / "report" / "index.html").read_text()


def test_validate_gives_a_diverged_backend_its_own_status(stiff_izhikevich, tmp_path):
    report, summary, page = run_validate(stiff_izhikevich, tmp_path)
    brian2 = [c for c in report["checks"] if c["backend"] == "brian2"]
    assert len(brian2) == 1, brian2  # not judged further
    record = brian2[0]
    assert record["status"] == "diverged" and record["passed"] is False
    assert record["diverged"]["variable"] in ("V_m", "U_m") and record["diverged"]["t_ms"] > 0
    assert "DIVERGED izhikevich_stiff/brian2" in summary
    assert "class='diverged'" in page and "DIVERGED" in page
    assert not any(c["backend"] == "reference" for c in report["checks"])  # the judge itself is healthy


def test_validate_reports_a_diverged_reference_instead_of_crashing(zero_tau, tmp_path):
    report, summary, _ = run_validate(zero_tau, tmp_path)
    statuses = {(c["backend"], c["check"]): c["status"] for c in report["checks"]}
    assert statuses == {("brian2", "run"): "diverged", ("reference", "reference_run"): "diverged"}
    assert all(not c["passed"] for c in report["checks"])
    assert "DIVERGED lif_tau0/reference reference_run: diverged at t = 0 ms (dV_m/dt = nan)" in summary
