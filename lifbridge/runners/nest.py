"""NEST runner: the generated ``<model>_neuron`` (or a NEST built-in) as one population.

Per-neuron bias currents go into ``I_e``; a time-varying current goes through a
``step_current_generator`` into the model's continuous current port, a light signal
into its light port. NEST delivers generator output one step after it is emitted, so
the generator's change times are moved one step earlier than the signal's, and the
neuron sees the same piecewise-constant input as on the other backends.
"""

from __future__ import annotations

import os
import time

import numpy as np

from .. import nest as lnest
from ..model import Model, to_unit
from ..nestml import neuron_name
from ..stimulus import SimResult, Stimulus


def versions():
    os.environ.setdefault("PYNEST_QUIET", "1")
    import nest

    import pynestml

    return {"nest": nest.__version__, "nestml": pynestml.__version__}


def _quiet(nest):
    try:
        nest.verbosity = nest.VerbosityLevel.ERROR
    except AttributeError:  # older NEST
        nest.set_verbosity("M_ERROR")


def receptor_types(nest, model_name):
    """Receptor name -> number for a NEST model (empty if it has only one)."""
    try:
        return dict(nest.GetDefaults(model_name, "receptor_types"))
    except Exception:
        return {}


def _signal_generator(nest, values, signal_dt_ms, dt_ms, duration_ms):
    """A step_current_generator reproducing samples taken every ``signal_dt_ms`` from t = 0."""
    values = np.asarray(values, dtype=float)
    changes = np.flatnonzero(np.diff(np.concatenate([[0.0], values])) != 0)
    times = np.round(changes * signal_dt_ms - dt_ms, 10)  # delivered one step later
    # Changes due at or before t = 0 cannot be emitted before the start: the latest of them
    # takes effect at the first possible step (a generator's output reaches the neuron
    # one step after it is emitted).
    times = np.maximum(times, dt_ms)
    amplitudes = values[changes]
    if len(times):
        last = np.append(times[1:] != times[:-1], True)  # keep the last value set at each time
        times, amplitudes = times[last], amplitudes[last]
    generator = nest.Create("step_current_generator")
    if len(times):
        generator.set(amplitude_times=times.tolist(), amplitude_values=amplitudes.tolist())
    return generator


def simulate(model: Model, stimulus: Stimulus, *, duration_ms: float, dt_ms: float = 0.1, record=(),
             record_neurons=None, builtin: str | None = None, parameters=None, **overrides) -> SimResult:
    """Simulate ``stimulus.n`` neurons of ``model`` in NEST for ``duration_ms``.

    ``builtin``: run this NEST built-in model instead of the generated one, with
    ``parameters`` (NEST names and units) as its status. ``overrides``: parameter
    and initial values (spec units or strings with units).
    """
    os.environ.setdefault("PYNEST_QUIET", "1")  # no banner on stdout
    import nest

    started = time.perf_counter()
    nest.ResetKernel()
    _quiet(nest)
    nest.resolution = dt_ms
    overrides = dict(overrides)
    if builtin:
        name = builtin
        status = dict(parameters or {})
        status.update(overrides)
    else:
        lnest.install(model)
        name = neuron_name(model)
        status = lnest.parameter_status(model)
        for key, value in overrides.items():
            if key in model.parameters:
                status[key] = to_unit(value, model.parameters[key].unit, key)
            elif key in model.state:
                status[key] = to_unit(value, model.state[key].unit, key)
            else:
                raise ValueError(f"model {model.name!r} has no parameter or state variable {key!r}")
        initial = model.initial_values_si(model.with_parameters(
            {k: v for k, v in status.items() if k in model.parameters}).parameter_values_si())
        for key, var in model.state.items():
            status.setdefault(key, initial[key] / var.unit.scale)
    bias = np.asarray(stimulus.bias_pA, dtype=float) + float(status.pop("I_e", 0.0))
    population = nest.Create(name, stimulus.n)
    population.set(status)
    population.set(I_e=bias.tolist())
    receptors = receptor_types(nest, name)
    if stimulus.current_pA is not None:
        _connect_signal(nest, model, population, stimulus.current_pA, stimulus, dt_ms, duration_ms,
                        receptors.get(model.input_current.upper(), receptors.get(model.input_current)))
    if stimulus.light is not None:
        port = model.light_input
        _connect_signal(nest, model, population, stimulus.light, stimulus, dt_ms, duration_ms,
                        receptors.get(port.upper(), receptors.get(port)))
    recorder = nest.Create("spike_recorder")
    nest.Connect(population, recorder)
    multimeter = None
    if record:
        multimeter = nest.Create("multimeter", params={"record_from": list(record), "interval": dt_ms})
        targets = population if record_neurons is None else population[list(record_neurons)]
        nest.Connect(multimeter, targets)
    nest.Simulate(duration_ms)
    events = recorder.events
    senders = np.asarray(events["senders"]) - population[0].global_id
    times = np.asarray(events["times"], dtype=float)
    spike_times = [np.sort(times[senders == i]) for i in range(stimulus.n)]
    traces = {}
    if multimeter is not None:
        ev = multimeter.events
        ids = population.global_id if record_neurons is None else population[list(record_neurons)].global_id
        ids = [ids] if np.isscalar(ids) else list(ids)
        senders = np.asarray(ev["senders"])
        t_all = np.asarray(ev["times"], dtype=float)
        for var in record:
            rows = [np.asarray(ev[var])[senders == gid] for gid in ids]
            t = t_all[senders == ids[0]]
            unit = model.unit_of(var).name if var in _names(model) else ""
            traces[var] = (t, np.array(rows), unit)
    result = SimResult(model.name, "nest" if not builtin else f"nest:{builtin}", dt_ms, duration_ms, spike_times,
                       traces, versions(), time.perf_counter() - started)
    return result


def _names(model):
    return set(model.state) | set(model.parameters) | set(model.aliases) | set(model.inputs)


def _connect_signal(nest, model, population, values, stimulus, dt_ms, duration_ms, receptor):
    values = np.asarray(values, dtype=float)
    syn_spec = {"delay": dt_ms}
    if receptor is not None:
        syn_spec["receptor_type"] = receptor
    if values.ndim == 1:
        generator = _signal_generator(nest, values, stimulus.signal_dt_ms, dt_ms, duration_ms)
        nest.Connect(generator, population, syn_spec=syn_spec)
    else:
        for i in range(values.shape[1]):
            generator = _signal_generator(nest, values[:, i], stimulus.signal_dt_ms, dt_ms, duration_ms)
            nest.Connect(generator, population[i], syn_spec=syn_spec)
