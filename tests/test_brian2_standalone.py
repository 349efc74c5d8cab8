"""Brian2 cpp_standalone runs: each process builds, runs and reads its results in its own
directory, compiled objects are reused from the cache, and a damaged cached project
is rebuilt with a note that says why."""

import json
import os
import subprocess
import sys

import pytest

# every test compiles C++ projects in fresh caches
pytestmark = [pytest.mark.brian2, pytest.mark.slow]


def start(*args, cache):
    env = dict(os.environ, LIFBRIDGE_CACHE=str(cache))
    return subprocess.Popen([sys.executable, "-m", "lifbridge", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def finish(proc, timeout=900):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def fi_args(stop, duration="0.2", target="cpp_standalone"):
    return ["fi", "lif", "--currents", f"0:{stop}:3", "--duration", duration, "--target", target, "--json"]


def numpy_rates(stop, duration, cache):
    code, out, err = finish(start(*fi_args(stop, duration, "numpy"), cache=cache))
    assert code == 0, err
    return json.loads(out)["rates_hz"]


def project_dir(cache):
    (entry,) = (cache / "brian2").glob("standalone_*")
    return entry


def test_concurrent_runs_with_different_inputs_each_print_their_own_rates(tmp_path):
    runs = [("1000", "0.2"), ("2000", "0.3"), ("3000", "0.25")]
    procs = [start(*fi_args(stop, duration), cache=tmp_path) for stop, duration in runs]
    results = [finish(p) for p in procs]
    for (stop, duration), (code, out, err) in zip(runs, results):
        assert code == 0, err
        data = json.loads(out)
        assert data["currents"] == [0.0, float(stop) / 2, float(stop)]
        assert data["duration_s"] == float(duration)
        assert data["rates_hz"] == numpy_rates(stop, duration, tmp_path), (stop, duration)
    # nothing left behind but the cached project and its lock
    assert [p.name for p in (tmp_path / "brian2").iterdir() if p.name.startswith(".work")] == []


def test_identical_concurrent_runs_both_succeed(tmp_path):
    procs = [start(*fi_args("1500"), cache=tmp_path) for _ in range(2)]
    results = [finish(p) for p in procs]
    for code, out, err in results:
        assert code == 0, err
        assert "Text file busy" not in err
    assert json.loads(results[0][1]) == json.loads(results[1][1])
    assert json.loads(results[0][1])["rates_hz"] == numpy_rates("1500", "0.2", tmp_path)


def test_compiled_objects_are_reused_and_a_first_build_says_why(tmp_path):
    code, out, err = finish(start(*fi_args("1000"), cache=tmp_path))
    assert code == 0, err
    assert "building Brian2 standalone project standalone_" in err and "no cached build for this content" in err
    entry = project_dir(tmp_path)
    objects = sorted((entry / "code_objects").glob("*stateupdater*.o"))
    assert objects
    stamps = {p.name: p.stat().st_mtime_ns for p in objects}
    # other currents and another duration: the same cached project, its objects not recompiled
    code, out, err = finish(start(*fi_args("2000", "0.3"), cache=tmp_path))
    assert code == 0, err
    assert "building" not in err
    assert json.loads(out)["rates_hz"] == numpy_rates("2000", "0.3", tmp_path)
    entry = project_dir(tmp_path)
    assert {p.name: p.stat().st_mtime_ns for p in (entry / "code_objects").glob("*stateupdater*.o")} == stamps
    assert not (entry / "results").exists()


def test_damaged_cached_project_is_rebuilt_with_the_reason(tmp_path):
    code, out, err = finish(start(*fi_args("1000"), cache=tmp_path))
    assert code == 0, err
    entry = project_dir(tmp_path)
    damaged = next((entry / "code_objects").glob("*stateupdater*.o"))
    damaged.write_bytes(b"not an object file")
    code, out, err = finish(start(*fi_args("1000"), cache=tmp_path))
    assert code == 0, err
    notes = [line for line in err.splitlines() if line.startswith("lifbridge: rebuilding")]
    assert len(notes) == 1
    assert f"cached build damaged (checksum mismatch of code_objects/{damaged.name})" in notes[0]
    assert json.loads(out)["rates_hz"] == numpy_rates("1000", "0.2", tmp_path)


@pytest.mark.parametrize("problem", ["manifest", "missing file"])
def test_entry_problems_are_named(tmp_path, problem):
    from lifbridge.cache import MANIFEST, entry_problem, workspace

    with workspace(tmp_path, "entry", "test entry") as work:
        (work / "a.txt").write_text("a")
    entry = tmp_path / "entry"
    assert entry_problem(entry) is None
    if problem == "manifest":
        (entry / MANIFEST).write_text("{")
        assert entry_problem(entry) == "damaged (no readable manifest)"
    else:
        (entry / "a.txt").unlink()
        assert entry_problem(entry) == "damaged (a.txt is missing)"


def test_a_failed_use_leaves_the_cached_entry_alone(tmp_path):
    from lifbridge.cache import entry_problem, workspace

    with workspace(tmp_path, "entry", "test entry") as work:
        (work / "a.txt").write_text("good")
    with pytest.raises(RuntimeError):
        with workspace(tmp_path, "entry", "test entry") as work:
            assert (work / "a.txt").read_text() == "good"
            (work / "a.txt").write_text("half-written")
            raise RuntimeError("build failed")
    assert (tmp_path / "entry" / "a.txt").read_text() == "good" and entry_problem(tmp_path / "entry") is None
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".work")] == []
