"""One population of a lifbridge model run through PyNN, shared by the PyNN runners.

:func:`simulate` takes the PyNN backend module ``sim`` and the backend's timing
(:class:`Timing`), so it names no simulator: the runners
(:mod:`lifbridge.runners.pynn_nest`, :mod:`lifbridge.runners.pynn_brian2`) pass theirs.

Inputs, in PyNN's units and sign conventions (converted with :mod:`lifbridge.pynn.names`):

* the bias current and ``I_e`` go into ``i_offset`` (nA), per neuron;
* a time-varying current (``current_pA``) becomes one ``StepCurrentSource`` per column (a
  current that changes at most steps, as white noise, goes through the backend's
  ``inject_sampled_current`` where it has one: the same input, set for all cells at once);
* input spikes (``stimulus.spikes``) become one ``SpikeSourceArray`` per train,
  projected onto the neurons of the train through the port's receptor type, with the
  weight in PyNN's unit and sign (an inhibitory conductance positive);
* a light signal becomes one :class:`lifbridge.pynn.LightSource` per column, with the timing
  of the current.

Spike times are reported at the grid point where the crossing is found, as NEST does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from ..divergence import Event, membrane_potential, merge, runaway_bounds, scan_traces
from ..model import Model
from ..overrides import resolve
from ..stimulus import SimResult, Stimulus
from ..units import parse_unit
from . import translation_unit
from .light import LightSource
from .names import pynn_names, standard_values

NANOAMP = parse_unit("nA")
#: A current that changes at more than this fraction of its samples (white noise) goes in
#: through the backend's ``inject_sampled_current`` where it has one (pyNN.brian2: one update
#: per step for all cells instead of a StepCurrentSource per cell).
DENSE_CHANGES = 0.5
PICOAMP = parse_unit("pA")


@dataclass(frozen=True)
class Timing:
    """How a PyNN backend's clock relates to lifbridge's (in time steps).

    ``spike_source_steps``: how many steps before the time a spike is due to act its
    ``SpikeSourceArray`` time must be (projection delay: one step); ``current_steps``:
    the same for a ``StepCurrentSource`` change; ``reported_spike_steps``: added to the
    spike times PyNN reports; ``first_current_step``: the first step at which a current
    source change can act (earlier changes go into ``i_offset`` for those steps).
    """

    spike_source_steps: int
    current_steps: int
    reported_spike_steps: int
    first_current_step: int = 0
    first_trace_step: int = 0
    first_spike_step: int = 3
    #: spike times come off the grid (a variable-step solver): each is reported at the next
    #: grid point, where a clock-driven simulator finds the crossing
    spikes_off_grid: bool = False
    #: traces are sampled every ``dt * (1 + sampling_stretch)`` (a variable-step solver
    #: samples every solver step when asked for exactly dt; a stretch of 1e-9 gives the grid
    #: values, just after the events of each grid time)
    sampling_stretch: float = 0.0

    def on_lifbridge_clock(self, times_ms, dt_ms: float) -> np.ndarray:
        """Spike times (ms) as this backend's PyNN module reports them, moved to lifbridge's
        clock: ``reported_spike_steps`` later, and off-grid times to the next grid point."""
        times = np.round(np.asarray(times_ms, dtype=float) + self.reported_spike_steps * dt_ms, 10)
        if self.spikes_off_grid:
            times = np.round(np.ceil(np.round(times / dt_ms, 6)) * dt_ms, 10)
        return times


def _pynn_values(names, values: dict) -> dict:
    """Spec name -> value (spec units) as PyNN name -> value (PyNN units)."""
    out = {}
    for spec, value in values.items():
        item = next(n for n in names.parameters + names.state if n.spec == spec)
        factor = item.spec_unit.factor_to(item.pynn_unit)
        out[item.pynn] = np.asarray(value, dtype=float) * factor if np.ndim(value) else float(value) * factor
    return out


def simulate(sim, backend: str, cell_type, model: Model, stimulus: Stimulus, *, duration_ms, dt_ms, timing: Timing,
             record=(), record_neurons=None, setup=None, held=None, **overrides) -> SimResult:
    """Run ``stimulus.n`` neurons of ``model`` on the PyNN backend module ``sim`` (see the module docstring).

    ``held``: optional ``(cells) -> {neuron index: (t_ms, note)}``, the neurons the cell type
    itself stopped as runaways (a variable-step solver would follow them without end); each
    is a divergence of the membrane potential (value nan: not followed)."""
    started = time.perf_counter()
    resolved = resolve(model, overrides, n=stimulus.n)
    names = pynn_names(model)
    sim.setup(timestep=dt_ms, min_delay=dt_ms, **(setup or {}))
    Type = cell_type(model, sim)
    parameters = resolved.parameter_values()
    if "I_e" in model.parameters:
        parameters["I_e"] = np.asarray(stimulus.bias_pA, dtype=float) * PICOAMP.factor_to(model.parameters["I_e"].unit) \
            + np.asarray(parameters["I_e"], dtype=float)
    elif np.any(stimulus.bias_pA):
        raise ValueError(f"model {model.name!r} has no bias current parameter I_e")
    bias = np.asarray(parameters.get("I_e", 0.0), dtype=float) * np.ones(stimulus.n)  # pA
    if "I_e" in model.parameters:
        bias = bias * model.parameters["I_e"].unit.factor_to(PICOAMP)
    cell_parameters, initial = _pynn_values(names, parameters), _pynn_values(names, resolved.initial_values())
    standard = getattr(Type, "lifbridge_model", None) is None   # PyNN's own standard type, in its own names
    if standard:
        cell_parameters, initial, _ = standard_values(model, Type, parameters, resolved.initial_values())
    cells = sim.Population(stimulus.n, Type(**cell_parameters))
    cells.initialize(**initial)
    head = _connect_current(sim, cells, names, model, stimulus, dt_ms, duration_ms, timing)
    _connect_light(cells, model, stimulus, dt_ms, duration_ms, timing)
    _connect_spikes(sim, cells, names, model, stimulus, dt_ms, timing)
    pynn_record = [_pynn_name(names, var) for var in record]
    cells.record("spikes")
    # the membrane potential of every neuron is watched for divergence (lifbridge.divergence)
    membrane = membrane_potential(model)
    watched = _pynn_name(names, membrane) if membrane in {n.spec for n in names.state} and not standard else None
    sampling = dt_ms * (1.0 + timing.sampling_stretch) if timing.sampling_stretch else None
    if watched and (record_neurons is not None or watched not in pynn_record):
        cells.record([watched], sampling_interval=sampling)
    if pynn_record:
        (cells if record_neurons is None else cells[list(record_neurons)]).record(pynn_record,
                                                                                 sampling_interval=sampling)
    failure = None
    try:
        _run(sim, cells, names, bias, head, dt_ms, duration_ms)
    except Exception as error:  # a solver failure of the simulator is a divergence, said so
        text = f"{type(error).__name__}: {error}"
        if not any(word in text for word in ("GSL", "NumericalInstability", "nan", "overflow")):
            raise
        failure = Event(-1, float(sim.get_current_time()), "", None, "", None, note=f"{backend}: {text[:200]}")
    block = cells.get_data()
    segment = block.segments[-1]
    spikes = [np.zeros(0) for _ in range(stimulus.n)]
    for position, train in enumerate(segment.spiketrains):
        index = int(train.annotations.get("source_index", position))
        times = timing.on_lifbridge_clock(train.magnitude, dt_ms)
        spikes[index] = np.sort(times[times <= duration_ms + 1e-9])
    traces = {}
    for var, pynn in zip(record, pynn_record):
        signal = next(s for s in segment.analogsignals if s.name == pynn)
        item = names.by_pynn[pynn]
        t = np.asarray(signal.times.rescale("ms").magnitude, dtype=float)
        values = np.asarray(signal.magnitude, dtype=float).T * item.to_spec
        ids = [int(i) for i in signal.array_annotations.get("channel_index", range(values.shape[0]))]
        wanted = list(range(stimulus.n)) if record_neurons is None else [int(i) for i in record_neurons]
        if ids != wanted:  # the membrane is recorded for every neuron (divergence watch): keep the asked rows
            values = values[[ids.index(i) for i in wanted]]
        steps = np.round(t / dt_ms)
        keep = (steps >= timing.first_trace_step) & (steps < timing.first_trace_step + round(duration_ms / dt_ms))
        traces[var] = (t[keep], values[:, keep], item.spec_unit.name)
    events = {}
    if watched:
        signal = next((s for s in segment.analogsignals if s.name == watched), None)
        if signal is not None:
            item = names.by_pynn[watched]
            t = np.asarray(signal.times.rescale("ms").magnitude, dtype=float)
            values = np.asarray(signal.magnitude, dtype=float).T * item.to_spec
            ids = [int(i) for i in signal.array_annotations.get("channel_index", range(values.shape[0]))]
            events = scan_traces({membrane: (t, values, item.spec_unit.name)},
                                 runaway_bounds(model, {**resolved.parameters, **resolved.state}), None, ids)
    for index, (t_ms, note) in (held(cells) if held is not None else {}).items():
        unit = model.state[membrane].unit.name if membrane in model.state else ""
        events[index] = Event(index, t_ms, membrane or "", float("nan"), unit, None, note=f"{backend}: {note}")
    if failure is not None:
        events = {i: events.get(i) or replace(failure, neuron=i) for i in range(stimulus.n)}
    sim.end()
    result = SimResult(model.name, backend, dt_ms, duration_ms, spikes, traces, {}, time.perf_counter() - started)
    result.diverged = merge(backend, list(events.values()))
    return result


def _pynn_name(names, var: str) -> str:
    for item in names.state:
        if item.spec == var:
            return item.pynn
    raise ValueError(f"record {var}: not a state variable of the PyNN cell type; state: "
                     f"{', '.join(n.spec for n in names.state)}")


def _columns(values, n) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values[:, None] * np.ones((1, n)) if values.ndim == 1 else values


def _head(columns, stimulus, dt_ms, duration_ms, timing) -> list:
    """The samples (per neuron) of the first ``timing.first_current_step`` steps, which a source cannot reach."""
    head = []
    for step in range(min(timing.first_current_step, int(round(duration_ms / dt_ms)))):
        k = min(int(np.floor(step * dt_ms / stimulus.signal_dt_ms + 1e-9)), len(columns) - 1)
        head.append(columns[k])
    return head


def _changes(column, stimulus, dt_ms, timing) -> tuple:
    """(times in ms, values) of the changes of one sampled signal, for a step source of the backend."""
    changes = np.flatnonzero(np.diff(np.concatenate([[0.0], column])) != 0)
    times = changes * stimulus.signal_dt_ms - timing.current_steps * dt_ms
    first = timing.first_current_step * dt_ms - timing.current_steps * dt_ms
    keep = times >= first - 1e-9
    if not keep.all() and (~keep).any():
        # the latest change before the first possible step takes effect then
        last_early = np.flatnonzero(~keep)[-1]
        keep[last_early] = True
        times[last_early] = first
    times, values = np.round(times[keep], 10), column[changes][keep]
    if len(times) > 1:
        last = np.append(times[1:] != times[:-1], True)
        times, values = times[last], values[last]
    return times, values


def _connect_current(sim, cells, names, model, stimulus, dt_ms, duration_ms, timing) -> list:
    """StepCurrentSources for ``stimulus.current_pA``; returns the samples (pA, per neuron) of the
    first ``timing.first_current_step`` steps, which go into ``i_offset``."""
    if stimulus.current_pA is None:
        return []
    if model.input_current is None:
        raise ValueError(f"model {model.name!r} has no current input for a time-varying current")
    columns = _columns(stimulus.current_pA, stimulus.n)
    factor = PICOAMP.factor_to(NANOAMP)
    unit = translation_unit(sim)
    dense = np.count_nonzero(np.diff(columns, axis=0)) > DENSE_CHANGES * columns.size
    if dense and hasattr(unit, "inject_sampled_current") and timing.current_steps == 0 \
            and timing.first_current_step == 0:
        unit.inject_sampled_current(cells, columns * factor, stimulus.signal_dt_ms)
        return []
    for i in range(stimulus.n):
        times, amplitudes = _changes(columns[:, i], stimulus, dt_ms, timing)
        if len(times):
            source = sim.StepCurrentSource(times=times.tolist(), amplitudes=(amplitudes * factor).tolist())
            source.inject_into(cells[[i]])
    return _head(columns, stimulus, dt_ms, duration_ms, timing)


def _connect_light(cells, model, stimulus, dt_ms, duration_ms, timing):
    """One :class:`LightSource` per column of ``stimulus.light`` (in the light input's unit)."""
    if stimulus.light is None:
        return
    if model.light_input is None:
        raise ValueError(f"model {model.name!r} has no light input")
    columns = _columns(stimulus.light, stimulus.n)
    if any(np.any(sample) for sample in _head(columns, stimulus, dt_ms, duration_ms, timing)):
        raise ValueError(f"light onto {model.name}: through PyNN the light can change from "
                         f"{timing.first_current_step * dt_ms:g} ms on; start it later")
    for i in range(stimulus.n):
        times, intensities = _changes(columns[:, i], stimulus, dt_ms, timing)
        if len(times):
            LightSource(times, intensities).inject_into(cells[[i]])


def _connect_spikes(sim, cells, names, model, stimulus, dt_ms, timing):
    for train in getattr(stimulus, "spikes", None) or []:
        if train.port not in names.receptors:
            raise ValueError(f"model {model.name!r} has no spike input {train.port!r}; spike inputs: "
                             f"{', '.join(names.receptors) or 'none'}")
        grid = np.round(np.asarray(train.times_ms, dtype=float) / dt_ms)
        if len(grid) and grid.min() < timing.first_spike_step:
            raise ValueError(f"input spikes onto {train.port}: times must be >= "
                             f"{timing.first_spike_step * dt_ms:g} ms through PyNN (got {grid.min() * dt_ms:g} ms); "
                             f"start the trains later or use the nest or brian2 backend")
        weight_unit = names.weight_units[train.port]
        weight = float(train.weight) * model.inputs[train.port].unit.factor_to(weight_unit)
        if names.conductance_based:
            weight = abs(weight)  # PyNN: conductances are positive on every receptor
        # a spike source emits at most once per step: the k-th spike of a train within one
        # step goes out through the train's k-th source
        grid = np.sort(grid)
        layer = np.arange(len(grid)) - np.searchsorted(grid, grid)
        for depth in range(int(layer.max()) + 1 if len(grid) else 1):
            source = sim.Population(1, sim.SpikeSourceArray(
                spike_times=np.round((grid[layer == depth] - timing.spike_source_steps) * dt_ms, 10).tolist()))
            sim.Projection(source, cells[list(train.neurons)], sim.AllToAllConnector(),
                           sim.StaticSynapse(weight=weight, delay=dt_ms), receptor_type=names.receptors[train.port])


def _run(sim, cells, names, bias, head, dt_ms, duration_ms):
    """``sim.run(duration_ms)``, with the current of the first steps added to ``i_offset`` for those steps."""
    if not head:
        sim.run(duration_ms)
        return
    to_pynn = PICOAMP.factor_to(NANOAMP)
    i_offset = names.by_pynn and next(n.pynn for n in names.parameters if n.spec == "I_e")
    for sample in head:
        cells.set(**{i_offset: ((bias + sample) * to_pynn).tolist()})
        sim.run(dt_ms)
    cells.set(**{i_offset: (bias * to_pynn).tolist()})
    rest = duration_ms - len(head) * dt_ms
    if rest > 1e-9:
        sim.run(rest)

