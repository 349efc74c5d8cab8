"""Brian2 runner: one NeuronGroup per stimulus, in runtime (numpy, cython) or cpp_standalone mode."""

from __future__ import annotations

import contextlib
import hashlib
import time
from pathlib import Path

import numpy as np

from .. import brian2 as lb2
from ..backends import brian2 as _backend
from ..cache import cache_root, workspace
from ..divergence import Event, merge, runaway_bounds
from ..model import Model
from ..overrides import resolve
from ..stimulus import SimResult, Stimulus

#: Code generation targets: the backend's declared ``target`` option (lifbridge.backends.brian2).
TARGETS = _backend.BACKEND.options["target"].choices


def cache_dir() -> Path:
    """Where compiled standalone projects are kept (``LIFBRIDGE_CACHE`` overrides)."""
    return cache_root() / "brian2"


def versions():
    import brian2

    return {"brian2": brian2.__version__, "numpy": np.__version__}


def simulate(model: Model, stimulus: Stimulus, *, duration_ms: float, dt_ms: float = 0.1, record=(),
             record_neurons=None, target: str = "numpy", method: str | None = None, **overrides) -> SimResult:
    """Simulate ``stimulus.n`` neurons of ``model`` for ``duration_ms``.

    ``record``: state variables (or expressions) to record, for ``record_neurons``
    (default: all). ``overrides``: parameter / initial values as for
    :func:`lifbridge.brian2.neuron_group`. Returns spike times in ms and traces in
    the units of the spec.
    """
    import brian2

    _backend.BACKEND.options["target"].check(_backend.NAME, "target", target)
    started = time.perf_counter()
    standalone = target == "cpp_standalone"
    with contextlib.ExitStack() as stack:
        if standalone:
            # Each run builds, runs and reads its results in a private copy of the cached
            # project (see lifbridge.cache.workspace): concurrent runs never share a
            # directory, and compiled objects are reused where the sources are unchanged.
            key = hashlib.sha256(repr((lb2.to_brian2(model).equations, model.name, stimulus.n, method,
                                       tuple(sorted(map(str, record))), brian2.__version__,
                                       tuple(t.port for t in stimulus.spikes))).encode()).hexdigest()[:16]
            directory = stack.enter_context(workspace(cache_dir(), f"standalone_{key}",
                                                      f"Brian2 standalone project standalone_{key} ({model.name})"))
            brian2.set_device("cpp_standalone", directory=str(directory), build_on_run=True,
                              with_output=False)
        else:
            brian2.set_device("runtime")
            brian2.prefs.codegen.target = target
        try:
            result = _run(brian2, model, stimulus, duration_ms, dt_ms, record, record_neurons, method, overrides)
        finally:
            if standalone:
                brian2.device.reinit()
                brian2.device.activate()
                brian2.set_device("runtime")
    result.versions = dict(versions(), target=target)
    result.wall_time_s = time.perf_counter() - started
    return result


def _run(brian2, model, stimulus, duration_ms, dt_ms, record, record_neurons, method, overrides):
    brian2.start_scope()
    brian2.defaultclock.dt = dt_ms * brian2.ms
    signals = {}
    if stimulus.current_pA is not None:
        if model.input_current is None:
            raise ValueError(f"model {model.name!r} has no current input for a time-varying current")
        signals[model.input_current] = np.asarray(stimulus.current_pA, dtype=float) * brian2.pA
    if stimulus.light is not None:
        if model.light_input is None:
            raise ValueError(f"model {model.name!r} has no light input")
        unit = model.inputs[model.light_input].unit
        signals[model.light_input] = lb2.quantity(np.asarray(stimulus.light, dtype=float), unit)
    # every override read and checked once, as on every backend (spec names and units)
    resolved = resolve(model, overrides, n=stimulus.n)
    overrides = {**resolved.parameters, **resolved.state}
    if "I_e" in model.parameters:
        unit = model.parameters["I_e"].unit
        extra = resolved.parameter_values()["I_e"]
        overrides["I_e"] = np.asarray(stimulus.bias_pA, dtype=float) * (1e-12 / unit.scale) + extra
    elif np.any(stimulus.bias_pA):
        raise ValueError(f"model {model.name!r} has no bias current parameter I_e")
    group = lb2.neuron_group(model, stimulus.n, method=method, **overrides)
    # Time-varying inputs are set once per step, at its start, so that every integration
    # method sees the same piecewise-constant input as the other backends (a TimedArray
    # inside the equations would be sampled at the Runge-Kutta stages too).
    namespace = {}
    for k, (name, values) in enumerate(signals.items()):
        array = f"lifbridge_signal_{k}"
        namespace[array] = brian2.TimedArray(values, dt=stimulus.signal_dt_ms * brian2.ms)
        lookup = f"{array}(t)" if values.ndim == 1 else f"{array}(t, i)"
        group.run_regularly(f"{name} = {lookup}", when="start", name=f"lifbridge_input_{k}")
    group.namespace.update(namespace)
    spikes = brian2.SpikeMonitor(group)
    monitors = {}
    if record:
        indices = True if record_neurons is None else list(record_neurons)
        monitors = {var: brian2.StateMonitor(group, var, record=indices) for var in record}
    watch = _divergence_watch(brian2, model, group, overrides)
    inputs = _spike_inputs(brian2, model, group, stimulus, dt_ms)
    net = brian2.Network(group, spikes, *monitors.values(), watch, *inputs)
    with _divergence_reported_here():
        net.run(duration_ms * brian2.ms, namespace={})
    trains = spikes.spike_trains()
    # Brian2 stamps a spike with the start of the step whose update crossed the
    # threshold; lifbridge reports the grid point at which the crossing is found
    # (as NEST does), which is one step later.
    spike_times = [np.asarray(trains[i] / brian2.ms) + dt_ms for i in range(stimulus.n)]
    traces = {}
    for var, monitor in monitors.items():
        unit = model.unit_of(var)
        values = np.asarray(getattr(monitor, var)) / unit.scale
        traces[var] = (np.asarray(monitor.t / brian2.ms), values, unit.name)
    result = SimResult(model.name, "brian2", dt_ms, duration_ms, spike_times, traces)
    result.diverged = _divergence_found(brian2, model, watch, dt_ms)
    return result


def _spike_inputs(brian2, model, group, stimulus, dt_ms) -> list:
    """The spike trains of ``stimulus`` as one ``SpikeGeneratorGroup`` (one index per train)
    and one :func:`lifbridge.brian2.synapses` per port.

    A train's spike at t is emitted in the step that ends at t, and Brian2 applies
    ``on_pre`` after that step's update: the state at t holds the jump, as in the
    reference and in NEST (:func:`lifbridge.runners.nest.connect_spike_input`).
    """
    trains = stimulus.spikes
    if not trains:
        return []
    # a generator index fires at most once per step: the k-th spike of a train within one
    # step goes out through the train's k-th index
    indices, times, owner = [], [], []          # owner: generator index -> train
    for k, train in enumerate(trains):
        grid = np.sort(np.round(train.times_ms / dt_ms).astype(np.int64))
        if len(grid) and grid.min() < 1:
            raise ValueError(f"input spikes onto {train.port}: times must be >= dt = {dt_ms:g} ms")
        first = np.searchsorted(grid, grid)             # index of the first spike in the same step
        layer = np.arange(len(grid)) - first
        for depth in range(int(layer.max()) + 1 if len(grid) else 1):
            chosen = grid[layer == depth]
            indices.append(np.full(len(chosen), len(owner)))
            times.append((chosen - 1) * dt_ms)
            owner.append(k)
    source = brian2.SpikeGeneratorGroup(len(owner), np.concatenate(indices).astype(int),
                                        np.concatenate(times) * brian2.ms, name="lifbridge_spike_input")
    objects = [source]
    for port in dict.fromkeys(t.port for t in trains):
        pre, post, weights = [], [], []
        for index, k in enumerate(owner):
            if trains[k].port == port:
                pre += [index] * len(trains[k].neurons)
                post += list(trains[k].neurons)
                weights += [trains[k].weight] * len(trains[k].neurons)
        objects.append(lb2.synapses(source, group, model, port, weight=np.asarray(weights, dtype=float),
                                    connect=dict(i=np.asarray(pre), j=np.asarray(post)),
                                    name=f"lifbridge_{port}"))
    return objects


def _divergence_watch(brian2, model, group, overrides):
    """A group that checks every neuron's state after each step (see :mod:`lifbridge.divergence`).

    Its variables are linked to the model's state; its "spike" is the first step on
    which a state variable is non-finite or beyond its runaway bound, and its reset
    stores the time and the values then. It runs after the model's reset, so the state
    it sees is the one the next step starts from. The bounds are variables, not
    literals, so compiled code is reused across runs.
    """
    names = list(model.state)
    bounds = runaway_bounds(model, overrides)
    lines, dims = [], {}
    for k, name in enumerate(names):
        dim = group.variables[name].dim
        unit = "1" if dim.is_dimensionless else repr(brian2.get_unit(dim))
        dims[name] = dim
        lines += [f"lifbridge_x{k} : {unit} (linked)", f"lifbridge_bound{k} : {unit} (shared, constant)",
                  f"lifbridge_value{k} : {unit}"]
    lines += ["lifbridge_found : boolean", "lifbridge_t : second"]
    condition = " or ".join(f"not (abs(lifbridge_x{k}) <= lifbridge_bound{k})" for k in range(len(names)))
    reset = "\n".join(["lifbridge_found = True", "lifbridge_t = t"]
                      + [f"lifbridge_value{k} = lifbridge_x{k}" for k in range(len(names))])
    watch = brian2.NeuronGroup(len(group), "\n".join(lines), threshold=f"({condition}) and not lifbridge_found",
                               reset=reset, name="lifbridge_divergence_watch")
    for k, name in enumerate(names):
        setattr(watch, f"lifbridge_x{k}", brian2.linked_var(group, name))
        # no bound: the largest float, so that +-inf fails the test as nan does
        bound_si = bounds[name] * model.state[name].unit.scale if np.isfinite(bounds[name]) else np.finfo(float).max
        setattr(watch, f"lifbridge_bound{k}", brian2.Quantity(bound_si, dim=dims[name]))
    watch.thresholder["spike"].when = "after_resets"
    watch.resetter["spike"].when = "after_resets"
    watch.resetter["spike"].order = 1
    for attribute, value in (("lifbridge_names", names), ("lifbridge_bounds", bounds)):
        watch.add_attribute(attribute)
        setattr(watch, attribute, value)
    return watch


def _divergence_found(brian2, model, watch, dt_ms):
    """The :class:`lifbridge.divergence.Divergence` the watch group found, or None."""
    found = np.flatnonzero(np.asarray(watch.lifbridge_found[:], dtype=bool))
    if not len(found):
        return None
    times = np.asarray(watch.lifbridge_t[:] / brian2.ms)
    columns = {name: np.asarray(getattr(watch, f"lifbridge_value{k}")[:], dtype=float) / model.state[name].unit.scale
               for k, name in enumerate(watch.lifbridge_names)}
    events = []
    for i in found:
        values = {name: float(column[i]) for name, column in columns.items()}
        bad = next((n for n, v in values.items() if not np.isfinite(v)), None)
        if bad is None:
            bad = next(n for n, v in values.items() if abs(v) > watch.lifbridge_bounds[n])
        bound = watch.lifbridge_bounds[bad]
        # the state seen on the step that starts at t belongs to t + dt (as for spikes)
        events.append(Event(int(i), float(times[i]) + dt_ms, bad, values[bad], model.state[bad].unit.name,
                            None if not np.isfinite(bound) else float(bound)))
    return merge("brian2", events)


@contextlib.contextmanager
def _divergence_reported_here():
    """Without numpy's floating-point warnings and Brian2's "invalid values" warning: the
    watch group reports a divergence, once, with its time and value."""
    import logging

    brian2_logger = logging.getLogger("brian2.groups.group.invalid_values")
    disabled = brian2_logger.disabled
    brian2_logger.disabled = True
    try:
        with np.errstate(all="ignore"):
            yield
    finally:
        brian2_logger.disabled = disabled
