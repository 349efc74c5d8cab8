"""PyNN cell types (lifbridge.pynn) and the pynn.nest / pynn.brian2 backends, with real PyNN 0.13.

* the generated type fires spike for spike with lifbridge's own runner on the same simulator
  (NEST: the nest backend; Brian2: the brian2 backend) under bias, a piecewise current and
  Poisson-like spikes through both ports, for several models;
* PyNN's names and units (parameters, recordables), one-line errors for a wrong unit or value,
  PyNN's weight signs, PyNN's four current sources, initialize(v=...), the NEST module
  loaded again after every sim.setup();
* standard types: none is claimed equivalent yet, standard=True names the reason.
"""

import subprocess
import sys
import warnings

import numpy as np
import pytest

import lifbridge
from lifbridge import backends
from lifbridge.errors import ParameterError
from lifbridge.stimulus import Stimulus

pytestmark = pytest.mark.pynn

try:
    from lifbridge.stimulus import SpikeTrain
except ImportError:  # spike input is being added to the stimulus
    SpikeTrain = None

SIMULATORS = {"pynn.nest": "nest", "pynn.brian2": "brian2"}


def _sim(backend):
    reason = backends.get(backend).unavailable_reason()
    if reason:
        pytest.skip(reason)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if backend == "pynn.nest":
            import pyNN.nest as sim
        else:
            import pyNN.brian2 as sim
    if backend == "pynn.brian2":
        import brian2

        brian2.prefs.codegen.target = "numpy"
    return sim


def _stimulus(model, dt, duration):
    """Bias, a piecewise-constant current and spike trains through both ports (grid times)."""
    from lifbridge.stimulus import piecewise_signal

    high = model.hints["fi_current_range_pA"][1]
    signal = piecewise_signal([(0.0, 30.0, 0.3 * high), (50.0, 120.0, 0.2 * high)], duration, dt)
    trains = []
    if SpikeTrain is not None:
        weights = {"pA": (80.0, -60.0), "nS": (3.0, -6.0), "mV": (2.0, -2.0)}[model.inputs["exc_spikes"].unit.name]
        rng = np.random.default_rng(1)

        def times(k):
            return np.unique(np.round(rng.uniform(1.0, duration, k) / dt) * dt)

        trains = [SpikeTrain("exc_spikes", times(int(1.5 * duration)), weights[0], [0, 1]),
                  SpikeTrain("inh_spikes", times(int(0.5 * duration)), weights[1], [1, 2])]
    return Stimulus(np.array([0.3, 0.2, 0.4]) * high, current_pA=signal, signal_dt_ms=dt, spikes=trains)


CASES = [("lif", 0.1, 200.0), ("lif_cond_alpha", 0.1, 200.0), ("adex_cond_exp", 0.1, 200.0),
         ("izhikevich", 0.1, 200.0), ("hh_psc_alpha", 0.01, 60.0)]


@pytest.mark.parametrize("backend", list(SIMULATORS))
@pytest.mark.parametrize("name,dt,duration", CASES, ids=[c[0] for c in CASES])
def test_generated_type_fires_spike_for_spike_with_lifbridges_own_runner(backend, name, dt, duration):
    _sim(backend)
    model = lifbridge.load(name)
    stimulus = _stimulus(model, dt, duration)
    ours = backends.require(SIMULATORS[backend]).simulate(model, stimulus, duration_ms=duration, dt_ms=dt)
    through_pynn = backends.require(backend).simulate(model, stimulus, duration_ms=duration, dt_ms=dt)
    assert sum(len(s) for s in ours.spike_times_ms) > 3
    # NEST restarts GSL's adaptive step at every Simulate call, and PyNN slices a run differently
    # from the nest runner (its first run goes one min_delay further): an RKF45 model whose spike
    # is detected on the grid (hh) may then differ by one step
    steps = 1 if (backend, name) == ("pynn.nest", "hh_psc_alpha") else 0
    for exact, got in zip(ours.spike_times_ms, through_pynn.spike_times_ms):
        assert len(got) == len(exact), (exact, got)
        np.testing.assert_allclose(got, exact, atol=steps * dt + 1e-9)


@pytest.mark.parametrize("backend", list(SIMULATORS))
def test_parameters_have_pynns_names_and_units_and_bad_values_are_one_line_errors(backend):
    sim = _sim(backend)
    from lifbridge.pynn import cell_type

    sim.setup(timestep=0.1)
    Lif = cell_type("lif", sim)
    assert Lif.default_parameters == {"cm": 0.25, "tau_m": 10.0, "v_rest": -70.0, "v_thresh": -55.0,
                                      "v_reset": -70.0, "tau_refrac": 2.0, "tau_syn_E": 2.0, "tau_syn_I": 2.0,
                                      "i_offset": 0.0}
    AdEx = cell_type(lifbridge.load("adex_cond_exp"), sim)
    assert AdEx.default_parameters["a"] == 4.0 and AdEx.units["a"] == "nS"          # PyNN's EIF: a in nS
    assert AdEx.default_parameters["b"] == pytest.approx(0.0805) and AdEx.units["b"] == "nA"
    assert AdEx.default_parameters["g_L"] == pytest.approx(0.03) and AdEx.units["g_L"] == "uS"  # own name
    cells = sim.Population(2, Lif(cm="250 pF", tau_m=[10.0, 20.0]))
    np.testing.assert_allclose(cells.get("cm"), 0.25)
    np.testing.assert_allclose(cells.get("tau_m"), [10.0, 20.0])
    with pytest.raises(ParameterError) as error:
        Lif(cm="250 mV")
    assert str(error.value) == 'Lif: cm: 250 mV is a voltage, cm needs a capacitance (nF), e.g. cm="0.25nF"'
    with pytest.raises(ParameterError) as error:
        Lif(tau_m=-1.0)
    assert "\n" not in str(error.value)
    assert str(error.value).startswith("Lif: tau_m = -1 ms (lifbridge's tau_m): parameter tau_m = -1 ms is not "
                                       "allowed: it must be > 0 ms")
    with pytest.raises(ParameterError, match="Lif: lif has no parameter or state variable 'C_m' on PyNN's side"):
        Lif(C_m=0.25)
    sim.end()


@pytest.mark.parametrize("backend", list(SIMULATORS))
def test_weights_take_pynns_units_and_signs(backend):
    sim = _sim(backend)
    from pyNN.errors import ConnectionError as PyNNConnectionError

    from lifbridge.pynn import cell_type

    sim.setup(timestep=0.1, min_delay=0.1)
    source = sim.Population(1, sim.SpikeSourceArray(spike_times=[5.0]))
    lif = sim.Population(1, cell_type("lif", sim)())
    cond = sim.Population(1, cell_type("lif_cond_alpha", sim)())
    with pytest.raises(PyNNConnectionError, match="negative for current-based, inhibitory"):
        sim.Projection(source, lif, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.1, delay=1.0),
                       receptor_type="inhibitory")
    with pytest.raises(PyNNConnectionError, match="positive for conductance-based"):
        sim.Projection(source, cond, sim.AllToAllConnector(), sim.StaticSynapse(weight=-0.01, delay=1.0),
                       receptor_type="inhibitory")
    # pyNN.brian2 keeps a refused projection's empty Synapses in its network: start afresh
    sim.setup(timestep=0.1, min_delay=0.1)
    source = sim.Population(1, sim.SpikeSourceArray(spike_times=[5.0]))
    lif = sim.Population(1, cell_type("lif", sim)())
    cond = sim.Population(1, cell_type("lif_cond_alpha", sim)())
    sim.Projection(source, lif, sim.AllToAllConnector(), sim.StaticSynapse(weight=-0.05, delay=1.0),
                   receptor_type="inhibitory")   # 50 pA inhibitory jump
    sim.Projection(source, cond, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.004, delay=1.0),
                   receptor_type="inhibitory")   # 4 nS inhibitory conductance (peak)
    lif.record(["I_syn_inh", "v"])
    cond.record(["gsyn_inh", "v"])
    sim.run(20.0)
    current = lif.get_data().segments[0].filter(name="I_syn_inh")[0]
    conductance = cond.get_data().segments[0].filter(name="gsyn_inh")[0]
    assert str(current.units.dimensionality) == "nA" and str(conductance.units.dimensionality) == "uS"
    assert float(current.max()) == pytest.approx(0.05, rel=1e-9)        # lifbridge's magnitude
    assert float(conductance.max()) == pytest.approx(0.004, rel=1e-3)   # alpha peak = weight
    for population in (lif, cond):
        v = population.get_data().segments[0].filter(name="v")[0]
        assert str(v.units.dimensionality) == "mV" and float(v.min()) < -70.0 - 1e-3  # both inhibit
    sim.end()


@pytest.mark.parametrize("backend", list(SIMULATORS))
def test_pynns_current_sources_reach_the_current_input(backend):
    sim = _sim(backend)
    from lifbridge.pynn import cell_type

    def spikes(source=None, i_offset=0.0):
        sim.setup(timestep=0.1, min_delay=0.1)
        cells = sim.Population(1, cell_type("lif", sim)(i_offset=i_offset))
        if source is not None:
            source.inject_into(cells) if not callable(source) else source().inject_into(cells)
        cells.record(["spikes", "v"])
        sim.run(100.0)
        segment = cells.get_data().segments[0]
        return np.asarray(segment.spiketrains[0].magnitude), np.asarray(segment.filter(name="v")[0]).ravel()

    reference, _ = spikes(i_offset=0.5)
    dc, _ = spikes(lambda: sim.DCSource(amplitude=0.5, start=0.0))
    step, _ = spikes(lambda: sim.StepCurrentSource(times=[0.0, 40.0], amplitudes=[0.5, 0.0]))
    ac, v_ac = spikes(lambda: sim.ACSource(amplitude=0.2, offset=0.45, frequency=20.0, start=0.0))
    noisy, v_noisy = spikes(lambda: sim.NoisyCurrentSource(mean=0.0, stdev=0.2, dt=1.0, start=0.0))
    assert len(reference) >= 5
    # a generator starting at 0 acts from the third step on NEST (as lifbridge's nest runner's HEAD_STEPS)
    lag = 0.2 if backend == "pynn.nest" else 0.1
    assert len(dc) == len(reference)
    np.testing.assert_allclose(dc, reference, atol=lag + 1e-9)
    assert len(step) >= 2 and np.all(step < 41.0)
    np.testing.assert_allclose(step, dc[dc < 40.0], atol=1e-9)
    assert len(ac) >= 2 and not np.allclose(ac[:2], reference[:2])
    assert np.std(v_noisy) > 0.05   # the noise moves the membrane
    sim.end()


@pytest.mark.parametrize("backend", list(SIMULATORS))
def test_initialize_v_and_state_in_pynn_units(backend):
    sim = _sim(backend)
    from lifbridge.pynn import cell_type

    sim.setup(timestep=0.1)
    cells = sim.Population(2, cell_type("adex_cond_exp", sim)())
    cells.initialize(v=[-60.0, -65.0], w=0.05)   # w in nA
    cells.record(["v", "w"])
    sim.run(1.0)
    segment = cells.get_data().segments[0]
    v = segment.filter(name="v")[0]
    w = segment.filter(name="w")[0]
    first = 1 if backend == "pynn.nest" else 0  # NEST's multimeter starts at dt
    np.testing.assert_allclose(np.asarray(v)[0], [-60.0, -65.0], atol=0.2 if first else 1e-9)
    assert str(w.units.dimensionality) == "nA"
    np.testing.assert_allclose(np.asarray(w)[first], 0.05, rtol=2e-2)   # 50 pA, not 0.05 pA
    sim.end()


def test_pynn_nest_loads_the_module_again_after_every_setup():
    sim = _sim("pynn.nest")
    from lifbridge.pynn import cell_type

    Lif = cell_type("lif", sim)
    runs = []
    for _ in range(2):
        sim.setup(timestep=0.1)
        source = sim.Population(1, sim.SpikeSourceArray(spike_times=[5.0]))   # a node before the neurons
        cells = sim.Population(1, Lif(i_offset=0.5))
        sim.Projection(source, cells, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.2, delay=1.0),
                       receptor_type="excitatory")
        cells.record("spikes")
        sim.run(50.0)
        runs.append(np.asarray(cells.get_data().segments[0].spiketrains[0].magnitude))
    assert len(runs[0]) >= 2
    np.testing.assert_array_equal(runs[0], runs[1])
    sim.end()


def _light_stimulus(dt, duration):
    """A light pulse (5 mW/mm2 from 20 to 150 ms) on two neurons, one with a bias below rheobase,
    and a darker pulse on a third; the dark neuron is the fourth."""
    from lifbridge.stimulus import piecewise_signal

    pulse = piecewise_signal([(20.0, 150.0, 5.0)], duration, dt)
    dim = piecewise_signal([(40.2, 90.0, 1.5)], duration, dt)
    light = np.stack([pulse, pulse, dim, np.zeros_like(pulse)], axis=1)
    return Stimulus(np.array([0.0, 300.0, 200.0, 0.0]), light=light, signal_dt_ms=dt)


@pytest.mark.parametrize("backend", list(SIMULATORS))
def test_light_reaches_the_opsin_as_in_lifbridges_own_runner(backend):
    """The light protocol through PyNN (lifbridge.pynn.LightSource) gives the opsin's open and
    desensitised fractions and the spikes of lifbridge's own runner on the same simulator."""
    _sim(backend)
    model = lifbridge.load("optogenetic_lif")
    stimulus = _light_stimulus(0.1, 200.0)
    record = ("V_m", "O", "D")
    ours = backends.require(SIMULATORS[backend]).simulate(model, stimulus, duration_ms=200.0, dt_ms=0.1,
                                                           record=record)
    through_pynn = backends.require(backend).simulate(model, stimulus, duration_ms=200.0, dt_ms=0.1, record=record)
    assert sum(len(s) for s in ours.spike_times_ms[:3]) > 5 and len(ours.spike_times_ms[3]) == 0
    for exact, got in zip(ours.spike_times_ms, through_pynn.spike_times_ms):
        np.testing.assert_allclose(got, exact, atol=1e-9)
    for var in ("O", "D"):
        t_ours, values_ours, _ = ours.traces[var]
        t_pynn, values_pynn, _ = through_pynn.traces[var]
        np.testing.assert_allclose(t_pynn, t_ours, atol=1e-9)
        assert values_ours[0].max() > 0.1
        np.testing.assert_allclose(values_pynn, values_ours, atol=1e-9, rtol=0)


@pytest.mark.parametrize("backend", list(SIMULATORS))
def test_light_source_in_a_pynn_script(backend):
    """A PyNN user's LightSource: intensity steps from its times on (darkness before), in the light
    input's unit or a given one; an opsin that sees no light stays closed."""
    sim = _sim(backend)
    from lifbridge.pynn import LightSource, cell_type

    sim.setup(timestep=0.1, min_delay=0.1)
    Opto = cell_type("optogenetic_lif", sim)
    cells = sim.Population(3, Opto())
    LightSource(times=[10.0, 60.0], intensities=[5.0, 0.0]).inject_into(cells[[0]])
    LightSource(times=[10.0, 60.0], intensities=[0.005, 0.0], unit="W/mm**2").inject_into(cells[[1]])
    cells.record(["O"])
    sim.run(80.0)
    signal = cells.get_data().segments[0].filter(name="O")[0]
    t = np.asarray(signal.times.rescale("ms").magnitude)
    O = np.asarray(signal.magnitude)
    sim.end()
    # the first two neurons see the same light; the third none
    np.testing.assert_allclose(O[:, 1], O[:, 0], atol=1e-12)
    assert np.all(O[:, 2] == 0)
    # darkness until the first change; then the opsin's closed form under each constant intensity
    expected = opsin_open_fraction(t, light_on=(10.0, 60.0), intensity=5.0)
    assert expected.max() > 0.2
    np.testing.assert_allclose(O[:, 0], expected, atol=1e-6)


def opsin_open_fraction(t, light_on, intensity):
    """O at the times ``t`` (ms) of optogenetic_lif (default parameters) under ``intensity``
    from ``light_on[0]`` to ``light_on[1]``, dark otherwise (lifbridge.analytic's closed form)."""
    from lifbridge.analytic import three_state_opsin_fractions

    rates = dict(k_a=0.01, tau_d=10.0, tau_r=100.0)     # the model's defaults
    on, off = light_on
    expected = np.zeros(len(t))
    for i, time in enumerate(t):
        if time > on + 1e-9:
            lit = three_state_opsin_fractions(intensity, min(time, off) - on, **rates)
            expected[i] = lit[0] if time <= off + 1e-9 else \
                three_state_opsin_fractions(0.0, time - off, **rates, start=lit)[0]
    return expected


def test_light_source_errors_are_one_line():
    sim = _sim("pynn.nest")
    from lifbridge.errors import UnitError
    from lifbridge.pynn import LightSource, cell_type

    for times, intensities in (([10.0], [-1.0]), ([10.0, 5.0], [1.0, 2.0]), ([10.0], [np.nan]), ([1.0, 2.0], [1.0])):
        with pytest.raises(ParameterError) as error:
            LightSource(times, intensities)
        assert "\n" not in str(error.value) and "LightSource" in str(error.value)
    sim.setup(timestep=0.1)
    lif = sim.Population(1, cell_type("lif", sim)())
    with pytest.raises(ParameterError, match="no light input"):
        LightSource([1.0], [1.0]).inject_into(lif)
    with pytest.raises(ParameterError, match="not a lifbridge cell type"):
        LightSource([1.0], [1.0]).inject_into(sim.Population(1, sim.IF_curr_exp()))
    opto = sim.Population(1, cell_type("optogenetic_lif", sim)())
    with pytest.raises(UnitError, match="mW/mm"):
        LightSource([1.0], [1.0], unit="pA").inject_into(opto)
    sim.end()


def test_lifbridge_run_on_pynn_nest_from_the_command_line():
    _sim("pynn.nest")
    out = subprocess.run([sys.executable, "-m", "lifbridge", "run", "lif", "--backend", "pynn.nest", "--current",
                          "500pA", "--duration", "0.1"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name,simulator", [("lif", "nest"), ("lif", "brian2"), ("lif", "neuron"),
                                            ("optogenetic_lif", "neuron")])
def test_generated_example_script_runs_and_saves_its_figure(name, simulator, tmp_path):
    """`lifbridge generate --target pynn` writes a script that runs on the PyNN backend named on its
    command line, prints the population's rate and saves its figure (with a light pulse for a
    model with a light input)."""
    import subprocess
    import sys

    pytest.importorskip("pyNN")
    pytest.importorskip("nest" if simulator == "nest" else "brian2")
    script = tmp_path / "example.py"
    made = subprocess.run([sys.executable, "-m", "lifbridge", "generate", name, "--target", "pynn", "-o", str(script)],
                          capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    assert f"MODEL_REFERENCE = {name!r}" in script.read_text()
    assert ("LightSource(times=" in script.read_text()) == (name == "optogenetic_lif")
    ran = subprocess.run([sys.executable, str(script), simulator], capture_output=True, text=True, timeout=900,
                         cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr[-2000:]
    rate = float(ran.stdout.split("mean rate ")[1].split(" Hz")[0])
    assert 5.0 < rate < 200.0
    figure = tmp_path / f"example_{simulator}.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_generated_example_names_a_model_file_by_its_path_as_a_literal(tmp_path):
    from lifbridge.pynn.script import generate_script

    source = tmp_path / "my'lif.toml"
    source.write_text((lifbridge.models_dir() / "lif.toml").read_text())
    text = generate_script(lifbridge.load(str(source)))
    assert f"MODEL_REFERENCE = {str(source.resolve())!r}" in text
    compile(text, "example.py", "exec")


def test_generate_writes_the_given_parameters_and_time_step_into_the_example(tmp_path):
    """`generate --param/--dt` as `run` takes them: the parameters in PyNN's names and units
    (200 pF -> cm 0.2 nF), the time step in setup; a bad value or step is one line."""
    script = tmp_path / "example.py"
    made = subprocess.run([sys.executable, "-m", "lifbridge", "generate", "lif", "--target", "pynn", "--param",
                           "C_m=200pF", "--param", "tau_m=15ms", "--dt", "1ms", "-o", str(script)],
                          capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    text = script.read_text()
    assert "PARAMETERS = {'cm': 0.2, 'tau_m': 15.0}" in text and "DT_MS = 1.0" in text
    for bad in (["--param", "C_m=200mV"], ["--dt", "0.3ms"]):
        out = subprocess.run([sys.executable, "-m", "lifbridge", "generate", "lif", "--target", "pynn", *bad],
                             capture_output=True, text=True, timeout=300)
        assert out.returncode != 0 and len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_pynn_brian2_delivers_input_spikes_on_the_setups_time_step():
    """pyNN.brian2 0.13 puts a SpikeSourceArray on Brian2's default clock (0.1 ms): at dt = 0.01 ms
    two spikes 0.05 ms apart would stop the run, and spikes would land on a 0.1 ms grid.
    lifbridge's cell type aligns the clock: the PSC matches the brian2 backend's at every sample."""
    _sim("pynn.brian2")
    model = lifbridge.load("lif")
    stimulus = Stimulus(np.array([0.0]), spikes=[SpikeTrain("exc_spikes", [2.03, 2.08, 3.51], 100.0, [0])])
    ours = backends.require("brian2").simulate(model, stimulus, duration_ms=6.0, dt_ms=0.01, record=("I_syn_exc",))
    import brian2

    brian2.defaultclock.dt = 0.1 * brian2.ms      # as in a fresh process
    through_pynn = backends.require("pynn.brian2").simulate(model, stimulus, duration_ms=6.0, dt_ms=0.01,
                                                            record=("I_syn_exc",))
    exact, got = ours.traces["I_syn_exc"][1][0], through_pynn.traces["I_syn_exc"][1][0]
    assert exact.max() > 150.0
    np.testing.assert_allclose(got, exact, rtol=0, atol=1e-9)
