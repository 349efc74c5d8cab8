"""The lifbridge command line: outputs, JSON forms and exit codes."""

import json
import subprocess
import sys

import numpy as np
import pytest

import lifbridge
from lifbridge.analytic import lif_rate


def cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "lifbridge", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_models_lists_every_bundled_model():
    out = cli("models", "--json")
    assert out.returncode == 0
    names = [row["name"] for row in json.loads(out.stdout)]
    assert names == lifbridge.bundled_models()
    assert {"lif", "pif", "lif_cond", "adaptive_lif", "adex", "optogenetic_lif", "izhikevich", "hh"} <= set(names)


def test_show_json_has_units_and_defaults():
    out = cli("show", "adex", "--json")
    assert out.returncode == 0
    data = json.loads(out.stdout)
    assert data["name"] == "adex"
    assert data["parameters"]["C_m"]["value"] == 281.0 and data["parameters"]["C_m"]["unit"] == "pF"
    assert data["parameters"]["tau_w"]["unit"] == "ms"
    assert data["state"]["w"]["unit"] == "pA"
    assert data["inputs"]["I_stim"]["kind"] == "current"


def test_run_json_spike_times_and_trace():
    out = cli("run", "lif", "--current", "500pA", "--duration", "0.1", "--record", "V_m", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    # crossing after tau ln(20/5) = 13.86 ms, found at the next 0.1 ms grid point
    assert data["spike_times_ms"][0] == pytest.approx(13.9)
    assert len(data["t_ms"]) == len(data["V_m"]) == 1000
    assert data["units"]["V_m"] == "mV"
    assert min(data["V_m"]) == pytest.approx(-70.0)


@pytest.mark.slow
def test_run_step_and_units_on_the_command_line():
    step = json.loads(cli("run", "lif", "--step", "10:150:0.5nA", "--duration", "0.2", "--json").stdout)
    assert step["spike_times_ms"][0] == pytest.approx(10 + 13.9)
    assert max(step["spike_times_ms"]) < 150 + 0.1
    param = json.loads(cli("run", "lif", "--param", "I_e=500pA", "--param", "C_m=0.25nF", "--duration", "0.1",
                           "--json").stdout)
    assert param["spike_times_ms"][0] == pytest.approx(13.9)
    init = json.loads(cli("run", "lif", "--current", "500", "--init", "V_m=-60mV", "--duration", "0.05",
                          "--json").stdout)
    # from -60 mV: tau ln(10/5) = 6.93 ms
    assert init["spike_times_ms"][0] == pytest.approx(7.0)


def test_run_light_pulse_on_optogenetic_model():
    data = json.loads(cli("run", "optogenetic_lif", "--light", "20:200:5", "--current", "300pA", "--duration", "0.3",
                          "--json").stdout)
    spikes = np.asarray(data["spike_times_ms"])
    assert len(spikes) >= 4 and spikes[0] > 20
    isis = np.diff(spikes[spikes < 200])
    assert isis[-1] > isis[0]  # desensitization: the rate adapts during the pulse


def test_fi_json_matches_closed_form():
    out = cli("fi", "lif", "--currents", "0:2000:9", "--duration", "1", "--steady", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["currents"] == pytest.approx(np.linspace(0, 2000, 9).tolist())
    assert data["backend"] == "brian2" and data["dt_ms"] == 0.1 and data["model"] == "lif"
    theory = lif_rate(np.asarray(data["currents"]), C_m=250, tau_m=10, E_L=-70, V_th=-55, V_reset=-70, t_ref=2)
    rates = np.asarray(data["rates_hz"])
    assert np.all(rates[theory == 0] == 0)
    # Spikes are found on the grid and the clamp is released at t_spike + t_ref, so each
    # interval is the closed form's T rounded up to the grid, in [T, T + dt): the rate is
    # at most r^2 dt / (1 + r dt) below theory and never above it.
    bound = theory ** 2 * 1e-4 / (1 + theory * 1e-4)
    assert np.all(rates <= theory + 1e-9) and np.all(rates >= theory - bound - 1e-9)


def test_fi_unit_nA():
    data = json.loads(cli("fi", "lif", "--currents", "0:1:3", "--unit", "nA", "--json").stdout)
    assert data["currents"] == [0.0, 0.5, 1.0] and data["unit"] == "nA"
    assert data["rates_hz"][0] == 0 and data["rates_hz"][2] > data["rates_hz"][1] > 0


def test_generate_brian2_to_file(tmp_path):
    path = tmp_path / "adex.py"
    out = cli("generate", "adex", "--target", "brian2", "-o", str(path))
    assert out.returncode == 0
    text = path.read_text()
    assert "from brian2 import *" in text and "adex_equations" in text and "method='rk4'" in text


@pytest.mark.parametrize("args, phrase", [
    (["run", "lif", "--param", "C_m=3mV"], "C_m"),
    (["run", "lif", "--param", "V_reset=-50"], "V_reset < V_th"),
    (["run", "lif", "--param", "tau_m=-1ms"], "tau_m"),
    (["run", "lif", "--param", "nosuch=1"], "--param model 'lif' has no parameter or state variable 'nosuch'"),
    (["run", "lif", "--init", "nosuch=1"], "--init model 'lif' has no parameter or state variable 'nosuch'"),
    (["run", "lif", "--step", "10:5:100pA"], "T0 < T1"),
    (["run", "lif", "--light", "0:10:5"], "no light input"),
    (["run", "lif", "--record", "nosuch"], "--record nosuch"),
    (["run", "nosuchmodel"], "unknown model 'nosuchmodel'"),
    (["fi", "lif", "--currents", "0:1:x"], "START:STOP:N"),
    (["fi", "lif", "--currents", "0:1:3", "--unit", "mV"], "current unit"),
    (["run", "izhikevich", "--preset", "XX"], "no preset 'XX'"),
    (["show", "tests/does_not_exist.toml"], "no such model file"),
])
def test_bad_usage_exits_2_with_one_message(args, phrase):
    out = cli(*args)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert phrase in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_izhikevich_presets_change_the_firing():
    rs = json.loads(cli("run", "izhikevich", "--preset", "RS", "--current", "10", "--duration", "0.3", "--json").stdout)
    fs = json.loads(cli("run", "izhikevich", "--preset", "FS", "--current", "10", "--duration", "0.3", "--json").stdout)
    assert len(fs["spike_times_ms"]) > len(rs["spike_times_ms"]) > 0


def _strict(text):
    return json.loads(text, parse_constant=lambda token: pytest.fail(f"non-strict JSON token {token}"))


def test_json_output_of_healthy_commands_is_strict_and_exits_0():
    run = cli("run", "hh", "--current", "500pA", "--duration", "0.05", "--record", "V_m", "--record", "m", "--json")
    assert run.returncode == 0, run.stderr
    data = _strict(run.stdout)
    assert len(data["spike_times_ms"]) >= 1 and all(isinstance(v, float) for v in data["V_m"])
    fi = cli("fi", "izhikevich", "--currents", "0:20:3", "--duration", "0.2", "--json")
    assert fi.returncode == 0, fi.stderr
    data = _strict(fi.stdout)
    assert data["diverged"] is None and data["diverged_currents"] == []
    assert all(isinstance(r, float) for r in data["rates_hz"])
    for args in (("show", "adex", "--json"), ("models", "--json")):
        assert _strict(cli(*args).stdout)
