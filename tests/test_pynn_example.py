"""The generated PyNN example's records (lifbridge.pynn.example) and the report's comparison of
them with lifbridge's backends (lifbridge.validation.examples, ``lifbridge report --beside``).

pyNN.nest runs lifbridge's own NESTML neuron, and the nest backend runs the same neuron. So
if the script records its input and parameters rightly, and the report reads them back by
PyNN's rules (a spike sent at t over delay d acts at t + d; a current source's amplitude
holds from its time on), the nest backend's rerun is the recording spike for spike and
sample for sample. That is what the first test asks, with a changed parameter and at a time
step the script sets.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

import lifbridge
from lifbridge.pynn.example import input_spike_times
from lifbridge.records import Report, merge

pytestmark = pytest.mark.pynn


def _script_records(tmp_path, name, *options):
    pytest.importorskip("pyNN")
    pytest.importorskip("nest")
    script = tmp_path / "example.py"
    made = subprocess.run([sys.executable, "-m", "lifbridge", "generate", name, "--target", "pynn", *options,
                           "-o", str(script)], capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    ran = subprocess.run([sys.executable, str(script), "nest"], capture_output=True, text=True, timeout=900,
                         cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr[-2000:]
    records = tmp_path / "example_nest.json"
    assert f"saved {records}" in ran.stdout
    return records


def _report(records, tmp_path, *beside):
    out = tmp_path / "report"
    made = subprocess.run([sys.executable, "-m", "lifbridge", "report", str(records), "--beside", *beside,
                           "--out", str(out)], capture_output=True, text=True, timeout=900)
    return made, out


@pytest.mark.parametrize("name,options", [("lif", ("--param", "C_m=200pF", "--dt", "1ms")),
                                          ("lif_cond", ("--param", "V_th=-56mV", "--dt", "0.1ms"))])
def test_the_nest_backend_reruns_the_scripts_recording_exactly(name, options, tmp_path):
    records = _script_records(tmp_path, name, *options)
    made, out = _report(records, tmp_path, "nest", "spinnaker.emulated")
    assert made.returncode == 0, made.stderr
    report = json.loads((out / "report.json").read_text())
    section = next(s for s in report["extras"] if s["name"] == f"example:{name}")
    rows = {row[0]: row for row in section["tables"][0]["rows"]}
    assert set(rows) == {"pynn.nest", "nest", "spinnaker.emulated"}
    recorded, rerun = rows["pynn.nest"], rows["nest"]
    assert recorded[1] > 50                                  # spikes: the input drives the neurons
    assert rerun[1] == recorded[1] and rerun[3] == pytest.approx(1.0) and rerun[4] == pytest.approx(100.0)
    assert rerun[5] == pytest.approx(0.0, abs=1e-9) and rerun[6] < 1e-6   # no lag, the same membrane (mV)
    # the emulation ran the same input and is compared (its error is the backend's, judged by validate)
    emulated = rows["spinnaker.emulated"]
    assert emulated[1] > 0 and np.isfinite(emulated[3]) and np.isfinite(emulated[6])
    assert (out / f"example_{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the parameter given to generate reached the records in the model's names and units
    run = next(r for r in report["runs"] if r["backend"] == "pynn.nest")
    given = options[1].split("=")
    assert run["protocols"]["example"]["info"]["parameters"][given[0]].startswith(
        str(float(lifbridge.units.parse_quantity(given[1])[0])))


def test_beside_refuses_in_one_line(tmp_path):
    """No example in the records, an unknown backend, a model the backend cannot run: one line each."""
    records = _script_records(tmp_path, "lif", "--dt", "1ms")
    data = json.loads(records.read_text())
    validation_like = tmp_path / "plain.json"
    validation_like.write_text(json.dumps({**data, "runs": []}))
    other_model = tmp_path / "adex.json"
    data["runs"][0]["model"] = data["config"]["models"][0] = "adex"
    data["runs"][0]["protocols"]["example"]["info"]["model_reference"] = "adex"
    other_model.write_text(json.dumps(data))
    for given, beside, words in ((validation_like, "nest", "no example run"), (records, "nestt", "unknown backend"),
                                 (other_model, "spinnaker.emulated", "not supported there")):
        made, _ = _report(given, tmp_path, beside)
        assert made.returncode != 0
        lines = made.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0], made.stderr


def test_example_records_merge_with_a_validation_report():
    """An example script's records carry no validation protocol: they join a quick validation's
    records without the 'different protocols' refusal, and the validation's config stays."""
    example = Report(config={"protocols": "example", "models": ["lif"], "backends": ["pynn.nest"], "quick": False,
                             "dt_ms": 1.0}, versions={}, runs=[], checks=[])
    validation = Report(config={"models": ["lif"], "backends": ["nest"], "quick": True,
                                "dt_ms_per_model": {"lif": 0.1}}, versions={}, runs=[], checks=[])
    for order in ((example, validation), (validation, example)):
        merged = merge(order)
        assert merged.config["quick"] is True and merged.config["dt_ms_per_model"] == {"lif": 0.1}
        assert merged.config["backends"] == [b for r in order for b in r.config["backends"]]


def test_input_spikes_are_on_the_grid_at_the_asked_rate_and_the_same_everywhere():
    """At most one spike per step, from 2 dt on, arriving before the end; the count per neuron
    is binomial(steps, rate dt): its mean within 4 standard errors; the same seed, the same times."""
    dt, rate, duration, delay, n = 0.1, 2000.0, 500.0, 1.0, 40
    trains = input_spike_times(n, rate, duration, dt, delay, 0)
    steps = int(np.floor((duration - delay) / dt - 1e-9)) - 1
    p = rate * dt * 1e-3
    counts = np.array([len(t) for t in trains])
    assert abs(counts.mean() - steps * p) < 4 * np.sqrt(steps * p * (1 - p) / n)
    for times in trains:
        k = np.asarray(times) / dt
        assert np.allclose(k, np.round(k)) and len(set(np.round(k))) == len(k)
        assert min(times) >= 2 * dt - 1e-12 and max(times) + delay < duration
    assert trains == input_spike_times(n, rate, duration, dt, delay, 0)
    assert trains != input_spike_times(n, rate, duration, dt, delay, 1)
    with pytest.raises(lifbridge.errors.ParameterError, match="probability"):
        input_spike_times(1, 20000.0, duration, dt, delay, 0)
