"""Tests of lifbridge.nest_build: compiling NESTML neurons into a cached NEST module.

Compiling a module takes 20-30 s, so the builds are few: one LIF module shared by most
tests (module-scoped fixture), one rebuild of a damaged copy of it, and one second model
(exponential IF, numeric solver) built by two processes at once.
"""

import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

os.environ.setdefault("PYNEST_QUIET", "1")      # no NEST banner
nest = pytest.importorskip("nest")
pytest.importorskip("pynestml")
pytestmark = pytest.mark.nest

import lifbridge  # noqa: E402
from lifbridge.nest_build import (NestBuildError, build_nest_module, check_build_prerequisites,  # noqa: E402
                                  find_cached_module, install_nest_module)

REPO = Path(lifbridge.__file__).resolve().parents[1]

LIF_NAME = "lbtest_lif_neuron"
LIF_SOURCE = f"""\
model {LIF_NAME}:
    state:
        V_m mV = E_L
        refr_t ms = 0 ms
        I_syn_exc pA = 0 pA
        I_syn_inh pA = 0 pA

    equations:
        I_syn_exc' = -I_syn_exc / tau_syn_exc
        I_syn_inh' = -I_syn_inh / tau_syn_inh
        V_m' = -(V_m - E_L) / tau_m + (I_syn_exc - I_syn_inh + I_e + I_stim) / C_m
        refr_t' = -1

    parameters:
        C_m pF = 250 pF
        tau_m ms = 10 ms
        tau_syn_exc ms = 2 ms
        tau_syn_inh ms = 2 ms
        refr_T ms = 2 ms
        E_L mV = -70 mV
        V_reset mV = -70 mV
        V_th mV = -55 mV
        I_e pA = 0 pA

    input:
        exc_spikes <- excitatory spike
        inh_spikes <- inhibitory spike
        I_stim pA <- continuous

    output:
        spike

    update:
        if refr_t > 0 ms:
            integrate_odes(I_syn_exc, I_syn_inh, refr_t)
        else:
            integrate_odes(I_syn_exc, I_syn_inh, V_m)

    onReceive(exc_spikes):
        I_syn_exc += exc_spikes * 1 pA * 1 s

    onReceive(inh_spikes):
        I_syn_inh += inh_spikes * 1 pA * 1 s

    onCondition(refr_t <= 0 ms and V_m >= V_th):
        refr_t = refr_T
        V_m = V_reset
        emit_spike()
"""

EIF_NAME = "lbtest_eif_neuron"
EIF_SOURCE = f"""\
model {EIF_NAME}:
    state:
        V_m mV = E_L
        refr_t ms = 0 ms
        g_syn nS = 0 nS

    equations:
        inline V_bounded mV = min(V_m, V_peak)
        g_syn' = -g_syn / tau_syn
        V_m' = (-g_L * (V_bounded - E_L) + g_L * Delta_T * exp((V_bounded - V_T) / Delta_T) - g_syn * (V_bounded - E_syn) + I_e + I_stim) / C_m
        refr_t' = -1

    parameters:
        C_m pF = 281 pF
        g_L nS = 30 nS
        E_L mV = -70.6 mV
        V_T mV = -50.4 mV
        Delta_T mV = 2 mV
        V_peak mV = 0 mV
        V_reset mV = -70.6 mV
        E_syn mV = 0 mV
        tau_syn ms = 5 ms
        refr_T ms = 2 ms
        I_e pA = 0 pA

    input:
        spikes_in <- spike
        I_stim pA <- continuous

    output:
        spike

    update:
        if refr_t > 0 ms:
            integrate_odes(g_syn, refr_t)
        else:
            integrate_odes(g_syn, V_m)

    onReceive(spikes_in):
        g_syn += spikes_in * 1 nS * 1 s

    onCondition(refr_t <= 0 ms and V_m >= V_peak):
        refr_t = refr_T
        V_m = V_reset
        emit_spike()
"""


DELTA_NAME = "lbtest_delta_neuron"
DELTA_SOURCE = f"""\
model {DELTA_NAME}:
    state:
        V_m mV = E_L
        refr_t ms = 0 ms

    equations:
        V_m' = -(V_m - E_L) / tau_m + (I_e + I_stim) / C_m
        refr_t' = -1

    parameters:
        C_m pF = 250 pF
        tau_m ms = 10 ms
        E_L mV = -70 mV
        V_reset mV = -70 mV
        V_th mV = -55 mV
        refr_T ms = 2 ms
        I_e pA = 0 pA

    input:
        spikes_in <- spike
        I_stim pA <- continuous

    output:
        spike

    update:
        if refr_t > 0 ms:
            integrate_odes(refr_t)
        else:
            integrate_odes(V_m)

    onReceive(spikes_in):
        if refr_t <= 0 ms:
            V_m += spikes_in * 1 mV * 1 s

    onCondition(refr_t <= 0 ms and V_m >= V_th):
        refr_t = refr_T
        V_m = V_reset
        emit_spike()
"""


def _quiet():
    if hasattr(nest, "VerbosityLevel"):
        nest.verbosity = nest.VerbosityLevel.ERROR
    else:
        nest.set_verbosity("M_ERROR")


def _reset(threads=1):
    nest.ResetKernel()
    _quiet()
    nest.local_num_threads = threads


def _env():
    env = dict(os.environ, PYNEST_QUIET="1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    return env


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory):
    return tmp_path_factory.mktemp("lifbridge-cache")


@pytest.fixture(scope="module")
def lif_built(cache_root):
    t0 = time.monotonic()
    built = build_nest_module({LIF_NAME: LIF_SOURCE}, cache_dir=cache_root)
    built_seconds = time.monotonic() - t0
    print(f"\nNEST module build: {built_seconds:.1f} s")
    return built


def test_build_install_simulate_matches_lif_theory(lif_built, cache_root):
    b = lif_built
    assert not b.from_cache
    assert b.neuron_names == (LIF_NAME,)
    assert b.module_name.startswith("lifbridge_") and b.module_name.endswith("module")
    assert b.path == cache_root.absolute() / "nest" / b.hash / f"{b.module_name}.so"
    manifest = json.loads((b.directory / "manifest.json").read_text())
    assert manifest["hash"] == b.hash and manifest["neuron_names"] == [LIF_NAME]
    assert manifest["nest_version"] == "3.10.0" and manifest["nestml_version"] == "9.0.0"
    assert "-D_GLIBCXX_USE_CXX11_ABI=0" in manifest["cxxflags"]
    import hashlib
    assert hashlib.sha256(b.path.read_bytes()).hexdigest() == manifest["so_sha256"]

    _reset(threads=2)               # modules must use NEST's OpenMP runtime
    assert install_nest_module(b) == str(b.path)
    assert LIF_NAME in nest.node_models and LIF_NAME + "_nestml" not in nest.node_models

    I_e, C_m, tau_m, E_L, V_th, V_reset, t_ref = 500.0, 250.0, 10.0, -70.0, -55.0, -70.0, 2.0
    neurons = nest.Create(LIF_NAME, 4, params={"I_e": I_e})
    recorder = nest.Create("spike_recorder")
    nest.Connect(neurons, recorder)
    nest.Simulate(1000.0)
    events = recorder.get("events")
    senders, times = events["senders"], events["times"]
    assert set(senders) == set(neurons.tolist())
    counts = [int((senders == n).sum()) for n in neurons.tolist()]
    assert len(set(counts)) == 1, counts        # identical neurons on both threads

    V_inf = E_L + I_e * tau_m / C_m
    isi_theory = t_ref + tau_m * math.log((V_inf - V_reset) / (V_inf - V_th))
    first = sorted(times[senders == neurons.tolist()[0]])
    isi = (first[-1] - first[0]) / (len(first) - 1)
    assert isi == pytest.approx(isi_theory, rel=0.02), (isi, isi_theory)


def test_second_build_is_cached_and_fast(lif_built, cache_root):
    manifest = lif_built.directory / "manifest.json"
    mtime = manifest.stat().st_mtime_ns
    t0 = time.perf_counter()
    again = build_nest_module({LIF_NAME: LIF_SOURCE}, cache_dir=cache_root)
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.0
    assert again.from_cache and again.path == lif_built.path
    assert again.manifest["build_id"] == lif_built.manifest["build_id"]
    assert manifest.stat().st_mtime_ns == mtime

    # a fresh process finds it without importing NESTML or NEST
    code = ("import json, sys, time\n"
            "from lifbridge.nest_build import build_nest_module\n"
            "t0 = time.perf_counter()\n"
            "b = build_nest_module({sys.argv[1]: open(sys.argv[2]).read()}, cache_dir=sys.argv[3])\n"
            "print(json.dumps({'seconds': time.perf_counter() - t0, 'from_cache': b.from_cache,\n"
            "                  'pynestml': 'pynestml' in sys.modules, 'nest': 'nest' in sys.modules}))\n")
    src = cache_root / "lif_source.nestml"
    src.write_text(LIF_SOURCE)
    out = subprocess.run([sys.executable, "-c", code, LIF_NAME, str(src), str(cache_root)],
                         capture_output=True, text=True, env=_env(), timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["from_cache"] and not result["pynestml"] and not result["nest"]
    assert result["seconds"] < 1.0


def test_install_is_idempotent_and_survives_reset_kernel(lif_built):
    _reset()
    install_nest_module(lif_built)
    install_nest_module(lif_built)                     # already there: nothing happens
    assert str(lif_built.path) in nest.GetKernelStatus("modules")
    nest.Create(LIF_NAME)

    nest.ResetKernel()                                 # unloads modules (PyNN's setup() does this)
    _quiet()
    assert LIF_NAME not in nest.node_models
    path = install_nest_module(lif_built)
    assert path == str(lif_built.path)
    n = nest.Create(LIF_NAME, params={"I_e": 500.0})
    assert n.get("I_e") == 500.0

    for _ in range(3):                                 # the returned path is what nest.Install takes
        nest.ResetKernel()
        _quiet()
        nest.Install(path)
        assert install_nest_module(lif_built) == path  # already loaded: nothing happens
        nest.Create(LIF_NAME)


def test_damaged_cache_entry_is_detected_and_rebuilt(lif_built, tmp_path):
    # Work on a copy: the original .so is mapped into this process and must not be truncated.
    root = tmp_path / "cache"
    entry = root / "nest" / lif_built.hash
    shutil.copytree(lif_built.directory, entry)
    pristine = tmp_path / "pristine"
    shutil.copytree(entry, pristine)
    so = entry / lif_built.path.name
    manifest = entry / "manifest.json"

    def find():
        return find_cached_module({LIF_NAME: LIF_SOURCE}, cache_dir=root)

    def restore():
        shutil.rmtree(entry)
        shutil.copytree(pristine, entry)

    assert find() is not None
    so.unlink()
    assert find() is None                               # missing .so
    restore()
    with open(so, "ab") as f:
        f.write(b"\0")
    assert find() is None                               # sha256 mismatch
    restore()
    manifest.write_text("{not json")
    assert find() is None                               # unreadable manifest
    restore()
    assert find() is not None

    with open(so, "r+b") as f:
        f.truncate(1000)
    rebuilt = build_nest_module({LIF_NAME: LIF_SOURCE}, cache_dir=root)
    assert not rebuilt.from_cache
    assert rebuilt.manifest["build_id"] != lif_built.manifest["build_id"]
    assert rebuilt.path == so and so.stat().st_size == rebuilt.manifest["so_size"] > 1000
    assert find() is not None
    assert not list((root / "nest").glob(".tmp-*")) and not list((root / "nest").glob(".trash-*"))


_CONCURRENT_BUILD = """\
import json, sys
from lifbridge.nest_build import build_nest_module
sources = json.load(open(sys.argv[1]))
b = build_nest_module(sources, cache_dir=sys.argv[2])
print(json.dumps({"path": str(b.path), "from_cache": b.from_cache, "build_id": b.manifest["build_id"]}))
"""


def test_two_processes_building_the_same_module(tmp_path):
    # a second module, with two neurons, one of them needing the numeric (GSL) solver
    sources = {EIF_NAME: EIF_SOURCE, DELTA_NAME: DELTA_SOURCE}
    root = tmp_path / "cache"
    src = tmp_path / "sources.json"
    src.write_text(json.dumps(sources))
    cmd = [sys.executable, "-c", _CONCURRENT_BUILD, str(src), str(root)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
             for _ in range(2)]
    outputs = [p.communicate(timeout=900) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert results[0]["path"] == results[1]["path"]
    assert results[0]["build_id"] == results[1]["build_id"]            # built once ...
    assert sorted(r["from_cache"] for r in results) == [False, True]   # ... the other one waited
    built = find_cached_module(sources, cache_dir=root)
    assert built is not None and built.manifest["build_id"] == results[0]["build_id"]
    assert built.neuron_names == (DELTA_NAME, EIF_NAME)
    assert not list((root / "nest").glob(".tmp-*"))

    _reset()
    install_nest_module(built)
    # the numeric (GSL rk45) model fires
    eif = nest.Create(EIF_NAME, params={"I_e": 800.0})
    recorder = nest.Create("spike_recorder")
    nest.Connect(eif, recorder)
    # a spike of weight w on a plain spike port reaches onReceive as w (here: +w mV)
    delta = nest.Create(DELTA_NAME)
    generator = nest.Create("spike_generator", params={"spike_times": [10.0]})
    nest.Connect(generator, delta, syn_spec={"weight": 5.0, "delay": 1.0})
    nest.Simulate(11.0)
    assert delta.get("V_m") == pytest.approx(-65.0, abs=0.01)
    nest.Simulate(489.0)
    assert recorder.get("n_events") > 5


def test_missing_compiler_and_headers_are_named(tmp_path, monkeypatch):
    check_build_prerequisites()                        # this machine has everything
    empty = tmp_path / "empty"
    empty.mkdir()

    with pytest.raises(NestBuildError) as e:
        check_build_prerequisites(path=str(empty))
    assert "g++" in str(e.value) and "apt-get install g++" in str(e.value)
    assert "cmake" in str(e.value)

    with pytest.raises(NestBuildError) as e:
        check_build_prerequisites(include_dirs=[str(empty)])
    assert "libboost-dev" in str(e.value) and "libgsl-dev" in str(e.value)
    assert "g++" not in str(e.value)

    with pytest.raises(NestBuildError) as e:
        check_build_prerequisites(find_spec=lambda name: None)
    assert "pip install 'lifbridge[nest]'" in str(e.value)

    # build_nest_module checks before building (a source that is not cached anywhere)
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(NestBuildError, match=r"apt-get install g\+\+"):
        build_nest_module({LIF_NAME: LIF_SOURCE.replace("250 pF", "251 pF")},
                          cache_dir=tmp_path / "cache")


def test_nestml_error_reports_log_tail_and_path(tmp_path):
    bad = LIF_SOURCE.replace("-(V_m - E_L) / tau_m", "-(V_m - E_L) / tau_undefined")
    with pytest.raises(NestBuildError) as e:
        build_nest_module({LIF_NAME: bad}, cache_dir=tmp_path / "cache")
    msg = str(e.value)
    assert "tau_undefined" in msg
    log = Path(msg.rsplit("full log: ", 1)[1].strip())
    assert log.is_file() and "tau_undefined" in log.read_text()
    assert not list((tmp_path / "cache" / "nest").glob(".tmp-*"))


def test_bad_arguments_are_rejected_before_building(tmp_path):
    with pytest.raises(NestBuildError, match="module"):
        build_nest_module({LIF_NAME: LIF_SOURCE}, "lif_mod", cache_dir=tmp_path)
    with pytest.raises(NestBuildError, match="does not define"):
        build_nest_module({"other_neuron": LIF_SOURCE}, cache_dir=tmp_path)
    with pytest.raises(NestBuildError):
        build_nest_module({}, cache_dir=tmp_path)


def test_import_needs_no_simulator():
    code = "import sys, lifbridge.nest_build; print('nest' in sys.modules, 'pynestml' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(),
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


def test_patched_templates_keep_internals_out_of_the_status_and_change_the_cache_key(tmp_path):
    """The patched NEST templates write no internals into the status dictionary and leave
    the hidden state out of get_status, set_status and the recordables; their content
    hash names the template directory, which is part of every module's cache key, so a
    change of the template text cannot reuse a module built from the old text."""
    from lifbridge import nest as lnest
    from lifbridge import nest_templates
    from lifbridge.nest_build import _resolve

    assert nest_templates.patch_problems() == []
    stock = nest_templates.stock_templates_dir()
    texts, _ = nest_templates.patched_files(stock)
    header, cls = texts["common/NeuronHeader.jinja2"], texts["common/NeuronClass.jinja2"]
    get_status = header[header.index("::get_status("):header.index("::set_status(")]
    set_status = header[header.index("::set_status("):]
    assert "get_internal_symbols()" not in get_status
    assert "get_internal_symbols()" in (stock / "common/NeuronHeader.jinja2").read_text()
    for counter in nest_templates.HIDDEN_STATE:
        assert get_status.count(f"'{counter}'") == 1 and set_status.count(f"'{counter}'") == 2
        assert cls.count(f"'{counter}'") == 1

    opts = lnest.codegen_options(tmp_path)
    path = Path(opts["templates"]["path"])
    assert path == nest_templates.patched_templates_dir(tmp_path)
    assert path.parent.name == nest_templates._digest(stock, texts)
    assert (path / "common/NeuronHeader.jinja2").read_text() == header
    changed = dict(texts, **{"common/NeuronHeader.jinja2": header + "\n"})
    assert nest_templates._digest(stock, changed) != path.parent.name
    other = dict(opts, templates=dict(opts["templates"], path=str(tmp_path / "other" / "point_neuron")))
    sources = {LIF_NAME: LIF_SOURCE}
    keys = {_resolve(sources, None, tmp_path, o)[2] for o in (opts, other)}    # the cache keys
    assert len(keys) == 2
    assert find_cached_module(sources, cache_dir=tmp_path, codegen_opts=opts) is None
