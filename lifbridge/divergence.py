"""When a simulation has diverged, and how that is reported.

A run has **diverged** when a state variable of some neuron is

* **non-finite** (nan or +-inf), for any state variable, or
* **runaway**: beyond the model's runaway bound. Only membrane potentials have one:
  the state variables with the dimension of a voltage that the spike condition
  reads (directly or through an ``[expressions]`` entry; every voltage state if the
  model has no spike condition). The bound is

      RUNAWAY_FACTOR (10) x the largest |value| among the model's voltage parameters
      (as simulated, overrides included) and the variable's initial value,

  e.g. 770 mV for ``hh`` (E_K = -77 mV), 700 mV for ``lif`` (E_L = -70 mV), 650 mV for
  ``izhikevich`` (c = -65 mV). No membrane reaches ten times the voltages its own
  model names; a value beyond that is a numerical blow-up (an explicit scheme at too
  large a step), not a result. A model without voltage parameters gets no runaway
  bound (only the non-finite check). The hint ``runaway_bounds`` (state name ->
  bound as a number in the state's unit or a string with a unit) replaces the rule
  for the variables it names.

The check sees the state after each step's spike reset (a reset model that overshoots
its threshold within one step is not flagged: the reset takes it back). Every backend
applies the same rule: the Brian2 runner on every step, the NEST runner on the final
state and the recorded traces (and then re-runs the diverged neurons with a recorder
to find the time), the reference integrator after every accepted step.

A diverged run is reported as "diverged at t = ... ms (variable = value)", never as
spikes or rates: :class:`Divergence` is attached to the
:class:`lifbridge.stimulus.SimResult` (``result.diverged``), whose rates then refuse to
be computed for the diverged neurons, and the command line exits with status 3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import expr as ex
from .units import VOLT

RUNAWAY_FACTOR = 10.0

#: What to try when a run diverges (the command line names its own options).
FIX = "a smaller time step or a smaller input, or check the parameters (a zero time constant?)"


def watched_variables(model) -> list:
    """The state variables that get a runaway bound (see the module docstring)."""
    voltages = [name for name, var in model.state.items() if var.unit.dim == VOLT]
    if model.spike is None:
        return voltages
    read, todo = set(), list(ex.symbols(model.spike.condition))
    while todo:
        name = todo.pop()
        if name in read:
            continue
        read.add(name)
        if name in model.aliases:
            todo.extend(ex.symbols(model.aliases[name].expr))
    return [name for name in voltages if name in read]


def membrane_potential(model):
    """The model's membrane potential: ``[hints].spike_variable`` if declared, else the
    voltage state that the spike condition reads (the first, in state order), else the
    first voltage state; None if the model has no voltage state."""
    declared = model.hints.get("spike_variable")
    if declared in model.state:
        return declared
    watched = watched_variables(model)
    if watched:
        return watched[0]
    return next((name for name, var in model.state.items() if var.unit.dim == VOLT), None)


def _largest_si(value, unit) -> float:
    """The largest finite |value| (a number or per-neuron array in ``unit``) in SI units, or 0."""
    magnitudes = np.abs(np.asarray(value, dtype=float)).ravel() * unit.scale
    magnitudes = magnitudes[np.isfinite(magnitudes)]
    return float(magnitudes.max()) if magnitudes.size else 0.0


def _voltage_scale_si(model, values=None) -> float:
    """The largest |value| (V) among the voltage parameters, the values of the run included."""
    largest = [abs(p.value * p.unit.scale) for p in model.parameters.values() if p.unit.dim == VOLT]
    for key, value in (values or {}).items():
        param = model.parameters.get(key)
        if param is not None and param.unit.dim == VOLT:
            largest.append(_largest_si(value, param.unit))
    return max(largest, default=0.0)


def runaway_bounds(model, values=None) -> dict:
    """State name -> runaway bound in the state's unit (inf: only the non-finite check).

    ``values``: parameter or initial values the run uses instead of the model's, as
    :func:`lifbridge.overrides.resolve` gives them (spec names and units; numbers, or
    arrays with one value per neuron).
    """
    from .model import to_unit

    values = dict(values or {})
    scale = _voltage_scale_si(model, values)
    try:
        initial = model.initial_values_si()
    except Exception:
        initial = {}
    bounds = {name: math.inf for name in model.state}
    for name in watched_variables(model):
        unit = model.state[name].unit
        start = abs(initial.get(name, 0.0))
        if name in values and np.ndim(values[name]) == 0:  # a per-neuron initial value keeps the spec's
            start = abs(float(values[name]) * unit.scale)
        largest = max(scale, start if math.isfinite(start) else 0.0)
        if largest > 0:
            bounds[name] = RUNAWAY_FACTOR * largest / unit.scale
    for name, value in dict(model.hints.get("runaway_bounds", {}) or {}).items():
        if name in bounds:
            bounds[name] = abs(to_unit(value, model.state[name].unit, f"[hints].runaway_bounds.{name}"))
    return bounds


def first_violation(values: dict, bounds: dict):
    """The first (name, value) of ``values`` (name -> number) that is non-finite or beyond its bound, or None."""
    for name, value in values.items():
        if not math.isfinite(value):
            return name, value
    for name, value in values.items():
        if abs(value) > bounds.get(name, math.inf):
            return name, value
    return None


@dataclass
class Event:
    """One diverged neuron: when it was found and which value gave it away."""

    neuron: int
    t_ms: float | None      # None: found only at the end of the run (time unknown)
    variable: str           # a state name, or "dX/dt" for a non-finite derivative
    value: float | None     # in ``unit``; nan / inf as they are
    unit: str = ""
    bound: float | None = None  # the runaway bound of ``variable`` (None: non-finite)
    note: str = ""

    @property
    def kind(self) -> str:
        return "runaway" if self.value is not None and math.isfinite(self.value) else "non-finite"

    def value_text(self) -> str:
        if self.value is None:
            return "?"
        if not math.isfinite(self.value):
            return str(self.value)  # nan, inf, -inf
        return f"{self.value:.6g} {self.unit}".strip()


@dataclass
class Divergence:
    """Every diverged neuron of one run, with the earliest event first."""

    backend: str
    events: list = field(default_factory=list)  # Event, one per diverged neuron, earliest first

    def __post_init__(self):
        self.events.sort(key=lambda e: (math.inf if e.t_ms is None else e.t_ms, e.neuron))

    @property
    def neurons(self) -> list:
        return sorted(e.neuron for e in self.events)

    @property
    def first(self) -> Event:
        return self.events[0]

    def describe(self) -> str:
        """``diverged at t = 12.3 ms (V_m = nan)``, for the earliest event."""
        e = self.first
        when = "before the end of the run" if e.t_ms is None else f"at t = {e.t_ms:.6g} ms"
        beyond = f", beyond the runaway bound +-{e.bound:.4g} {e.unit}" if e.kind == "runaway" and e.bound else ""
        if not e.variable:
            return f"diverged {when} ({e.note})"
        note = f"; {e.note}" if e.note else ""
        return f"diverged {when} ({e.variable} = {e.value_text()}{beyond}{note})"

    def as_record(self) -> dict:
        """Strict-JSON form: numbers or null, the non-finite value as text."""
        e = self.first
        return {"t_ms": e.t_ms, "neuron": e.neuron, "variable": e.variable, "kind": e.kind,
                "value": e.value if e.value is not None and math.isfinite(e.value) else None,
                "value_text": e.value_text(), "unit": e.unit, "bound": e.bound, "neurons": self.neurons,
                "times_ms": {str(ev.neuron): ev.t_ms for ev in self.events}, "message": self.describe()}


def merge(backend, events):
    """A :class:`Divergence` of ``events``, or None if there are none."""
    events = [e for e in events if e is not None]
    return Divergence(backend, events) if events else None


def scan_traces(traces, bounds, neurons, record_neurons=None):
    """Events from recorded traces ``{name: (t_ms, values[rows, times], unit)}``.

    ``record_neurons``: the neuron index of each row (default: row = neuron).
    Returns {neuron: Event} for the first violation of each recorded neuron.
    """
    found = {}
    for name, (t, values, unit) in traces.items():
        values = np.asarray(values, dtype=float)
        if values.ndim != 2 or values.size == 0:
            continue
        bound = bounds.get(name, math.inf)
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(values) | (np.abs(values) > bound)
        for row in np.flatnonzero(bad.any(axis=1)):
            k = int(np.argmax(bad[row]))
            neuron = int(record_neurons[row]) if record_neurons is not None else int(row)
            if neurons is not None and neuron not in neurons:
                continue
            event = Event(neuron, float(t[k]), name, float(values[row, k]), unit,
                          None if not math.isfinite(bound) else float(bound))
            old = found.get(neuron)
            if old is None or (old.t_ms is not None and event.t_ms < old.t_ms):
                found[neuron] = event
    return found


def strict(obj):
    """``obj`` with every non-finite float replaced by None (numpy scalars and arrays as lists):
    :func:`lifbridge.records.plain`, the form the package's one JSON writer writes."""
    from .records import plain

    return plain(obj)
