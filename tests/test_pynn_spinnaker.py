"""pyNN.spiNNaker (sPyNNaker 7.4.1): lifbridge's cell types, checked values, and sPyNNaker's real
mapping toolchain on a virtual board (it maps and generates every data structure; nothing runs).

* every model the table maps: its generated script (``generate --target spinnaker``) goes
  through sPyNNaker's mapping without error, and says that nothing ran;
* the same PyNN script runs on pyNN.nest and maps on pyNN.spiNNaker with only the import changed;
* values sPyNNaker would take silently (tau_m = 0, cm = 0, tau_refrac = -1, a value beyond
  the s16.15 range, a time constant shorter than the time step) are one-line errors when the
  cell is made, not at ``sim.run()``;
* a model sPyNNaker cannot run is "not available on spinnaker: <reason>; nearest: <alternative>".

Every run here uses a ``spynnaker.cfg`` in its own working directory that selects a virtual
board, so a user's hardware configuration is never used.
"""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import lifbridge
from lifbridge import backends
from lifbridge.errors import BackendUnavailable, LifbridgeError

pytestmark = [pytest.mark.pynn, pytest.mark.pynn_spinnaker]

LOCAL_CONFIG = """\
[Machine]
virtual_board = True
version = 5

[Reports]
default_report_file_path = {reports}
max_reports_kept = 1

[Mode]
mode = Production
"""


def _require():
    reason = backends.get("pynn.spinnaker").unavailable_reason()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def board(tmp_path, monkeypatch):
    """A working directory whose spynnaker.cfg selects a virtual board (read after any user file)."""
    _require()
    (tmp_path / "spynnaker.cfg").write_text(LOCAL_CONFIG.format(reports=tmp_path / "reports"))
    monkeypatch.chdir(tmp_path)
    from lifbridge.pynn.spinnaker import use_virtual_board

    use_virtual_board()          # a user-level file if the machine has none
    return tmp_path


@pytest.fixture
def sim(board):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pyNN.spiNNaker as spinnaker
    spinnaker.setup(timestep=1.0)
    yield spinnaker
    spinnaker.end()


def _mapped_models():
    """Every bundled model and composition sPyNNaker ships a cell type for."""
    if backends.get("pynn.spinnaker").unavailable_reason():
        return ["lif"]        # skipped by the marker
    from lifbridge.pynn.spinnaker import not_shipped

    return [name for name in sorted(set(lifbridge.compositions()) | set(lifbridge.bundled_models()))
            if not not_shipped(lifbridge.load(name))]


@pytest.mark.parametrize("name", _mapped_models())
def test_every_mapped_models_generated_script_maps_on_the_virtual_board(name, board):
    script = board / "example.py"
    made = subprocess.run([sys.executable, "-m", "lifbridge", "generate", name, "--target", "spinnaker", "--dt",
                           "0.1ms", "-o", str(script)], capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    ran = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600, cwd=board,
                         env=dict(os.environ))
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "virtual board" in ran.stdout and "nothing ran" in ran.stdout, ran.stdout


def test_generate_checks_the_values_at_the_time_step():
    """A conductance of tau_syn 0.2 ms (NEST's default) cannot be decayed once per 1 ms step: generate
    says so in one line, naming the parameter, the value and the fix."""
    _require()
    out = subprocess.run([sys.executable, "-m", "lifbridge", "generate", "lif_cond_exp", "--target", "spinnaker",
                          "--dt", "1ms"], capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "tau_syn_E = 0.2 ms" in out.stderr and "dt = 1 ms" in out.stderr
    ok = subprocess.run([sys.executable, "-m", "lifbridge", "generate", "lif_cond_exp", "--target", "spinnaker",
                         "--dt", "1ms", "--param", "tau_syn_exc=2ms", "--param", "tau_syn_inh=2ms"],
                        capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr


def test_the_same_pynn_script_runs_on_nest_and_maps_on_spinnaker_with_only_the_import_changed(board):
    pytest.importorskip("nest")
    script = """\
import numpy as np
import pyNN.nest as sim
from lifbridge.pynn import cell_type, produces_data

sim.setup(timestep=1.0)
cells = sim.Population(20, cell_type("lif", sim)(i_offset=0.3, tau_syn_E=2.0))
noise = sim.Population(50, sim.SpikeSourcePoisson(rate=50.0))
sim.Projection(noise, cells, sim.FixedProbabilityConnector(0.2), sim.StaticSynapse(weight=0.05, delay=1.0),
               receptor_type="excitatory")
cells.record("spikes")
sim.run(500.0)
if produces_data(sim):
    trains = cells.get_data().segments[0].spiketrains
    print("mean rate", np.mean([len(t) for t in trains]) / 0.5, "Hz")
else:
    print("mapped, nothing ran")
sim.end()
"""
    (board / "on_nest.py").write_text(script)
    (board / "on_spinnaker.py").write_text(script.replace("import pyNN.nest as sim", "import pyNN.spiNNaker as sim"))
    nest_run = subprocess.run([sys.executable, "on_nest.py"], capture_output=True, text=True, timeout=600, cwd=board)
    assert nest_run.returncode == 0, nest_run.stderr[-2000:]
    assert float(nest_run.stdout.split("mean rate ")[1].split()[0]) > 1.0
    spinnaker_run = subprocess.run([sys.executable, "on_spinnaker.py"], capture_output=True, text=True, timeout=600,
                                   cwd=board)
    assert spinnaker_run.returncode == 0, spinnaker_run.stderr[-3000:]
    assert "mapped, nothing ran" in spinnaker_run.stdout


@pytest.mark.parametrize("values,words", [
    ({"tau_m": 0.0}, ["tau_m", "0"]),
    ({"cm": 0.0}, ["cm"]),
    ({"tau_refrac": -1.0}, ["tau_refrac", "-1"]),
    ({"i_offset": 1e6}, ["i_offset", "65536"]),
    ({"tau_syn_E": 0.5}, ["tau_syn", "time step"]),
    ({"cm": 1e-6}, ["cm", "rounds to 0"]),
    ({"cm": 1e-4}, ["tau_m/cm", "range"]),
])
def test_values_spinnaker_takes_silently_are_one_line_errors_when_the_cell_is_made(sim, values, words):
    from lifbridge.pynn import cell_type

    Lif = cell_type("lif", sim)
    with pytest.raises(LifbridgeError) as error:
        Lif(**values)
    text = str(error.value)
    assert "\n" not in text and all(word in text for word in words), text


def test_the_cell_is_spinnakers_own_type_with_the_models_defaults(sim):
    from lifbridge.pynn import cell_type

    cell = cell_type("lif", sim)(i_offset=0.25)
    assert type(cell).__name__ in ("IFCurrExpBase", "IF_curr_exp")
    model = lifbridge.load("lif")
    # lifbridge's defaults (tau_m 10 ms, cm 0.25 nF, v_thresh -55 mV), not sPyNNaker's (20 ms, 1 nF, -50 mV)
    population = sim.Population(2, cell)
    for name, expected in (("tau_m", model.parameters["tau_m"].value), ("cm", 0.25), ("v_thresh", -55.0),
                           ("i_offset", 0.25)):
        assert np.allclose(population.get(name), expected), name


def test_a_model_spinnaker_cannot_run_names_the_reason_and_the_nearest(sim):
    from lifbridge.pynn import cell_type

    for name in ("adex", "hh", "optogenetic_lif", "izhikevich", "lif_cond_alpha"):
        with pytest.raises(BackendUnavailable) as error:
            cell_type(name, sim)
        text = str(error.value)
        assert "\n" not in text and "not available on spinnaker" in text and "nearest" in text, text


def test_a_delta_weight_is_converted_to_spinnakers_charge(sim):
    """sPyNNaker's IF_curr_delta adds w/dt (nA) to the input over one step of the closed form:
    a jump of J mV needs w = J dt / (R (1 - exp(-dt/tau_m))) nA ms (R = tau_m/cm)."""
    from lifbridge.pynn import cell_type

    Delta = cell_type("lif_psc_delta", sim)
    w = Delta.native_weight("excitatory", 0.5, tau_m=10.0, cm=0.25)
    R = 10.0 / 0.25                                  # MOhm
    assert w == pytest.approx(0.5 * 1.0 / (R * (1 - np.exp(-1.0 / 10.0))), rel=1e-12)


def test_the_opsin_is_an_explicit_approximation_whose_current_follows_the_closed_form(sim):
    """optogenetic_lif is not available on SpiNNaker; approximate_optogenetic gives its LIF and a
    photocurrent precomputed from the opsin's closed form at a held driving force, and it maps."""
    from lifbridge.analytic import three_state_opsin_fractions
    from lifbridge.pynn.spinnaker import approximate_optogenetic

    Lif, Photocurrent = approximate_optogenetic("optogenetic_lif", sim)
    assert Photocurrent.relation == "approximate" and Photocurrent.holding_mV == -62.5
    light = Photocurrent(times=[10.0, 60.0], intensities=[5.0, 0.0])
    times, current = light.currents_nA(1.0, 100.0)
    # the value held over [t, t + 1 ms): g_ChR O(t + 0.5 ms) (E_ChR - V_hold), 40 nS = 0.04 uS
    for t, i in ((10.0, 0), (30.0, 20), (70.0, 60)):
        on = three_state_opsin_fractions(5.0, min(t + 0.5, 60.0) - 10.0, k_a=0.01, tau_d=10.0, tau_r=100.0)
        O = on[0] if t + 0.5 <= 60.0 else three_state_opsin_fractions(0.0, t + 0.5 - 60.0, k_a=0.01, tau_d=10.0,
                                                                     tau_r=100.0, start=on)[0]
        assert current[i] == pytest.approx(0.04 * O * (0.0 + 62.5), rel=1e-12)
    cells = sim.Population(5, Lif(i_offset=0.2))
    light.inject_into(cells, duration_ms=100.0)
    sim.run(100.0)                       # maps on the virtual board
