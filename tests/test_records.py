"""Records are the contract: made in one process, written as strict JSON, and rebuilt into the
same report in another (``lifbridge report``), merged across runs made apart."""

import dataclasses
import json
import math
import subprocess
import sys

import numpy as np
import pytest

import lifbridge
from lifbridge import records
from lifbridge.validation import validate, write_report

SCRIPT = "<script>alert('lif')</script> & friends"


def lifbridge_cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "lifbridge", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def brian2_records(tmp_path_factory):
    """A quick validation of lif on Brian2 (its description carrying markup), written by this process."""
    out = tmp_path_factory.mktemp("brian2")
    model = dataclasses.replace(lifbridge.load("lif"), description=SCRIPT)
    report = validate([model], ["brian2"], quick=True, progress=False, include_hh_equivalent=False)
    write_report(report, out)
    return out


def test_report_json_carries_its_schema_and_reads_back_as_records(brian2_records):
    data = json.loads((brian2_records / "report.json").read_text())
    assert data["schema"] == records.SCHEMA_ID
    assert json.loads((brian2_records / "report.schema.json").read_text()) == records.SCHEMA
    report = records.load_report(brian2_records / "report.json")
    assert {(r.model, r.backend, r.kind) for r in report.runs} == {("lif", "reference", "reference"),
                                                                   ("lif", "brian2", "backend")}
    assert all(isinstance(c, records.CheckRecord) for c in report.checks)
    assert {c.check for c in report.checks} >= {"fi_steady_rate", "fi_first_isi_rate", "step_voltage",
                                                "frozen_noise_coincidence", "siegert_rate"}
    assert [s.name for s in report.extras] == ["siegert", "spike_input"]
    assert records.dumps(report) == records.dumps(records.load_report(brian2_records / "report.json"))


def test_report_rebuilt_from_records_in_another_process_is_identical(brian2_records, tmp_path):
    out = tmp_path / "rebuilt"
    proc = lifbridge_cli("report", brian2_records / "report.json", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert (out / "index.html").read_bytes() == (brian2_records / "index.html").read_bytes()
    figures = sorted(p.name for p in brian2_records.glob("*.png"))
    assert figures == ["fi_lif.png", "noise_lif.png", "siegert.png", "step_lif.png"]
    assert sorted(p.name for p in out.glob("*.png")) == figures
    html = (out / "index.html").read_text()
    assert str(brian2_records) not in html and str(tmp_path) not in html


def test_model_text_reaches_the_page_escaped(brian2_records):
    html = (brian2_records / "index.html").read_text()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;lif&#39;)&lt;/script&gt; &amp; friends" in html


def test_records_from_two_runs_merge_into_one_report_with_both_backends(brian2_records, tmp_path):
    nest_out = tmp_path / "nest"
    proc = lifbridge_cli("validate", "--quick", "--models", "lif", "--backends", "nest", "--out", nest_out,
                         "--no-progress")
    if proc.returncode != 0 and "not installed" in proc.stderr:
        pytest.skip(proc.stderr.strip())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = tmp_path / "merged"
    proc = lifbridge_cli("report", brian2_records / "report.json", nest_out / "report.json", "--out", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # both runs carry the reference integrator's records for lif: the later file's are kept, and said so
    assert "replaces the results of lif/reference" in proc.stderr
    merged = records.load_report(out / "report.json")
    assert merged.config["backends"] == ["brian2", "nest"]
    assert {(r.backend, r.kind) for r in merged.runs} == {("reference", "reference"), ("brian2", "backend"),
                                                          ("nest", "backend")}
    assert {c.backend for c in merged.checks} == {"brian2", "nest", "reference"}   # the judge's own checks
    from lifbridge.validation.report import spike_input_table

    assert {row[1] for row in spike_input_table(merged.checks)["rows"]} == {"reference", "brian2", "nest"}
    assert sum(1 for c in merged.checks if c.check == "siegert_rate") == 2
    html = (out / "index.html").read_text()
    assert "<th>model</th><th>brian2</th><th>nest</th>" in html
    assert "nest" in merged.versions and "brian2" in merged.versions
    # the merged records rebuild the same page
    again = tmp_path / "again"
    assert lifbridge_cli("report", out / "report.json", "--out", again).returncode == 0
    assert (again / "index.html").read_bytes() == (out / "index.html").read_bytes()


@pytest.mark.parametrize("damage, field", [
    (lambda d: d.update(schema="lifbridge-report/0"), "schema"),
    (lambda d: d["checks"][0].pop("tolerance"), "checks[0].tolerance"),
    (lambda d: d["runs"][1].update(dt_ms="fine"), "runs[1].dt_ms"),
    (lambda d: d["checks"][1].update(status="maybe"), "checks[1].status"),
])
def test_invalid_records_are_one_line_naming_file_and_field(brian2_records, tmp_path, damage, field):
    data = json.loads((brian2_records / "report.json").read_text())
    damage(data)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    proc = lifbridge_cli("report", bad, "--out", tmp_path / "out")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"lifbridge report: {bad}: {field}:"), proc.stderr
    assert not (tmp_path / "out" / "index.html").exists()


def test_a_nan_token_is_refused_with_its_field(brian2_records, tmp_path):
    text = (brian2_records / "report.json").read_text()
    data = json.loads(text)
    data["checks"][0]["value"] = float("nan")
    bad = tmp_path / "nan.json"
    bad.write_text(json.dumps(data))  # Python's json writes the NaN token
    proc = lifbridge_cli("report", bad, "--out", tmp_path / "out")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"lifbridge report: {bad}: checks[0].value: a non-finite number token is not "
                                   f"strict JSON; write null for a missing or non-finite number "
                                   f"(lifbridge.records.dumps does)")


def test_records_of_different_protocols_do_not_merge(brian2_records, tmp_path):
    data = json.loads((brian2_records / "report.json").read_text())
    data["config"]["quick"] = False
    full = tmp_path / "full.json"
    full.write_text(json.dumps(data))
    proc = lifbridge_cli("report", brian2_records / "report.json", full, "--out", tmp_path / "out")
    assert proc.returncode == 2 and f"{full}: config.quick is false" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_the_writer_is_strict_and_keeps_what_was_not_finite():
    text = records.dumps({"a": float("nan"), "b": np.array([1.0, np.inf]), "c": np.float32(0.5), "d": (1, 2)})
    assert json.loads(text) == {"a": None, "b": [1.0, None], "c": 0.5, "d": [1, 2]}
    assert "NaN" not in text and "Infinity" not in text
    check = records.check_record("lif", "brian2", "fi_steady_rate", "fi", math.nan, 1.0, "Hz", False, "a reason")
    assert check.value is None and check.details["value_text"] == "nan" and check.status == "fail"
    gap = records.check_record("pif", "nest", "frozen_noise_coincidence", "frozen_noise", 0.5, 0.1, "fraction",
                               False, "a reason", known_gap="drifts apart")
    assert (gap.status, gap.passed, gap.within_tolerance) == ("known_gap", True, False)
    # a check record reads back as the same record
    assert records.CheckRecord.from_json(json.loads(records.dumps(gap))) == gap


def test_schema_checker_names_the_first_problem():
    assert records.schema_problem({"schema": records.SCHEMA_ID}) == ("config", "missing field")
    report = records.Report(config={"models": [], "backends": [], "quick": True}, versions={}, runs=[], checks=[])
    assert records.schema_problem(json.loads(records.dumps(report))) is None
    figure = records.Figure("../escape", panels=[])
    bad = json.loads(records.dumps(dataclasses.replace(report, extras=[records.Section("x", "X",
                                                                                       figures=[figure])])))
    assert records.schema_problem(bad)[0] == "extras[0].figures[0].name"
