"""spinnaker.emulated runner: sPyNNaker 7.4.1's neuron arithmetic, emulated with numpy.

Inputs, as a PyNN script on SpiNNaker would give them:

* bias currents and ``I_e`` become the cell's ``i_offset`` (nA, one s16.15 number);
* a time-varying current is a current source whose amplitude for tick n is the sample
  holding on [n dt, (n+1) dt) (sample k of ``stimulus.current_pA`` holds on
  [k signal_dt, (k+1) signal_dt)); sPyNNaker adds it to the input of every update
  (``current_source_get_offset``);
* spike trains go through the ring buffers. A spike due at t onto an exponential or
  conductance synapse is put into the slot of tick t/dt, which adds it before that
  tick's update: the synaptic state at t holds it, as in NEST's iaf_psc_exp (on the
  chip this is a SpikeSourceArray spike at t - delay; note that sPyNNaker uses a
  slot's input in the same tick, one step earlier than NEST, so a network's delay of
  d steps acts after d steps where NEST's acts after d + 1). A spike onto a delta
  synapse is put into the slot of tick t/dt - 1, whose update ends at t: the jump is
  in V(t), as in NEST's iaf_psc_delta. Weights are quantised as the chip's ring
  buffers hold them (:func:`lifbridge.spinnaker.emulate.quantise_weight`), with the
  ring-buffer shift chosen from the largest summed weight per slot that the stimulus
  delivers (what ``max_expected_summed_weight`` sets; sPyNNaker's own estimate may
  choose a larger shift and coarser weights).

Outputs: spikes at (n + 1) dt for a crossing found in tick n (sPyNNaker labels it
n dt); traces at t = n dt of V before tick n's update (as sPyNNaker records it) and of
the synaptic input read in tick n, in the model's names and units.

Divergence: a 32-bit wrap-around of the fixed-point arithmetic is reported as a
divergence with its time, the operation and the value it should have had (it is never
data), as is a membrane potential beyond the model's runaway bound.
"""

from __future__ import annotations

import time

import numpy as np

from ..divergence import Event, merge, runaway_bounds
from ..errors import ParameterError
from ..overrides import resolve
from ..spinnaker import emulate as em
from ..spinnaker import fixed as fx
from ..spinnaker.mapping import receptor, translate, weight_factor
from ..stimulus import SimResult
from ..units import parse_unit

ARITHMETICS = ("fixed", "float")
EMULATED_VERSION = "sPyNNaker 7.4.1"


def versions():
    return {"numpy": np.__version__, "emulates": EMULATED_VERSION}


def simulate(model, stimulus, *, duration_ms, dt_ms=0.1, record=(), record_neurons=None, arithmetic="fixed",
             **overrides) -> SimResult:
    """Run ``stimulus.n`` neurons of ``model`` as sPyNNaker would, for ``duration_ms`` at ``dt_ms``.

    ``arithmetic``: "fixed" (the chip's s16.15) or "float" (the same scheme in double
    precision). ``overrides``: parameter and initial values (the model's names, units or
    strings with units). Returns spike times (ms) and traces in the model's units.
    """
    if arithmetic not in ARITHMETICS:
        raise ValueError(f"arithmetic {arithmetic!r}: choose one of {', '.join(ARITHMETICS)}")
    started = time.perf_counter()
    n = stimulus.n
    resolved = resolve(model, overrides, n=n)
    values = resolved.parameter_values()
    spinn = translate(resolved.model, values, resolved.initial_values())
    spinn.parameters["i_offset"] = np.asarray(spinn.parameters["i_offset"], float) \
        + np.asarray(stimulus.bias_pA, float) * spinn.current_factor
    params = spinn.parameters
    steps = int(round(duration_ms / dt_ms))
    if steps < 1:
        raise ValueError(f"duration_ms = {duration_ms:g} is shorter than one step of {dt_ms:g} ms")
    A, ts, neuron, receptors = em.initialise(model, spinn, dt_ms, arithmetic=arithmetic, n=n)
    inputs, shifts = _spike_inputs(model, stimulus, A, spinn, receptors, steps, dt_ms)
    current, samples = _current_source(stimulus, A, spinn, steps, dt_ms)
    getters = _recorders(model, neuron, receptors, A, spinn)
    for name in record:
        if name not in getters:
            raise ValueError(f"record {name!r}: spinnaker.emulated records {', '.join(getters)} of {model.name}")
    rows = np.arange(n) if record_neurons is None else np.asarray(list(record_neurons), dtype=int)
    traces = {name: np.empty((steps, len(rows))) for name in record}
    bounds = runaway_bounds(model, {**resolved.parameters, **resolved.state})
    membrane = "V_m"
    events, seen = [], np.zeros(n, dtype=bool)
    spikes = [[] for _ in range(n)]
    zero = A.zeros()
    for k in range(steps):
        # 1. this tick's ring-buffer slot into the synaptic state
        for sign, (syn, kind) in receptors.items():
            slot = inputs.get(sign, {}).get(k)
            if slot is not None:
                syn.add(slot)
        # 2-3. synaptic input read (and recorded) with V from before the update
        read = {sign: syn.value() for sign, (syn, _) in receptors.items()}
        if kind_of(receptors) == "conductance":
            read = {sign: A.shift_down(x, em.CONDUCTANCE_SHIFT) for sign, x in read.items()}
        for name in record:
            traces[name][k] = getters[name](read)[rows]
        # 4. the synaptic current (nA)
        synaptic = _synaptic_current(A, read, receptors, params, neuron.voltage(), zero)
        # 5-7. current source, state update, threshold
        offset = current[min(int(np.floor(k * dt_ms / stimulus.signal_dt_ms + 1e-9)), samples - 1)] \
            if current is not None else zero
        spiked = neuron.update(offset, synaptic)
        for i in np.flatnonzero(spiked):
            spikes[i].append((k + 1) * dt_ms)
        # 8. synaptic decay
        for syn, _ in receptors.values():
            syn.shape()
        events += _new_events(A, neuron, bounds, membrane, seen, (k + 1) * dt_ms)
    t = np.arange(steps) * dt_ms
    result_traces = {name: (t, traces[name].T.copy(), _unit_of(model, name)) for name in record}
    result = SimResult(model.name, "spinnaker.emulated", dt_ms, duration_ms,
                       [np.asarray(s, dtype=float) for s in spikes], result_traces,
                       dict(versions(), arithmetic=arithmetic, cell_type=spinn.cell_type.cell_type,
                            ring_buffer_shifts=shifts), time.perf_counter() - started)
    result.diverged = merge(result.backend, events)
    return result


def kind_of(receptors) -> str:
    kinds = {kind for _, kind in receptors.values()}
    return kinds.pop() if len(kinds) == 1 else "current"


def _unit_of(model, name):
    return model.unit_of(name).name


def _synaptic_current(A, read, receptors, params, V, zero):
    """exc - inh (nA): currents as read; conductances as g_e (E_e - V) and -g_i (E_i - V)
    (input_type_conductance.h: the negation before the multiply), V from before the update."""
    if not receptors:
        return zero
    if kind_of(receptors) == "conductance":
        e_rev = {s: A.enc(params[f"e_rev_{s}"], f"e_rev_{s}", "mV") for s in read}
        exc = A.mul(read["E"], A.sub(e_rev["E"], V), "g_e (E_e - V)") if "E" in read else zero
        inh = A.mul(-read["I"], A.sub(e_rev["I"], V), "-g_i (E_i - V)") if "I" in read else zero
    else:
        exc, inh = read.get("E", zero), read.get("I", zero)
    return A.sub(exc, inh, "exc - inh")


def _spike_inputs(model, stimulus, A, spinn, receptors, steps, dt_ms):
    """({sign: {tick: input per neuron}}, {sign: ring-buffer shift}) for the stimulus's spike trains."""
    if not stimulus.spikes:
        return {}, {}
    n = stimulus.n
    dense = {}       # sign -> (steps, n) summed |w| in sPyNNaker's units
    spikes = []      # (sign, tick, neuron, |w|)
    for train in stimulus.spikes:
        if train.port not in model.synapses:
            raise ValueError(f"model {model.name!r} has no spike input {train.port!r}; spike inputs: "
                             f"{', '.join(model.synapses)}")
        sign = receptor(model, train.port)
        delta = model.synapses[train.port].type == "jump"
        factor = np.broadcast_to(np.asarray(weight_factor(model, train.port, dt_ms, spinn), float), (n,))
        ticks = np.round(np.asarray(train.times_ms) / dt_ms).astype(np.int64) - (1 if delta else 0)
        if len(ticks) and ticks.min() < 0:
            raise ValueError(f"input spikes onto {train.port}: times must be >= {dt_ms if delta else 0:g} ms")
        ticks = ticks[ticks < steps]
        table = dense.setdefault(sign, np.zeros((steps, n)))
        for neuron in train.neurons:
            w = abs(train.weight) * factor[neuron]
            np.add.at(table[:, neuron], ticks, w)
            spikes.append((sign, ticks, neuron, w, train.port, train.weight))
    scale = {s: (em.CONDUCTANCE_SCALE if kind == "conductance" else 1.0) for s, (_, kind) in receptors.items()}
    shifts = {s: em.ring_buffer_shift(float(table.max()) * scale[s]) for s, table in dense.items()}
    out = {}
    if A.name == "float":
        for s, table in dense.items():
            for k in np.flatnonzero(table.any(axis=1)):
                out.setdefault(s, {})[int(k)] = table[k] * scale[s]
        return out, shifts
    acc = {s: np.zeros((steps, n), dtype=np.int64) for s in dense}
    for sign, ticks, neuron, w, port, weight in spikes:
        w_int, _ = em.quantise_weight(w, shifts[sign], scale[sign])
        if w > 0 and w_int == 0:
            unit = model.spike_inputs[port].unit.name
            raise ParameterError(f"weight {weight:g} {unit} onto {port} rounds to 0 on SpiNNaker (ring-buffer shift "
                                 f"{shifts[sign]}: resolution {em.weight_resolution(shifts[sign], scale[sign]):.3g} in "
                                 f"sPyNNaker's units); use a larger weight or fewer, larger summed inputs")
        np.add.at(acc[sign][:, neuron], ticks, int(w_int))
    for s, table in acc.items():
        # the ring buffer saturates at 0xFFFF (synapses.c); the shift chosen above cannot reach it
        table = np.minimum(table, 0xFFFF) << shifts[s]
        for k in np.flatnonzero(table.any(axis=1)):
            out.setdefault(s, {})[int(k)] = table[k]
    return out, shifts


def _current_source(stimulus, A, spinn, steps, dt_ms):
    """(amplitude per sample and neuron in A's representation, number of samples), or (None, 0)."""
    if stimulus.current_pA is None:
        return None, 0
    values = np.asarray(stimulus.current_pA, dtype=float)
    if values.ndim == 1:
        values = np.repeat(values[:, None], stimulus.n, axis=1)
    values = values * spinn.current_factor
    if A.name == "fixed":
        values = fx.encode(values, "current source amplitude", "nA")
    return values, len(values)


def _recorders(model, neuron, receptors, A, spinn) -> dict:
    """State name -> function(read inputs) -> values in the model's unit, per neuron."""
    getters = {}
    for name in neuron.state():
        getters[name] = (lambda name: lambda read: neuron.state()[name])(name)
    for port, syn in model.synapses.items():
        sign = receptor(model, port)
        if sign not in read_signs(receptors):
            continue
        if "I_syn" in syn.names:
            to_model = 1.0 / spinn.current_factor * parse_unit("pA").factor_to(model.state[syn.names["I_syn"]].unit)
            getters[syn.names["I_syn"]] = (lambda s, f: lambda read: A.val(read[s]) * f)(sign, to_model)
        if "g" in syn.names:
            to_model = parse_unit("uS").factor_to(model.state[syn.names["g"]].unit)
            getters[syn.names["g"]] = (lambda s, f: lambda read: A.val(read[s]) * f)(sign, to_model)
    return getters


def read_signs(receptors):
    return set(receptors)


def _new_events(A, neuron, bounds, membrane, seen, t_ms) -> list:
    """Divergence events of this step: a 32-bit wrap-around, or V beyond its runaway bound."""
    events = []
    tracker = A.tracker
    if tracker is not None and (tracker.mask & ~seen).any():
        for i in np.flatnonzero(tracker.mask & ~seen):
            what, exact = tracker.what[int(i)]
            events.append(Event(int(i), t_ms, what, exact, "", None,
                                note=f"s16.15 wrap-around: beyond {fx.RANGE_TEXT} on SpiNNaker"))
            seen[i] = True
    V = A.val(neuron.voltage())
    bound = bounds.get(membrane, np.inf)
    with np.errstate(invalid="ignore"):
        bad = (~np.isfinite(V) | (np.abs(V) > bound)) & ~seen
    for i in np.flatnonzero(bad):
        events.append(Event(int(i), t_ms, membrane, float(V[i]), "mV", float(bound) if np.isfinite(bound) else None))
        seen[i] = True
    return events
