"""nir runner: the model's NIR graph, written, read back with ``nir.read``, and integrated as NIR documents it.

Path of a run: the model (with its overrides) -> :func:`lifbridge.nir_graph.graph` (one node
per neuron of the population, t_ref dropped, I_e left to the input) -> the bytes of a NIR
file (``nir.write``) -> ``nir.read`` -> the nodes' parameters, integrated here with numpy
from the equations of ``nir/ir/neuron.py`` (NIR 1.0.8). The lifbridge model is not read
again: what runs is what the file holds, so the run judges the export.

**Scheme.** Exact integration per step of dt: over a step the input current is constant
and every node is linear, so each step is the closed form of the node's equations
(CubaLIF: the synaptic current relaxes with exp(-dt/tau_syn) and the membrane by the
two-exponential solution, its tau_syn = tau_mem limit where they are equal; LIF:
exp(-dt/tau); IF and LI -> IF: the integral of the current). The threshold v > v_threshold
is tested at the end of each step; a spike is recorded at that grid point and v is set to
v_reset (NIR 1.0 has no refractory period). Spike times are therefore the grid point
after the crossing, as on every clock-driven backend.

**Inputs**, the way a platform gives them to the graph's input (units of
:data:`lifbridge.nir_graph.UNITS`):

* spikes through a current port (``CubaLIF``, ``LI``): a pulse of area a moves the current
  by w_in a / tau_syn; a NEST weight w (pA, converted to nA) is the area w tau_syn / w_in,
  at the spike's time: the current at t includes it;
* spikes through a delta port (``LIF``, ``IF``): a pulse of charge q = w C (C = tau/R for
  LIF, 1/R for IF), added to v at the spike's time before that grid point's threshold test;
* currents (bias, I_e, I_stim; piecewise constant, sample k of the signal holding on
  [k signal_dt, (k+1) signal_dt)): into ``LIF``/``IF`` as I; into a synaptic filter as
  S = I / w_in (which holds the filter's current at I) plus a pulse of area
  Delta I tau_syn / w_in at every change (which moves it there at once), so the node's
  current is the injected current at every time. This is how a current reaches a node
  whose only input is its synaptic filter exactly.

Outputs: spikes (ms); traces at t = k dt (before step k) of ``V_m`` (mV: v plus the graph's
``v_offset_mV``) and of the synaptic currents ``I_syn_exc``/``I_syn_inh`` (pA; the node has
one current, and the parts each port put into it are followed apart, which is exact
because the filter is linear with one time constant). A membrane potential beyond the
model's runaway bound, or not finite, is a divergence.
"""

from __future__ import annotations

import time

import numpy as np

from ..divergence import Event, merge, runaway_bounds
from ..errors import ParameterError
from ..nir_graph import NIR_VERSION, UNITS, graph, mapping, read_bytes
from ..overrides import resolve
from ..stimulus import SimResult
from ..units import parse_unit

NAME = "nir"


def versions():
    import nir

    return {"nir": getattr(nir, "version", NIR_VERSION), "numpy": np.__version__,
            "semantics": f"NIR {NIR_VERSION} (nir/ir/neuron.py)"}


def exported(model, n: int, values: dict, initial: dict):
    """The graph of ``n`` neurons as ``nir.read`` gives it back from the bytes ``nir.write`` wrote."""
    import io

    import nir

    buffer = io.BytesIO()
    nir.write(buffer, graph(model, n, drop_refractory=True, values=values, initial=initial, include_bias=False))
    return read_bytes(buffer.getvalue())


def simulate(model, stimulus, *, duration_ms, dt_ms=0.1, record=(), record_neurons=None, **overrides) -> SimResult:
    """Run ``stimulus.n`` neurons of ``model``'s NIR graph for ``duration_ms`` at ``dt_ms`` (ms).

    ``overrides``: parameter and initial values (the model's names; units or strings with
    units). A refractory period is dropped (NIR 1.0 has none). Returns spike times (ms)
    and traces in the model's units.
    """
    started = time.perf_counter()
    mapping(model)                      # NIRExportError (one line) for what NIR cannot express
    if model.light_input is not None:
        raise ParameterError(f"{model.name}: the light input has no NIR node")
    n = stimulus.n
    steps = int(round(duration_ms / dt_ms))
    if steps < 1:
        raise ValueError(f"duration_ms = {duration_ms:g} is shorter than one step of {dt_ms:g} ms")
    resolved = resolve(model, overrides, n=n)
    values = resolved.parameter_values()
    read = exported(resolved.model, n, values, resolved.initial_values())
    nodes = read.nodes
    neuron = nodes["neuron"]
    kind = type(neuron).__name__
    offset = np.asarray(read.metadata["v_offset_mV"], dtype=float)
    h = float(dt_ms) * parse_unit("ms").factor_to(parse_unit(UNITS["time"]))
    pA = parse_unit("pA").factor_to(parse_unit(UNITS["current"]))

    # the synaptic filter: CubaLIF's own, or the LI in front of IF
    if kind == "CubaLIF":
        tau_s, gain = neuron.tau_syn, neuron.w_in / neuron.tau_syn    # dI/dt = -I/tau_s + gain S
    elif "synapse" in nodes:
        tau_s, gain = nodes["synapse"].tau, nodes["synapse"].r / nodes["synapse"].tau
    else:
        tau_s, gain = None, None
    filtered = tau_s is not None

    # input current per step (nA), per neuron: bias + I_e + I_stim
    I_e = np.asarray(values.get("I_e", 0.0), float) * (model.unit_of("I_e").factor_to(parse_unit(UNITS["current"]))
                                                       if "I_e" in model.parameters else 0.0)
    base = np.broadcast_to(np.asarray(stimulus.bias_pA, float) * pA + I_e, (n,))
    current_index, current_values = None, None
    if stimulus.current_pA is not None:
        samples = np.asarray(stimulus.current_pA, float) * pA
        current_values = samples if samples.ndim == 2 else samples[:, None]
        current_index = np.minimum(np.floor(np.arange(steps + 1) * dt_ms / stimulus.signal_dt_ms + 1e-9).astype(int),
                                   len(current_values) - 1)

    def current_at(k):
        if current_values is None:
            return base
        return base + current_values[current_index[k]]

    # spike input per step and neuron: exc and inh parts (nA of current, or mV of v for delta ports)
    pulses = {}
    for train in stimulus.spikes:
        if train.port not in model.synapses:
            raise ValueError(f"model {model.name!r} has no spike input {train.port!r}; spike inputs: "
                             f"{', '.join(model.synapses)}")
        sign = "inh" if model.spike_inputs[train.port].sign == "inhibitory" else "exc"
        ticks = np.round(np.asarray(train.times_ms) / dt_ms).astype(np.int64)
        if len(ticks) and ticks.min() < 0:
            raise ValueError(f"input spikes onto {train.port}: times must be >= 0 ms")
        ticks = ticks[ticks <= steps]
        unit = model.spike_inputs[train.port].unit
        weight = train.weight * unit.factor_to(parse_unit(UNITS["current" if filtered else "voltage"]))
        table = pulses.setdefault(sign, np.zeros((steps + 1, n)))
        for i in train.neurons:
            np.add.at(table[:, i], ticks, weight)
    if not filtered:
        # a delta port's weight w (mV) is a pulse of charge q = w C into I; the node moves v by
        # R q / tau (LIF: tau dv/dt = ... + R I) or R q (IF: dv/dt = R I)
        C = neuron.tau / neuron.r if kind == "LIF" else 1.0 / neuron.r
        effect = neuron.r / neuron.tau if kind == "LIF" else neuron.r
        pulses = {s: t * C for s, t in pulses.items()}
    else:
        # a NEST weight w (nA) is a pulse of area w / gain into S; the node moves its current by gain x area
        effect = gain
        pulses = {s: t / gain for s, t in pulses.items()}

    # constants of the exact step
    em = np.exp(-h / neuron.tau_mem) if kind == "CubaLIF" else (np.exp(-h / neuron.tau) if kind == "LIF" else None)
    if filtered:
        es = np.exp(-h / tau_s)
        if kind == "CubaLIF":
            tm = neuron.tau_mem
            equal = np.isclose(tau_s, tm, rtol=1e-9, atol=0.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                kappa = np.where(equal, (h / tm) * em, tau_s / np.where(equal, 1.0, tau_s - tm) * (es - em))
        else:
            integral = tau_s * (1.0 - es)      # integral over the step of exp(-t/tau_s)
    R = neuron.r
    v_leak = getattr(neuron, "v_leak", np.zeros(n))
    v_th, v_reset = neuron.v_threshold, neuron.v_reset

    # state: v (mV relative), and the filter's current in three parts (exc, inh, injected current)
    v = np.asarray(resolved.initial_values()["V_m"], float) * model.unit_of("V_m").factor_to(parse_unit("mV")) \
        - offset
    v = np.broadcast_to(v, (n,)).astype(float).copy()
    parts = np.zeros((3, n))
    rows = np.arange(n) if record_neurons is None else np.asarray(list(record_neurons), dtype=int)
    getters = _recorders(model, filtered, pA, offset)
    for name in record:
        if name not in getters:
            raise ValueError(f"record {name!r}: the NIR graph of {model.name} records {', '.join(getters)}")
    traces = {name: np.empty((steps, len(rows))) for name in record}
    bounds = runaway_bounds(model, {**resolved.parameters, **resolved.state})
    bound = bounds.get("V_m", np.inf)
    spikes = [[] for _ in range(n)]
    events, seen = [], np.zeros(n, dtype=bool)
    previous_current = np.zeros(n)
    if not filtered:
        for sign, table in pulses.items():
            v += effect * table[0]
    for k in range(steps):
        I_c = current_at(k)
        if filtered:
            # at t_k: the spikes due now, and the injected current's change (a pulse that moves I there)
            for j, sign in enumerate(("exc", "inh")):
                if sign in pulses:
                    parts[j] += effect * pulses[sign][k]
            parts[2] += effect * ((I_c - previous_current) / gain)
            previous_current = I_c
        for name in record:
            traces[name][k] = getters[name](v, parts)[rows]
        if filtered:
            I0 = parts.sum(axis=0)
            S = I_c / (gain * tau_s)                        # S = I_c / w_in ...
            I_inf = gain * tau_s * S                        # ... holds the current at w_in S = I_c
            if kind == "CubaLIF":
                v_inf = v_leak + R * I_inf
                v = v_inf + (v - v_inf) * em + R * (I0 - I_inf) * kappa
            else:
                v = v + R * (I_inf * h + (I0 - I_inf) * integral)
            parts[:2] *= es
            parts[2] = I_inf + (parts[2] - I_inf) * es
        elif kind == "LIF":
            v_inf = v_leak + R * I_c
            v = v_inf + (v - v_inf) * em
        else:
            v = v + R * I_c * h
        if not filtered:
            for sign, table in pulses.items():
                v += effect * table[k + 1]
        fired = v > v_th
        if fired.any():
            for i in np.flatnonzero(fired):
                spikes[i].append((k + 1) * dt_ms)
            v = np.where(fired, v_reset, v)
        with np.errstate(invalid="ignore"):
            bad = (~np.isfinite(v) | (np.abs(v + offset) > bound)) & ~seen
        if bad.any():
            for i in np.flatnonzero(bad):
                events.append(Event(int(i), (k + 1) * dt_ms, "V_m", float(v[i] + offset[i]), "mV",
                                    float(bound) if np.isfinite(bound) else None))
            seen |= bad
    t = np.arange(steps) * dt_ms
    result = SimResult(model.name, NAME, dt_ms, duration_ms, [np.asarray(s, dtype=float) for s in spikes],
                       {name: (t, traces[name].T.copy(), model.unit_of(name).name) for name in record},
                       dict(versions(), node=kind + (" (LI -> IF)" if "synapse" in nodes else ""),
                            differs=str(read.metadata.get("differs", ""))),
                       time.perf_counter() - started)
    result.diverged = merge(result.backend, events)
    return result


def _recorders(model, filtered, pA, offset) -> dict:
    """State name -> function(v, parts) -> values in the model's unit, per neuron (v relative, mV; the
    offset adds the graph's v_offset_mV back)."""
    to_model = parse_unit("mV").factor_to(model.unit_of("V_m"))
    getters = {"V_m": lambda v, parts: (v + offset) * to_model}
    if filtered:
        for port, syn in model.synapses.items():
            if "I_syn" not in syn.names:
                continue
            name = syn.names["I_syn"]
            factor = 1.0 / pA * parse_unit("pA").factor_to(model.unit_of(name))
            j = 1 if model.spike_inputs[port].sign == "inhibitory" else 0
            sign = -1.0 if j == 1 else 1.0           # I_syn_inh holds the magnitude (NEST's weight is negative)
            getters[name] = (lambda j, f: lambda v, parts: parts[j] * f)(j, sign * factor)
    return getters
