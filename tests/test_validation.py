"""The validation harness: it passes correct backends, catches wrong ones, and writes a readable report."""

import json
import shutil
import subprocess
import sys

import pytest

import lifbridge
from lifbridge.runners import brian2 as brian2_runner
from lifbridge.validation import checks, tolerances
from lifbridge.validation.protocols import build_batch
from lifbridge.validation.references import late_release_reference, reference_batch


@pytest.fixture(scope="module")
def lif_batch():
    model = lifbridge.load("lif")
    batch = build_batch(model, quick=True)
    return batch, (reference_batch(batch), late_release_reference(batch))


def run_checks(batch, reference, model, backend=None):
    """Simulate ``model`` (maybe perturbed) on ``backend`` (default Brian2) and judge it
    against the unperturbed batch."""
    runner = backend.runner_module() if backend is not None else brian2_runner
    result = runner.simulate(model, batch.stimulus, duration_ms=batch.duration_ms, dt_ms=batch.dt_ms,
                             record=batch.record, record_neurons=batch.record_neurons)
    return {c["check"]: c for c in checks.all_checks(batch, result, *reference)}


def test_correct_backend_passes(lif_batch, backend):
    batch, reference = lif_batch
    found = run_checks(batch, reference, batch.model, backend)
    assert set(found) >= {"fi_steady_rate", "fi_first_isi_rate", "step_voltage", "step_spike_times",
                          "frozen_noise_coincidence"}
    failed = [name for name, c in found.items() if not c["passed"]]
    assert not failed, [found[n] for n in failed]


@pytest.mark.brian2
@pytest.mark.parametrize("perturbation", [{"V_th": -54.0}, {"t_ref": 0.0}, {"tau_m": 10.5}, {"V_reset": -69.0}])
def test_perturbed_backend_is_caught(lif_batch, perturbation):
    batch, reference = lif_batch
    wrong = batch.model.with_parameters(perturbation)
    found = run_checks(batch, reference, wrong)
    failed = {name for name, c in found.items() if not c["passed"]}
    assert "fi_steady_rate" in failed, (perturbation, found["fi_steady_rate"])


def test_tolerance_table_has_a_reason_for_every_row():
    for row in tolerances.all_tolerances():
        assert row.reason.strip(), row
    for gap in tolerances.KNOWN_GAPS:
        assert gap.reason.strip(), gap
    # most specific row wins
    assert tolerances.tolerance_for("fi_steady_rate", "adex", "nest").model == "adex"
    assert tolerances.tolerance_for("fi_steady_rate", "lif", "nest").model == "*"


def test_rate_allowance_is_the_grid_bound():
    tol = tolerances.Tolerance("x", "*", "*", steps=1.0)
    rate = 50.0  # Hz: ISI 20 ms; one 0.1 ms step changes the rate by 50 - 1/(20.1 ms) or 1/(19.9 ms) - 50
    allowed = tolerances.rate_allowance(rate, 0.1, tol)
    assert allowed == pytest.approx(1000 / 19.9 - 50.0, rel=1e-9)


def test_coincidence_counts_matches_within_window():
    # one backend spike (40) and one reference spike (30) of three each lack a partner
    assert checks.bracketed_coincidence([10.0, 20.05, 40.0], [10.02, 20.0, 30.0], None, 0.1) == (2, 6, 0)


@pytest.mark.slow
def test_validate_quick_writes_report_json_and_html(tmp_path):
    out = tmp_path / "report"
    proc = subprocess.run([sys.executable, "-m", "lifbridge", "validate", "--quick", "--models", "lif",
                           "--out", str(out), "--no-progress"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert set(report) >= {"config", "versions", "runs", "checks", "tolerances", "known_gaps", "extras"}
    assert report["config"]["quick"] is True and report["config"]["backends"] == ["brian2"]
    assert "brian2" in report["versions"] and "lifbridge" in report["versions"]
    kinds = {(r["model"], r["backend"]) for r in report["runs"]}
    assert kinds == {("lif", "reference"), ("lif", "brian2")}
    for check in report["checks"]:
        assert {"model", "backend", "check", "value", "tolerance", "unit", "passed", "reason"} <= set(check)
        assert check["reason"]
        assert check["passed"] is True
    siegert = [c for c in report["checks"] if c["check"] == "siegert_rate"]
    assert siegert and len(siegert[0]["details"]["rate_hz"]) == len(siegert[0]["details"]["siegert_hz"])
    # the spike-input protocol ran for lif on Brian2 and on the reference, one table row each
    spike_checks = {(c["backend"], c["check"]) for c in report["checks"] if c["protocol"] in ("single_spike", "poisson")}
    assert ("brian2", "poisson_coincidence") in spike_checks and ("reference", "psc_shape") in spike_checks
    assert any(x["name"] == "spike_input" for x in report["extras"])
    from lifbridge.records import load_report
    from lifbridge.validation.report import spike_input_table

    table = spike_input_table(load_report(out / "report.json").checks)
    assert [row[:2] for row in table["rows"]] == [["lif", "reference"], ["lif", "brian2"]]
    assert [row[-1] for row in table["rows"]] == ["pass", "pass"]
    html = (out / "index.html").read_text()
    assert "Spike input through every port" in html and "Poisson spikes unmatched" in html
    # the capability matrix covers every registered backend, run here or not, each with lif's support
    declared = {(c["backend"], c["support"]) for c in report["config"]["capabilities"] if c["model"] == "lif"}
    assert {b for b, _ in declared} == set(lifbridge.backends.names())
    assert ("brian2", "exact") in declared and "<th>brian2 *</th>" in html
    for name in lifbridge.backends.names():
        if name != "brian2":
            assert f"<th>{name}</th>" in html
    for figure in ("fi_lif.png", "step_lif.png", "noise_lif.png", "siegert.png"):
        assert (out / figure).stat().st_size > 5000
        assert f"src='{figure}'" in html


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="Debian package chromium is not installed")
def test_report_renders_in_headless_chromium_with_all_figures(tmp_path):
    out = tmp_path / "report"
    subprocess.run([sys.executable, "-m", "lifbridge", "validate", "--quick", "--models", "lif", "--out", str(out),
                    "--no-progress"], check=True, capture_output=True, timeout=600)
    # Mark each image with whether it decoded, then let Chromium dump the resulting DOM.
    page = (out / "index.html").read_text().replace(
        "</body>", "<script>window.addEventListener('load',()=>{for(const i of document.images)"
        "{i.setAttribute('data-loaded', i.complete && i.naturalWidth>0 ? 'yes':'no')}})</script></body>")
    (out / "check.html").write_text(page)
    proc = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                           "--no-first-run", "--disable-background-networking", "--disable-component-update",
                           "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
                           "--dump-dom", (out / "check.html").as_uri()], capture_output=True, text=True, timeout=120)
    dom = proc.stdout
    assert "lifbridge validation report" in dom, proc.stderr[-2000:]
    loaded = dom.count('data-loaded="yes"')
    assert loaded >= 4 and 'data-loaded="no"' not in dom, dom[:3000]
    screenshot = tmp_path / "report.png"
    subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    f"--user-data-dir={tmp_path / 'profile2'}", f"--screenshot={screenshot}", "--window-size=1200,2000",
                    (out / "index.html").as_uri()], capture_output=True, timeout=120)
    assert screenshot.exists() and screenshot.stat().st_size > 10000


def test_every_check_record_has_a_status_and_a_healthy_run_is_never_diverged(lif_batch, backend):
    batch, (reference, late_release) = lif_batch
    assert reference.diverged is None
    result = backend.runner_module().simulate(batch.model, batch.stimulus, duration_ms=batch.duration_ms,
                                              dt_ms=batch.dt_ms, record=batch.record,
                                              record_neurons=batch.record_neurons)
    assert result.diverged is None
    for record in checks.all_checks(batch, result, reference, late_release):
        assert record["status"] in ("pass", "fail", "known_gap")
        assert record["status"] != "pass" or record["passed"]


def test_bracketed_coincidence_excuses_only_spikes_the_two_references_disagree_on():
    reference = [10.0, 30.0, 50.0, 70.0]
    late = [10.0, 52.0, 70.0]                    # 30 grazes; 50 moves to 52 with the later release
    # a backend that follows the late release everywhere: nothing unmatched
    assert checks.bracketed_coincidence([10.0, 52.0, 70.0], reference, late, 0.5) == (0, 5, 3)
    # one that follows the exact one everywhere: nothing unmatched either
    assert checks.bracketed_coincidence([10.0, 30.0, 50.0, 70.0], reference, late, 0.5) == (0, 6, 3)
    # a robust spike missed and a spurious one added are both counted
    assert checks.bracketed_coincidence([10.0, 52.0, 60.0], reference, late, 0.5) == (2, 5, 3)
    # without a bracket it is the plain two-way count
    assert checks.bracketed_coincidence([10.0, 31.0], reference, None, 0.5) == (4, 6, 0)


def test_grazing_spikes_are_few_in_the_quick_frozen_noise_protocol(lif_batch):
    # The bracket must not excuse much: if most reference spikes grazed, the check would be
    # empty. In 300 ms of lif about a quarter of the reference spikes follow a grazing
    # excursion (a missed spike shifts the next few until the noise pulls them together).
    batch, (reference, late_release) = lif_batch
    noise = batch.protocol("frozen_noise")
    total = sum(len(reference.spike_times_ms[i]) for i in noise.neurons)
    grazing = sum(checks.bracketed_coincidence([], reference.spike_times_ms[i], late_release.spike_times_ms[i],
                                               0.5)[2] for i in noise.neurons)
    assert total >= 20 and grazing <= total / 3, (grazing, total)


def test_a_backend_with_time_steps_is_measured_at_each(tmp_path):
    """spinnaker.emulated declares SpiNNaker's 1 ms and 0.1 ms: validate measures the f-I error
    against the closed form and the spike-time drift against the reference at both, judges the
    f-I with the tolerance table's row at each step, and the coarser step is the worse one."""
    from lifbridge.validation import validate, write_report

    lif = lifbridge.load("lif")
    report = validate([lif], ["spinnaker.emulated"], quick=True, progress=False, include_siegert=False,
                      include_hh_equivalent=False, spike_input=[])
    checks = [c for c in report.checks if c.protocol.startswith("fi_dt_")]
    assert sorted(c.protocol for c in checks) == ["fi_dt_0.1ms", "fi_dt_1ms"]
    assert all(c.status == "pass" for c in checks), [(c.protocol, c.value, c.tolerance) for c in checks]
    section = next(e for e in report.extras if e.name == "time_steps_spinnaker.emulated")
    rows = {row[0]: row for row in section.tables[0].rows}
    error = {dt: row[2] for dt, row in rows.items()}
    drift = {dt: row[6] for dt, row in rows.items()}
    assert error[1.0] > error[0.1] and drift[1.0] > 5 * drift[0.1] > 0
    assert rows[0.1][4] >= 100          # spikes compared in the drift
    page = write_report(report, tmp_path / "report").read_text()
    assert "at its time steps" in page and (tmp_path / "report" / "time_steps_lif_spinnaker.emulated.png").is_file()
