"""PyNN's standard cell types against lifbridge's generated ones, on the same PyNN backend.

Every verdict of a translation unit's ``STANDARD_VERDICTS`` is measured here: "same"
means spike for spike (to one time step, same counts) with lifbridge's generated type on
that backend, under the validation protocols (current sweep, step, frozen noise, single
spikes and Poisson trains through both receptors) and from a non-resting initial v;
"not the same" means that measurement finds a larger difference. A verdict that needs a
``sim.setup`` value is also measured without it, which must show the difference.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import lifbridge
from lifbridge import backends
from lifbridge.errors import ParameterError
from lifbridge.pynn.names import STANDARD_TYPES
from lifbridge.stimulus import Stimulus
from lifbridge.validation.protocols import build_batch, spike_input_batch

pytestmark = pytest.mark.pynn

# the PyNN backends with generated cell types to compare PyNN's standard types with (pynn.spinnaker
# runs only sPyNNaker's own types)
PYNN_BACKENDS = [name for name in backends.names() if name.startswith("pynn.") and name != "pynn.spinnaker"]

#: One lifbridge model per standard type: the longest name, the composition named after its kinetics.
MODEL_OF = {standard: max((m for m, s in STANDARD_TYPES.items() if s == standard), key=len)
            for standard in set(STANDARD_TYPES.values())}


def _unit(backend):
    backends.require(backend)
    return importlib.import_module(f"lifbridge.pynn.{backend.split('.', 1)[1]}")


def _runner(backend):
    return importlib.import_module(backends.get(backend).runner)


def _membrane_start(model):
    """Three neurons at rest, 7 mV and 17 mV above their initial membrane potential (Traub's rates
    are 0/0 at V_m - V_T = 13, 15 and 40 mV: hh_traub starts at V_T + 3 mV)."""
    from lifbridge.overrides import resolve

    initial = float(resolve(model, {}).initial_values()["V_m"])
    return np.array([initial, initial + 7.0, initial + 17.0])


def _runs(model, dt):
    """(stimulus, duration, overrides) of every protocol of the comparison."""
    yield from ((b.stimulus, b.duration_ms, {}) for b in (build_batch(model, quick=True, dt_ms=dt),
                                                          spike_input_batch(model, quick=True, dt_ms=dt)))
    yield Stimulus.constant([0.0, 0.0, 0.0]), 50.0, {"V_m": _membrane_start(model)}


class StandardTypeFails(Exception):
    """PyNN's standard type does not run where lifbridge's generated type does."""


def spike_difference(simulate, model) -> tuple:
    """(largest spike time difference in ms, spikes in one run and not the other, spikes, dt)
    between lifbridge's generated type and PyNN's standard type, run by ``simulate``."""
    dt = float(model.hints.get("validation_dt_ms", 0.1))
    worst, unmatched, total = 0.0, 0, 0
    for stimulus, duration, overrides in _runs(model, dt):
        generated = simulate(model, stimulus, duration_ms=duration, dt_ms=dt, **overrides)
        assert not generated.diverged, generated.diverged
        try:
            standard = simulate(model, stimulus, duration_ms=duration, dt_ms=dt, standard=True, **overrides)
        except Exception as error:  # noqa: BLE001 - PyNN's standard type cannot run this: not the same model
            raise StandardTypeFails(f"{type(error).__name__}: {error}") from None
        for a, b in zip(generated.spike_times_ms, standard.spike_times_ms):
            unmatched += abs(len(a) - len(b))
            total += len(a)
            n = min(len(a), len(b))
            if n:
                worst = max(worst, float(np.max(np.abs(np.asarray(a[:n]) - np.asarray(b[:n])))))
    return worst, unmatched, total, dt


CASES = [(backend, standard) for backend in PYNN_BACKENDS for standard in sorted(MODEL_OF)]


@pytest.mark.slow
@pytest.mark.parametrize("backend, standard_name", CASES, ids=[f"{b}-{s}" for b, s in CASES])
def test_standard_verdict_is_what_the_spikes_show(backend, standard_name):
    unit = _unit(backend)
    same, reason, *needs = unit.STANDARD_VERDICTS[standard_name]
    model = lifbridge.load(MODEL_OF[standard_name])
    simulate = _runner(backend).simulate
    try:
        worst, unmatched, total, dt = spike_difference(simulate, model)
    except StandardTypeFails as error:
        assert not same, f"{standard_name} on {backend} is declared the same as {model.name} but fails: {error}"
        return
    assert total > 20, f"{model.name}: too few spikes ({total}) for a verdict"
    shown = f"{standard_name} vs {model.name} on {backend}: {unmatched} of {total} spikes unmatched, " \
            f"worst {worst:.3f} ms (dt {dt} ms); declared {'same' if same else 'not the same'}: {reason}"
    if same:
        assert unmatched == 0 and worst <= dt + 1e-9, shown
    else:
        assert unmatched > 0 or worst > dt + 1e-9, shown


@pytest.mark.slow
def test_iaf_psc_exp_is_the_same_only_on_grid():
    """The verdict's set-up requirement is real: pyNN.nest's default (off-grid) IF_curr_exp differs."""
    from lifbridge.pynn import run

    if "pynn.nest" not in PYNN_BACKENDS:
        pytest.skip("no pynn.nest backend")
    unit, runner = _unit("pynn.nest"), _runner("pynn.nest")
    assert unit.STANDARD_VERDICTS["IF_curr_exp"][2] == {"spike_precision": "on_grid"}
    model = lifbridge.load("lif_psc_exp")
    batch = build_batch(model, quick=True)

    def off_grid(model, stimulus, standard=False, **kw):
        cell = unit.standard_class if standard else unit.cell_type
        return run.simulate(runner._sim(), "pynn.nest", cell, model, stimulus, timing=runner.TIMING,
                            setup={"spike_precision": "off_grid"}, **kw)

    generated = off_grid(model, batch.stimulus, duration_ms=batch.duration_ms, dt_ms=batch.dt_ms)
    standard = off_grid(model, batch.stimulus, standard=True, duration_ms=batch.duration_ms, dt_ms=batch.dt_ms)
    differs = [np.max(np.abs(a - b)) > batch.dt_ms if len(a) == len(b) and len(a) else len(a) != len(b)
               for a, b in zip(generated.spike_times_ms, standard.spike_times_ms)]
    assert sum(differs) >= 3  # iaf_psc_exp_ps places spikes between grid points


@pytest.mark.parametrize("backend", PYNN_BACKENDS)
def test_standard_true_gives_pynns_type_only_where_verified(backend):
    unit = _unit(backend)
    sim = importlib.import_module(f"pyNN.{backend.split('.', 1)[1]}")
    from lifbridge.pynn import cell_type

    needs = {}
    for verdict in unit.STANDARD_VERDICTS.values():
        needs.update(verdict[2] if len(verdict) > 2 else {})
    sim.setup(timestep=0.1, **needs)
    for standard_name, model_name in MODEL_OF.items():
        same, reason, *needs = unit.STANDARD_VERDICTS[standard_name]
        if same:
            assert cell_type(model_name, sim, standard=True) is getattr(sim, standard_name)
        else:
            with pytest.raises(ParameterError) as error:
                cell_type(model_name, sim, standard=True)
            text = str(error.value)
            assert "\n" not in text and standard_name in text and reason in text and "use standard=None" in text
    with pytest.raises(ParameterError, match="PyNN has no standard type for optogenetic_lif"):
        cell_type("optogenetic_lif", sim, standard=True)
    sim.end()
    if "use_cvode" in needs:   # pyNN.neuron's next setup() would keep it
        sim.simulator.state.cvode.active(0)


def test_standard_true_names_the_setup_a_verdict_needs():
    if "pynn.nest" not in PYNN_BACKENDS:
        pytest.skip("no pynn.nest backend")
    _unit("pynn.nest")
    import pyNN.nest as sim

    from lifbridge.pynn import cell_type

    # PyNN's default, off-grid spikes (said explicitly: pyNN.nest 0.13 keeps the previous setup's value)
    sim.setup(timestep=0.1, spike_precision="off_grid")
    with pytest.raises(ParameterError) as error:
        cell_type("lif_psc_exp", sim, standard=True)
    text = str(error.value)
    assert "\n" not in text and "sim.setup(spike_precision='on_grid')" in text and "now spike_precision='off_grid'" in text
    sim.end()


def test_standard_values_convert_with_units():
    """IF_cond_exp's tau_m is C_m / g_L; PyNN's Izhikevich takes a, b per ms and d in mV/ms."""
    from lifbridge.overrides import resolve
    from lifbridge.pynn.names import standard_values

    class IF_cond_exp:   # noqa: N801 - PyNN's name; only the declarations standard_values reads
        default_parameters = {"tau_m": 20.0, "cm": 1.0, "v_rest": -65.0, "i_offset": 0.0}
        default_initial_values = {"v": -65.0, "gsyn_exc": 0.0, "gsyn_inh": 0.0}

    model = lifbridge.load("lif_cond_exp")
    values = resolve(model, {"C_m": 300.0, "g_L": 20.0, "I_e": 150.0}).parameter_values()
    parameters, initial, dropped = standard_values(model, IF_cond_exp, values, resolve(model, {}).initial_values())
    assert parameters["tau_m"] == pytest.approx(300.0 / 20.0)            # pF / nS = ms
    assert parameters["cm"] == pytest.approx(0.3) and parameters["i_offset"] == pytest.approx(0.15)
    assert "g_L" not in dropped and "V_th" in dropped                     # IF_cond_exp above takes no v_thresh
    assert initial == {"v": pytest.approx(-70.0), "gsyn_exc": 0.0, "gsyn_inh": 0.0}

    class Izhikevich:
        default_parameters = {"a": 0.02, "b": 0.2, "c": -65.0, "d": 2.0, "i_offset": 0.0}
        default_initial_values = {"v": -70.0, "u": -14.0}

    model = lifbridge.load("izhikevich")
    values = resolve(model, {"a": 0.1, "d": 2.0, "I_e": 10.0}).parameter_values()
    parameters, initial, dropped = standard_values(model, Izhikevich, values, resolve(model, {}).initial_values())
    assert parameters == pytest.approx({"a": 0.1, "b": 0.2, "c": -65.0, "d": 2.0, "i_offset": 0.01})
    assert initial == pytest.approx({"v": -65.0, "u": -13.0}) and set(dropped) == {"V_th"}
