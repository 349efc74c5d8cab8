"""NEST runner: the generated ``<model>_neuron`` (or its NEST built-in) as one population.

Inputs:

* per-neuron bias currents go into ``I_e``;
* a time-varying current goes through a ``step_current_generator`` into the model's
  continuous current port (``CurrentEvent`` receptor_type 0, see
  :func:`lifbridge.nestml.continuous_receptors`);
* a light signal goes through a ``step_current_generator`` connected with the receptor
  type of the light port (1 for ``optogenetic_lif``: the generated neuron has two
  continuous ports and NEST routes a ``CurrentEvent`` by its receptor type; the
  generator's "amplitude" is then the light intensity in the port's unit);
* ``spike_input``: spike trains through ``spike_generator``s, positive weights to the
  excitatory port, negative ones to the inhibitory port (as for NEST's built-ins).

NEST delivers generator output one step after it is emitted (the minimal delay), so
the generators' times are moved one step earlier than the signal's: the neuron sees
the same piecewise-constant input as on the other backends, and a spike given at time
t changes the synaptic state at t.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace

import numpy as np

from .. import nest as lnest
from ..errors import ParameterError
from ..model import Model
from ..overrides import resolve
from ..nestml import continuous_receptors, neuron_name
from ..divergence import Event, first_violation, merge, runaway_bounds, scan_traces
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


def import_nest():
    """``import nest`` without the banner, at error verbosity."""
    os.environ.setdefault("PYNEST_QUIET", "1")  # no banner on stdout
    import nest

    _quiet(nest)
    return nest


def receptor_types(nest, model_name):
    """Receptor name -> number of a NEST model's spike receptors (empty if it has only one)."""
    try:
        return dict(nest.GetDefaults(model_name, "receptor_types"))
    except Exception:
        return {}


def _signal_generator(nest, values, signal_dt_ms, dt_ms, duration_ms):
    """A step_current_generator reproducing samples taken every ``signal_dt_ms`` from t = 0."""
    values = np.asarray(values, dtype=float)
    changes = np.flatnonzero(np.diff(np.concatenate([[0.0], values])) != 0)
    times = np.round(changes * signal_dt_ms - dt_ms, 10)  # delivered one step later
    # Changes due at or before t = dt cannot be emitted in time: the latest of them takes
    # effect at the first possible step, t = 2 dt; the runner adds the first two steps'
    # values to I_e instead (:func:`_simulate_with_head`).
    times = np.maximum(times, dt_ms)
    amplitudes = values[changes]
    if len(times):
        last = np.append(times[1:] != times[:-1], True)  # keep the last value set at each time
        times, amplitudes = times[last], amplitudes[last]
    generator = nest.Create("step_current_generator")
    if len(times):
        generator.set(amplitude_times=times.tolist(), amplitude_values=amplitudes.tolist())
    return generator


#: Generator output reaches a neuron one step after emission, and the earliest emission
#: time is one step, so the first two steps of a current signal cannot come from a generator.
HEAD_STEPS = 2


def _simulate_with_head(nest, population, bias, stimulus, dt_ms, duration_ms):
    """``nest.Simulate(duration_ms)``, with the current signal of the first
    :data:`HEAD_STEPS` steps added to ``I_e`` for those steps (see :data:`HEAD_STEPS`)."""
    head = min(HEAD_STEPS, int(round(duration_ms / dt_ms)))
    if stimulus.current_pA is None or head == 0:
        nest.Simulate(duration_ms)
        return
    values = np.asarray(stimulus.current_pA, dtype=float)
    for step in range(head):
        sample = values[min(int(np.floor(step * dt_ms / stimulus.signal_dt_ms + 1e-9)), len(values) - 1)]
        population.set(I_e=(bias + sample).tolist())
        nest.Simulate(dt_ms)
    population.set(I_e=bias.tolist())
    if duration_ms - head * dt_ms > 1e-9:
        nest.Simulate(duration_ms - head * dt_ms)


def connect_spike_input(nest, population, spike_input, dt_ms):
    """Connect spike trains ``[(times_ms, weight), ...]`` to every neuron of ``population``.

    Each train is a ``spike_generator`` emitting one step before the given times with a
    delay of one step, so the weight is added to the synaptic state at the given time
    (times are rounded to the grid and must be at least two steps after 0).
    """
    generators = []
    for times, weight in spike_input:
        times = np.round(np.asarray(times, dtype=float) / dt_ms) * dt_ms
        if len(times) and times.min() < 2 * dt_ms - 1e-9:
            raise ValueError(f"spike_input times must be >= 2 dt = {2 * dt_ms:g} ms")
        generator = nest.Create("spike_generator",
                                params={"spike_times": np.round(times - dt_ms, 10).tolist()})
        nest.Connect(generator, population, syn_spec={"weight": float(weight), "delay": dt_ms})
        generators.append(generator)
    return generators


def spike_receptor(nest, model: Model, port: str, nest_model: str) -> int:
    """The ``receptor_type`` through which spikes reach ``port`` of a ``nest_model`` neuron of ``model``.

    A model with one port, or with NEST's excitatory/inhibitory pair, takes its spikes on
    receptor 0 and NEST routes them by the sign of the weight; a model with more ports
    takes each on its own receptor: NEST's receptor number for a ``*_multisynapse``
    built-in (the model's numbered receptor), the generated neuron's ``receptor_types``
    otherwise.
    """
    ports = list(model.spike_inputs)
    if port not in ports:
        raise ValueError(f"model {model.name!r} has no spike input {port!r}; spike inputs: {', '.join(ports) or 'none'}")
    if len(ports) == 1 or sorted(ports) == ["exc_spikes", "inh_spikes"]:
        return 0
    if nest_model != neuron_name(model):
        synapse = model.synapses.get(port)
        if synapse is not None and isinstance(synapse.receptor, int):
            return synapse.receptor
        raise ValueError(f"NEST's {nest_model} has no receptor for {model.name}.{port}")
    types = {k.lower(): v for k, v in receptor_types(nest, nest_model).items()}
    if port.lower() not in types:
        raise ValueError(f"NEST's {nest_model} lists no receptor type for {port} (it has: "
                         f"{', '.join(types) or 'none'})")
    return int(types[port.lower()])


def connect_spike_trains(nest, population, model: Model, trains, dt_ms, nest_model: str):
    """Connect :class:`lifbridge.stimulus.SpikeTrain` s to their neurons of ``population``.

    A spike due at t is emitted by a ``spike_generator`` at t - dt with a delay of one step,
    so the port's statements act on the state at t, as in the reference (times are
    rounded to the grid and must be at least two steps after 0).
    """
    for train in trains:
        times = np.round(train.times_ms / dt_ms) * dt_ms
        if len(times) and times.min() < 2 * dt_ms - 1e-9:
            raise ValueError(f"input spikes onto {train.port}: times must be >= 2 dt = {2 * dt_ms:g} ms on NEST")
        generator = nest.Create("spike_generator", params={"spike_times": np.round(times - dt_ms, 10).tolist()})
        receptor = spike_receptor(nest, model, train.port, nest_model)
        nest.Connect(generator, population[list(train.neurons)],
                     syn_spec={"weight": float(train.weight), "delay": dt_ms, "receptor_type": receptor})


def _connect_signal(nest, population, values, stimulus, dt_ms, duration_ms, receptor):
    values = np.asarray(values, dtype=float)
    syn_spec = {"delay": dt_ms}
    if receptor:
        syn_spec["receptor_type"] = receptor
    if values.ndim == 1:
        generator = _signal_generator(nest, values, stimulus.signal_dt_ms, dt_ms, duration_ms)
        nest.Connect(generator, population, syn_spec=syn_spec)
    else:
        for i in range(values.shape[1]):
            generator = _signal_generator(nest, values[:, i], stimulus.signal_dt_ms, dt_ms, duration_ms)
            nest.Connect(generator, population[i], syn_spec=syn_spec)


def _resolve(model: Model, overrides: dict, n: int):
    """``overrides`` read and checked by :func:`lifbridge.overrides.resolve`, as on every backend."""
    return resolve(model, overrides, n=n)


def _spec_status(resolved) -> tuple:
    """(parameters, initial state) in spec names and units, with the overrides applied
    (per-neuron values as lists, which NEST's ``set`` takes one per neuron)."""
    def listed(values):
        return {k: (np.asarray(v, dtype=float).tolist() if np.ndim(v) else float(v)) for k, v in values.items()}

    params = lnest.parameter_status(resolved.model)
    params.update(listed(resolved.parameters))
    return params, listed(resolved.initial_values())


def _builtin_status(model, resolved, equivalent) -> dict:
    """The built-in's status (NEST names, units and signs) for the resolved overrides; per-neuron
    values become lists."""
    if resolved.per_neuron:
        # one status per neuron, merged into lists
        rows = []
        for i in range(resolved.n):
            one = {k: (float(v[i]) if np.ndim(v) else v) for k, v in {**resolved.parameters, **resolved.state}.items()}
            rows.append(_builtin_status(model, resolve(model, one), equivalent))
        return {k: [row[k] for row in rows] if any(row[k] != rows[0][k] for row in rows) else rows[0][k]
                for k in rows[0]}
    status = equivalent.builtin_parameters(resolved.model)
    initial = resolved.initial_values()
    status.update(equivalent.builtin_state(model, {k: v for k, v in initial.items() if k in equivalent.state}))
    return status


#: At most this many diverged neurons are re-run with a recorder to find when they diverged.
LOCATE_MAX_NEURONS = 100


def simulate(model: Model, stimulus: Stimulus, *, duration_ms: float, dt_ms: float = 0.1, record=(),
             record_neurons=None, builtin=None, parameters=None, spike_input=(), **overrides) -> SimResult:
    """Simulate ``stimulus.n`` neurons of ``model`` in NEST for ``duration_ms``.

    ``overrides``: parameter and initial values (spec names; spec units or strings with
    units). ``builtin``: run a NEST built-in instead of the generated neuron: ``True``
    for the model's equivalent in :data:`lifbridge.nest.BUILTIN_EQUIVALENTS` (its
    parameters and initial state are translated from the model and ``overrides``), or
    the name of any NEST model, whose status is then ``parameters`` (NEST names and
    units) plus ``overrides`` given verbatim. ``parameters`` always wins over the
    translated values. ``spike_input``: ``[(times_ms, weight), ...]`` (see
    :func:`connect_spike_input`). ``record``: spec names (translated for a built-in).

    Divergence (:mod:`lifbridge.divergence`) is checked on the final state of every
    neuron and on the recorded traces; neurons found only at the end are run again with
    a recorder (at most :data:`LOCATE_MAX_NEURONS`) to find when. A solver failure of
    NEST (GSL, numerical instability) is a divergence too. The result's ``diverged``
    says which neurons diverged.
    """
    options = dict(record=record, record_neurons=record_neurons, builtin=builtin, parameters=parameters,
                   spike_input=spike_input, **overrides)
    result, at_end = _simulate(model, stimulus, duration_ms, dt_ms, **options)
    if at_end:
        result.diverged = _locate(model, stimulus, duration_ms, dt_ms, result, at_end, options)
    return result


def _simulate(model, stimulus, duration_ms, dt_ms, *, record=(), record_neurons=None, builtin=None, parameters=None,
              spike_input=(), **overrides):
    """The run of :func:`simulate`; returns the result and {neuron: Event} found only in the final state."""
    nest = import_nest()
    started = time.perf_counter()
    nest.ResetKernel()
    _quiet(nest)
    nest.resolution = dt_ms
    overrides = dict(overrides)
    equivalent = lnest.builtin_equivalent(model)
    record_names = {var: var for var in record}
    # recorded values are multiplied by these to be in lifbridge's units and signs
    record_factors = {var: 1.0 for var in record}
    if builtin is True:
        if equivalent is None:
            raise ValueError(f"model {model.name!r} has no NEST built-in equivalent")
        builtin = equivalent.builtin
    if builtin:
        name = builtin
        if equivalent is not None and equivalent.builtin == builtin:
            resolved = _resolve(model, overrides, stimulus.n)
            overrides = {**resolved.parameters, **resolved.state}
            status = _builtin_status(model, resolved, equivalent)
            record_names, record_factors = _builtin_recordables(model, equivalent, record)
        else:
            status = dict(overrides)
        status.update(parameters or {})
        receptors = {}
    else:
        resolved = _resolve(model, overrides, stimulus.n)
        overrides = {**resolved.parameters, **resolved.state}
        lnest.install(lnest.module_models(model))
        name = neuron_name(model)
        params, states = _spec_status(resolved)
        status = dict(params, **states)
        status.update(parameters or {})
        receptors = continuous_receptors(model)
    bias = np.asarray(stimulus.bias_pA, dtype=float) + np.asarray(status.pop("I_e", 0.0), dtype=float)
    population = nest.Create(name, stimulus.n)
    population.set(status)
    population.set(I_e=bias.tolist())
    if stimulus.current_pA is not None:
        _connect_signal(nest, population, stimulus.current_pA, stimulus, dt_ms, duration_ms,
                        receptors.get(model.input_current, 0))
    if stimulus.light is not None:
        if builtin:
            raise ValueError(f"the NEST built-in {builtin!r} has no light input")
        _connect_signal(nest, population, stimulus.light, stimulus, dt_ms, duration_ms,
                        receptors[model.light_input])
    if spike_input:
        connect_spike_input(nest, population, spike_input, dt_ms)
    if stimulus.spikes:
        connect_spike_trains(nest, population, model, stimulus.spikes, dt_ms, name)
    recorder = nest.Create("spike_recorder")
    nest.Connect(population, recorder)
    multimeter = None
    if record:
        multimeter = nest.Create("multimeter", params={"record_from": list(record_names.values()),
                                                       "interval": dt_ms})
        targets = population if record_neurons is None else population[list(record_neurons)]
        nest.Connect(multimeter, targets)
    bounds = runaway_bounds(model, overrides)
    failure = None
    try:
        _simulate_with_head(nest, population, bias, stimulus, dt_ms, duration_ms)
    except nest.NESTError as error:
        if not any(word in type(error).__name__ + str(error) for word in ("GSL", "NumericalInstability")):
            raise
        failure = Event(-1, float(nest.biological_time), "", None, "", None,
                        note=f"NEST: {str(error).strip().splitlines()[0][:200]}")
    at_end = _final_state_events(model, population, builtin, equivalent, bounds)
    events = recorder.events
    senders = np.asarray(events["senders"]) - population[0].global_id
    times = np.asarray(events["times"], dtype=float)
    spike_times = [np.sort(times[senders == i]) for i in range(stimulus.n)]
    traces = {}
    if multimeter is not None:
        # Neurons hand the multimeter the samples of one min_delay slice during the next
        # slice: run one more slice so the last samples arrive, and drop what lies beyond.
        nest.Simulate(nest.min_delay)
        ev = multimeter.events
        ids = population.global_id if record_neurons is None else population[list(record_neurons)].global_id
        ids = [ids] if np.isscalar(ids) else list(ids)
        senders = np.asarray(ev["senders"])
        t_all = np.asarray(ev["times"], dtype=float)
        for var, recorded in record_names.items():
            keep = t_all <= duration_ms + 1e-9
            rows = [np.asarray(ev[recorded])[(senders == gid) & keep] for gid in ids]
            t = t_all[(senders == ids[0]) & keep]
            unit = model.unit_of(var).name if var in _names(model) else ""
            traces[var] = (t, np.array(rows) * record_factors[var], unit)
    result = SimResult(model.name, "nest" if not builtin else f"nest:{builtin}", dt_ms, duration_ms, spike_times,
                       traces, versions(), time.perf_counter() - started)
    rows = list(range(stimulus.n)) if record_neurons is None else list(record_neurons)
    timed = scan_traces(traces, bounds, None, rows)
    # a neuron whose recorded trace shows when it diverged needs no second run
    for neuron, event in timed.items():
        if neuron in at_end:
            del at_end[neuron]
    if failure is not None:
        # the kernel's clock may not have advanced past the failing slice: the last recorded
        # spike bounds the time from below
        failure.t_ms = max(failure.t_ms, float(times.max()) if len(times) else 0.0)
        # the run stopped there: no neuron's spikes are complete
        for i in range(stimulus.n):
            event = timed.get(i) or at_end.get(i)
            timed[i] = replace(failure, neuron=i) if event is None else replace(
                event, t_ms=failure.t_ms if event.t_ms is None else event.t_ms, note=failure.note)
        at_end = {}
    result.diverged = merge(result.backend, list(timed.values()) + list(at_end.values()))
    return result, at_end


def _builtin_recordables(model, equivalent, record) -> tuple:
    """({our name: NEST's recordable}, {our name: factor to our unit and sign}) for a built-in.

    NEST keeps some inhibitory currents negative (``I_syn_in``) where ours hold the
    magnitude: the factor carries the sign. A state variable NEST keeps internal cannot
    be recorded: one-line error.
    """
    from ..units import parse_unit

    names, factors = {}, {}
    for var in record:
        if var not in equivalent.state:
            names[var], factors[var] = var, 1.0
            continue
        theirs, unit = equivalent.state[var]
        if theirs is None:
            raise ValueError(f"record {var}: NEST's {equivalent.builtin} keeps {var} internal (not recordable); "
                             f"record it on the generated {neuron_name(model)} (builtin=None) or another backend")
        names[var] = theirs
        factors[var] = parse_unit(unit).factor_to(model.state[var].unit) * equivalent.state_sign(var)
    return names, factors


def _watched_names(model, population, builtin, equivalent) -> dict:
    """Spec state name -> (NEST status name, factor to spec units) for every readable state variable."""
    from ..units import parse_unit

    if builtin and equivalent is not None and equivalent.builtin == builtin:
        names = {}
        for ours, (theirs, unit) in equivalent.state.items():
            if theirs is not None and ours in model.state:
                factor = parse_unit(unit).factor_to(model.state[ours].unit) * equivalent.state_sign(ours)
                names[ours] = (theirs, factor)
    elif builtin:
        names = {"V_m": ("V_m", 1.0)} if "V_m" in model.state else {}
    else:
        names = {name: (name, 1.0) for name in model.state}
    keys = set(population[0].get().keys())
    return {ours: pair for ours, pair in names.items() if pair[0] in keys}


def _final_state_events(model, population, builtin, equivalent, bounds) -> dict:
    """{neuron: Event} for the neurons whose final state is non-finite or beyond a runaway bound."""
    watched = _watched_names(model, population, builtin, equivalent)
    if not watched:
        return {}
    status = population.get([theirs for theirs, _ in watched.values()])
    if not isinstance(status, dict):
        return {}
    columns = {ours: np.atleast_1d(np.asarray(status[theirs], dtype=float)) * factor
               for ours, (theirs, factor) in watched.items()}
    found = {}
    with np.errstate(invalid="ignore"):
        bad = np.zeros(len(population), dtype=bool)
        for ours, column in columns.items():
            bad |= ~np.isfinite(column) | (np.abs(column) > bounds.get(ours, np.inf))
    for i in np.flatnonzero(bad):
        violation = first_violation({ours: float(column[i]) for ours, column in columns.items()}, bounds)
        if violation is None:
            continue
        name, value = violation
        bound = bounds.get(name, np.inf)
        found[int(i)] = Event(int(i), None, name, value, model.state[name].unit.name,
                              None if not np.isfinite(bound) else float(bound))
    return found


def _locate(model, stimulus, duration_ms, dt_ms, result, at_end, options):
    """Run again, recording the state of the neurons found diverged only at the end, to find when."""
    neurons = sorted(at_end)[:LOCATE_MAX_NEURONS]
    names = list(model.state) if not options.get("builtin") else [n for n in model.state if n == "V_m"]
    again = dict(options, record=names, record_neurons=neurons)
    try:
        second, _ = _simulate(model, stimulus, duration_ms, dt_ms, **again)
    except Exception:  # keep what the first run found
        return result.diverged
    timed = scan_traces(second.traces, runaway_bounds(model, _run_values(model, options, stimulus.n)), None, neurons)
    events = [timed.get(i, at_end[i]) for i in sorted(at_end)]
    known = [e for e in (result.diverged.events if result.diverged else []) if e.neuron not in at_end]
    return merge(result.backend, known + events)


def _run_values(model, options, n):
    """The run's parameter and initial values in spec units (none for a NEST built-in given
    NEST's own status names, which are not the model's)."""
    try:
        resolved = resolve(model, _overrides_of(options), n=n)
    except ParameterError:
        return {}
    return {**resolved.parameters, **resolved.state}


def _overrides_of(options):
    return {k: v for k, v in options.items()
            if k not in ("record", "record_neurons", "builtin", "parameters", "spike_input")}


def _names(model):
    return set(model.state) | set(model.parameters) | set(model.aliases) | set(model.inputs)
