"""Reference integrator: the model object integrated directly, with tight tolerances.

This is the independent judge of the validation harness. It uses no simulator: the
expressions of a :class:`lifbridge.model.Model` are compiled from their expression
trees (with the printer of :func:`lifbridge.expr.compile_expression`) and integrated
with scipy's DOP853 (8th order Runge-Kutta with 7th order dense output) by default,
one neuron at a time.

Numerics
--------
* The state is integrated in the units of the spec (mV, pA, nS ...) with time in ms,
  so every component is of order one and ``rtol`` means what it says. Expressions are
  evaluated on SI values; ``d(state)/dt`` is converted back to spec units per ms.
* ``atol`` (default) for a state variable is ``1e-2 * rtol`` times its typical
  magnitude: the largest of |initial value| and |parameters of the same dimension|
  (in the state's unit), or 1 if all are zero.
* The spike condition becomes an event function ``g`` that crosses zero upwards when
  the condition becomes true: ``left - right`` for ``>``/``>=``, ``right - left`` for
  ``<``/``<=``, ``min`` over the operands of ``and``, ``max`` over those of ``or``,
  ``-g`` for ``not`` (``==``/``!=`` are rejected). ``g`` is checked after every
  accepted step and a sign change is located on the step's dense output with
  :func:`scipy.optimize.brentq` to machine precision, so spike times are exact event
  times (up to the integration error), not grid points.
* At a spike the reset statements are applied in order at the event time, and the
  run restarts there. During the refractory period (an expression of parameters) the
  variables in ``refractory.clamp`` have zero derivative (they keep their value
  exactly), the others evolve, and no spike is detected; integration restarts at
  exactly ``t_spike + t_ref``.
* Piecewise-constant inputs (arrays sampled every ``signal_dt_ms``) are integrated
  segment by segment, breaking at every sample boundary where the value changes, so
  no step crosses a jump. A sample array holds its last value after its end.
  Callable inputs are evaluated at each right-hand-side call; give the times of
  their jumps as ``breakpoints_ms``.
* A right-hand side with a kink where the spike is detected (AdEx's
  ``exp((min(V_m, V_peak) - V_th)/Delta_T)``: the derivative of the right-hand side
  jumps from ~1e10/ms to ~0 at V_peak) can make every step that crosses it fail the
  error test down to the spacing of floating-point numbers. Then the integrator
  continues from the last accepted point with ``rtol`` and ``atol`` relaxed 100-fold
  (at most three times in a row) for a few steps and returns to the requested
  tolerances afterwards. Such steps are a few 1e-11 ms long, so the effect on spike
  times is of that order; their number is reported as ``versions["relaxed_steps"]``.

Spike semantics
---------------
A spike is emitted when the condition *becomes* true while the neuron is not
refractory. If the condition is already true at t = 0 or when a refractory period
ends, a model with reset statements spikes at once (clock-driven simulators do the
same); a model without reset (spike *detection*, e.g. Hodgkin-Huxley with an
unclamped refractory period) waits until the condition has become false and true
again. For such detection-only models the spikes do not change the dynamics, so the
run is integrated without interruption and upward crossings closer than ``t_ref``
to the previous accepted spike are discarded.

A model with reset statements and no refractory period whose reset leaves the
condition true would spike forever at one instant; this raises an error.

Divergence
----------
After every accepted step the state is checked with the rule of
:mod:`lifbridge.divergence` (non-finite, or a membrane potential beyond the model's
runaway bound); so are the state at a spike and after a reset, and a step the solver
cannot take (then a non-finite derivative is named if there is one). A diverged neuron
stops there: the result's ``diverged`` names it, the time and the value, and its spikes
are dropped (they are not data).
"""

from __future__ import annotations

import math
import operator
import sys
import time
from types import SimpleNamespace

import numpy as np
import scipy
from scipy import integrate
from scipy.optimize import brentq

from . import expr as ex
from .divergence import Event, merge, runaway_bounds
from .errors import Diverged, LifbridgeError, ParameterError
from .model import Model
from .stimulus import SimResult, steady_rate

DEFAULT_RTOL = 1e-10
DEFAULT_RECORD_DT_MS = 0.1
_PA = 1e-12
_EPS = np.finfo(float).eps
_RELAX_FACTOR = 100.0
_MAX_RELAXATIONS = 3
_RELAXED_STEPS = 5
_SOLVERS = {"DOP853": integrate.DOP853, "RK45": integrate.RK45, "RK23": integrate.RK23,
            "Radau": integrate.Radau, "BDF": integrate.BDF, "LSODA": integrate.LSODA}

__all__ = ["reference_simulate", "reference_fi", "time_to_first_spike", "simulate", "DEFAULT_RTOL"]


# ---------------------------------------------------------------------------- compiled model
def _event_function(cond):
    """A function ns -> float that crosses zero upwards when ``cond`` becomes true."""
    if isinstance(cond, ex.Compare):
        left, right = ex.compile_expression(cond.left), ex.compile_expression(cond.right)
        if cond.op in (">", ">="):
            return lambda ns: float(left(ns) - right(ns))
        if cond.op in ("<", "<="):
            return lambda ns: float(right(ns) - left(ns))
        raise LifbridgeError(f"the spike condition '{ex.to_text(cond)}' uses {cond.op}; the reference "
                             f"integrator needs a threshold crossing (<, <=, >, >=)")
    if isinstance(cond, ex.BoolOp):
        parts = [_event_function(c) for c in cond.operands]
        pick = min if cond.op == "and" else max
        return lambda ns: pick([p(ns) for p in parts])
    if isinstance(cond, ex.Not):
        inner = _event_function(cond.operand)
        return lambda ns: -inner(ns)
    raise LifbridgeError(f"cannot locate the spike condition '{ex.to_text(cond)}': it is not a comparison")


def _local(name):
    return "v_" + name


class _LocalPrinter(ex.PythonPrinter):
    """The printer of compile_expression, with symbols as local variables ``v_<name>``."""

    def symbol(self, name):
        return _local(name)


# Scalar versions of the numpy functions the printer uses: several times faster on
# Python floats. They raise on overflow or a domain error, and the right-hand side
# then falls back to numpy (inf/nan, as compile_expression gives).
_SCALAR_MATH = SimpleNamespace(exp=math.exp, log=math.log, sqrt=math.sqrt, abs=abs, tanh=math.tanh,
                               sinh=math.sinh, cosh=math.cosh, minimum=min, maximum=max,
                               logical_not=operator.not_)


class _Compiled:
    """The model's expressions compiled once, with the bookkeeping for spec units."""

    def __init__(self, model: Model):
        self.model = model
        self.states = list(model.state)
        self.index = {name: i for i, name in enumerate(self.states)}
        self.scales = np.array([model.state[s].unit.scale for s in self.states])
        # d(spec value)/d(ms) = d(SI value)/d(s) * 1e-3 / scale
        self.dfactor = 1e-3 / self.scales
        self.alias_order = model.aliases_in_order()
        self.aliases = [(name, ex.compile_expression(model.aliases[name].expr)) for name in self.alias_order]
        self.inputs = list(model.continuous_inputs)
        spike = model.spike
        self.has_spike = spike is not None
        self.reset = []
        if spike is not None:
            self.condition = ex.compile_expression(spike.condition)
            self.event = _event_function(spike.condition)
            needed = self._alias_closure(ex.symbols(spike.condition))
            self.event_aliases = [(n, f) for n, f in self.aliases if n in needed]
            self.reset = [(self.index[a.target], ex.compile_expression(a.as_expression())) for a in spike.reset]
        refractory = model.refractory
        self.period = ex.compile_expression(refractory.period) if refractory is not None else None
        self.clamp = [self.index[c] for c in refractory.clamp] if refractory is not None else []
        # spike inputs: (state index, new value, clamped) per statement of each port
        self.on_spike = {name: [(self.index[a.target], ex.compile_expression(a.as_expression()),
                                 self.index[a.target] in self.clamp) for a in port.on_spike]
                         for name, port in model.spike_inputs.items()}
        self.port_scale = {name: port.unit.scale for name, port in model.spike_inputs.items()}
        self._code = {}

    def _alias_closure(self, names):
        needed, todo = set(), [n for n in names if n in self.model.aliases]
        while todo:
            name = todo.pop()
            if name not in needed:
                needed.add(name)
                todo.extend(n for n in ex.symbols(self.model.aliases[name].expr) if n in self.model.aliases)
        return needed

    def load_state(self, ns, t_ms, y):
        """Put time and state (spec units) into ``ns`` as SI values."""
        ns["t"] = t_ms * 1e-3
        for name, scale, value in zip(self.states, self.scales, y):
            ns[name] = value * scale

    def all_aliases(self, ns):
        for name, func in self.aliases:
            ns[name] = func(ns)

    def rhs_maker(self, called_inputs):
        """``make(P, INP, np) -> core(t_ms, y)`` returning the SI derivatives as a list.

        One generated function evaluates every alias and derivative with local
        variables. ``P``: parameters (SI); ``INP``: input values (SI), or for the inputs
        in ``called_inputs`` pairs ``(f(t_ms), scale)``; ``np``: numpy, or the scalar
        math namespace.
        """
        key = tuple(sorted(called_inputs))
        if key not in self._code:
            self._code[key] = self._generate(key)
        return self._code[key]

    def _generate(self, called_inputs):
        printer = _LocalPrinter()
        model = self.model
        lines = ["def make(P, INP, np):"]
        lines += [f"    {_local(name)} = P[{name!r}]" for name in model.parameters]
        lines += [f"    {_local(name)}_f, {_local(name)}_s = INP[{name!r}]" for name in called_inputs]
        lines.append("    def core(t, y):")
        lines.append(f"        {_local('t')} = t * 0.001")
        lines.append(f"        {', '.join(_local(s) + '_y' for s in self.states)}, = y")
        for name, scale in zip(self.states, self.scales):
            lines.append(f"        {_local(name)} = {_local(name)}_y * {float(scale)!r}")
        for name in self.inputs:
            if name in called_inputs:
                lines.append(f"        {_local(name)} = {_local(name)}_f(t) * {_local(name)}_s")
            else:
                lines.append(f"        {_local(name)} = INP[{name!r}]")
        for name in self.alias_order:
            lines.append(f"        {_local(name)} = {printer.doprint(model.aliases[name].expr)}")
        derivatives = ", ".join(printer.doprint(model.equations[s]) for s in self.states)
        lines.append(f"        return [{derivatives}]")
        lines.append("    return core")
        namespace = {"__builtins__": {}}
        exec(compile("\n".join(lines), f"<lifbridge reference {model.name}>", "exec"), namespace)
        return namespace["make"]


# ---------------------------------------------------------------------------- inputs
class _Signal:
    """A continuous input of one neuron: zero, piecewise-constant samples, or a callable.

    Values are SI. ``breaks`` are the times (ms) at which a piecewise signal jumps.
    """

    def __init__(self, samples=None, dt_ms=None, func=None, scale=1.0):
        self.func = func
        self.scale = scale
        self.breaks = np.empty(0)
        self.samples = None
        if samples is not None:
            samples = np.asarray(samples, dtype=float)
            self.samples = samples * scale
            self.starts = np.arange(len(samples)) * dt_ms
            self.breaks = self.starts[np.flatnonzero(samples[1:] != samples[:-1]) + 1]

    @property
    def varies(self):
        return self.func is not None

    def segment_value(self, t_ms):
        """The value on the segment starting at ``t_ms`` (piecewise or zero signals)."""
        if self.samples is None:
            return 0.0
        k = int(np.searchsorted(self.starts, t_ms, side="right")) - 1
        return float(self.samples[min(max(k, 0), len(self.samples) - 1)])

    def at(self, t_ms):
        if self.func is not None:
            return float(self.func(t_ms)) * self.scale
        return self.segment_value(t_ms)

    def values_at(self, times_ms):
        if self.func is not None:
            return np.array([float(self.func(t)) for t in times_ms]) * self.scale
        if self.samples is None:
            return np.zeros(len(times_ms))
        k = np.searchsorted(self.starts, times_ms, side="right") - 1
        return self.samples[np.clip(k, 0, len(self.samples) - 1)]


def _signals(value, dt_ms, scale, n, what):
    """Per-neuron _Signal objects from None, a callable, a 1-D (shared) or 2-D (per neuron) array."""
    if value is None:
        return [_Signal()] * n
    if callable(value):
        return [_Signal(func=value, scale=scale)] * n
    array = np.asarray(value, dtype=float)
    if array.size == 0:
        raise ValueError(f"{what}: no samples")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{what}: the samples must be finite")
    if dt_ms is None or not float(dt_ms) > 0:
        raise ValueError(f"signal_dt_ms must be positive, got {dt_ms!r}")
    if array.ndim == 1:
        return [_Signal(array, float(dt_ms), scale=scale)] * n
    if array.ndim == 2:
        if array.shape[1] != n:
            raise ValueError(f"{what}: {array.shape[1]} columns for {n} neurons")
        return [_Signal(array[:, i], float(dt_ms), scale=scale) for i in range(n)]
    raise ValueError(f"{what}: expected a callable, a 1-D array or a 2-D array (samples x neurons)")


# ---------------------------------------------------------------------------- setup
def _overrides(model, params, initial, lengths):
    """(parameter values, initial values), spec names and units, read by
    :func:`lifbridge.overrides.resolve` (as on every backend); ``lengths`` collects the
    lengths of per-neuron values."""
    from .overrides import resolve

    initial = dict(initial or {})
    for name in initial:
        if name in params:
            raise ParameterError(f"{name} is given twice (as a parameter override and in initial)")
    given = {**params, **initial}
    for value in given.values():
        if not isinstance(value, str) and np.ndim(value) == 1:
            lengths.add(len(value))
    if len(lengths) > 1:
        raise ValueError(f"per-neuron values of different lengths: {sorted(lengths)}")
    resolved = resolve(model, given, n=next(iter(lengths)) if lengths else None)
    return dict(resolved.parameters), dict(resolved.state)


def _neurons(model, bias_pA, params, initial, current):
    """The model with scalar overrides, one validated model per neuron, and initial-state overrides."""
    bias = np.asarray(bias_pA, dtype=float)
    if bias.ndim > 1:
        raise ValueError("bias_pA must be a number or a 1-D array (one neuron per value)")
    if not np.all(np.isfinite(bias)):
        raise ValueError("bias_pA must be finite")
    lengths = set()
    if bias.ndim == 1:
        lengths.add(len(bias))
    if current is not None and not callable(current) and np.ndim(current) == 2:
        lengths.add(np.shape(current)[1])
    param_values, init_values = _overrides(model, params, initial, lengths)
    if len(lengths) > 1:
        raise ValueError(f"per-neuron values of different lengths: {sorted(lengths)}")
    n = lengths.pop() if lengths else 1
    if n == 0:
        raise ValueError("no neurons: an empty array was given")

    scalars = {k: v for k, v in param_values.items() if np.ndim(v) == 0}
    if scalars:
        model = model.with_parameters(scalars)
    arrays = {k: v for k, v in param_values.items() if np.ndim(v) == 1}
    if np.any(bias != 0):
        if "I_e" not in model.parameters:
            raise ValueError(f"model {model.name!r} has no bias current parameter I_e")
        unit = model.parameters["I_e"].unit
        base = arrays.get("I_e", model.parameters["I_e"].value)
        arrays["I_e"] = np.broadcast_to(base + bias * (_PA / unit.scale), (n,)).astype(float)
    per_neuron = [model.with_parameters({k: float(v[i]) for k, v in arrays.items()}) if arrays else model
                  for i in range(n)]
    inits = [{k: float(v if np.ndim(v) == 0 else v[i]) for k, v in init_values.items()} for i in range(n)]
    return model, per_neuron, inits


def _tolerances(model, states, y0, rtol, atol):
    """Absolute tolerances per state variable, in spec units."""
    if atol is None or isinstance(atol, dict):
        given = dict(atol or {})
        unknown = set(given) - set(states)
        if unknown:
            raise ValueError(f"atol given for unknown state variable(s): {', '.join(sorted(unknown))}")
        result = []
        for i, name in enumerate(states):
            if name in given:
                result.append(float(given[name]))
                continue
            unit = model.state[name].unit
            typical = abs(y0[i])
            for p in model.parameters.values():
                if p.unit.dim == unit.dim:
                    typical = max(typical, abs(p.value * p.unit.scale / unit.scale))
            result.append(1e-2 * rtol * (typical if 0 < typical < np.inf else 1.0))
        return np.array(result)
    result = np.broadcast_to(np.asarray(atol, dtype=float), (len(states),)).copy()
    if not np.all(result > 0):
        raise ValueError(f"atol must be positive, got {atol!r}")
    return result


def _solver_class(method):
    if isinstance(method, type) and issubclass(method, integrate.OdeSolver):
        return method
    if method not in _SOLVERS:
        raise ValueError(f"unknown integration method {method!r}; methods: {', '.join(_SOLVERS)}")
    return _SOLVERS[method]


# ---------------------------------------------------------------------------- one neuron
class _Neuron:
    """Integrates one neuron; ``run`` returns its spike times and the state at the record times."""

    def __init__(self, compiled, model, init_overrides, signals, breakpoints, duration_ms, *, rtol, atol,
                 max_step, method, spikes=()):
        c = self.c = compiled
        # input spikes: time (ms) -> [(port, weight magnitude in SI)], delivered at that time exactly
        self.inputs_at = {}
        for t_ms, port, magnitude in spikes:
            self.inputs_at.setdefault(float(t_ms), []).append((port, magnitude))
        breakpoints = np.concatenate([np.asarray(breakpoints, float).ravel(), np.array(sorted(self.inputs_at))])
        self.model = model
        self.params = model.parameter_values_si()
        initial = model.initial_values_si(self.params)
        for k, v in init_overrides.items():
            initial[k] = v * model.state[k].unit.scale
        self.y0 = np.array([initial[s] / model.state[s].unit.scale for s in c.states], dtype=float)
        if not np.all(np.isfinite(self.y0)):
            raise ValueError(f"the initial state of {model.name!r} is not finite: "
                             f"{dict(zip(c.states, self.y0.tolist()))}")
        self.signals = signals  # input name -> _Signal
        self.duration = float(duration_ms)
        allb = np.unique(np.concatenate([s.breaks for s in signals.values()] + [np.asarray(breakpoints, float)]))
        self.breaks = allb[(allb > 0) & (allb < self.duration)]
        self.rtol = rtol
        self.atol = _tolerances(model, c.states, self.y0, rtol, atol)
        bounds = runaway_bounds(model, {k: v for k, v in init_overrides.items()})
        # no bound: the largest float, so that +-inf fails the test as nan does
        self.bounds = [bounds[s] if math.isfinite(bounds[s]) else sys.float_info.max for s in c.states]
        self.max_step = max_step
        self.solver_class = _solver_class(method)
        self.relaxed_steps = 0
        self._h = None  # step size to start the next segment with
        t_ref = float(c.period(dict(self.params))) * 1e3 if c.period is not None else 0.0
        if not (t_ref >= 0 and math.isfinite(t_ref)):
            raise ParameterError(f"the refractory period of {model.name!r} is {t_ref!r} ms; it must be >= 0")
        self.t_ref = t_ref
        self.ns = dict(self.params)
        self.varying = [(name, sig) for name, sig in signals.items() if sig.varies]
        self.inputs = {name: (sig.func, sig.scale) if sig.varies else 0.0 for name, sig in signals.items()}
        for name in signals:
            self.ns[name] = 0.0
        make = c.rhs_maker([name for name, _ in self.varying])
        fast = make(self.params, self.inputs, _SCALAR_MATH)
        safe = make(self.params, self.inputs, np)
        self.factor = c.dfactor.copy()

        def rhs(t, y):
            try:
                d = fast(t, y.tolist())
            except (ArithmeticError, ValueError, TypeError):
                with np.errstate(all="ignore"):
                    d = safe(t, y)
            return np.array(d, dtype=float) * self.factor

        self.rhs = rhs

    # -- expression evaluation with a name space (events, resets, conditions)
    def _prepare(self, t, y):
        ns = self.ns
        self.c.load_state(ns, t, y)
        for name, sig in self.varying:
            ns[name] = sig.at(t)
        return ns

    def event(self, t, y):
        ns = self._prepare(t, y)
        for name, func in self.c.event_aliases:
            ns[name] = func(ns)
        with np.errstate(all="ignore"):
            return self.c.event(ns)

    def condition_true(self, t, y):
        ns = self._prepare(t, y)
        with np.errstate(all="ignore"):
            self.c.all_aliases(ns)
            return bool(self.c.condition(ns))

    def apply_reset(self, t, y):
        y = y.copy()
        for index, func in self.c.reset:
            ns = self._prepare(t, y)
            with np.errstate(all="ignore"):
                self.c.all_aliases(ns)
                y[index] = float(func(ns)) / self.c.scales[index]
        self.check_state(t, y, "after the reset")
        return y

    def deliver(self, t, y, refractory):
        """Apply the input spikes due at ``t`` (in the order given); a statement on a variable the
        refractory period clamps is dropped while ``refractory`` (the clamp holds it)."""
        events = self.inputs_at.get(float(t))
        if not events:
            return y, False
        y = y.copy()
        for port, magnitude in events:
            for index, func, clamped in self.c.on_spike[port]:
                if clamped and refractory:
                    continue
                ns = self._prepare(t, y)
                ns["weight"] = magnitude
                with np.errstate(all="ignore"):
                    self.c.all_aliases(ns)
                    y[index] = float(func(ns)) / self.c.scales[index]
        self.check_state(t, y, "after an input spike")
        return y, True

    def check_state(self, t, y, note=""):
        """Raise :class:`lifbridge.errors.Diverged` if ``y`` is non-finite or beyond a runaway bound."""
        for k, value in enumerate(y.tolist() if hasattr(y, "tolist") else y):
            if not abs(value) <= self.bounds[k]:
                name = self.c.states[k]
                bound = self.bounds[k] if self.bounds[k] < sys.float_info.max else None
                self.diverged(Event(0, float(t), name, float(value), self.model.state[name].unit.name, bound, note))

    def diverged(self, event):
        divergence = merge("reference", [event])
        raise Diverged(f"{self.model.name} on the reference integrator {divergence.describe()}", divergence)

    def check_failure(self, t, y, message):
        """A step the solver could not take: name a non-finite derivative, else the state."""
        self.check_state(t, y)
        with np.errstate(all="ignore"):
            derivative = np.asarray(self.rhs(t, np.asarray(y, dtype=float)), dtype=float)
        for k, value in enumerate(derivative.tolist()):
            if not math.isfinite(value):
                name = self.c.states[k]
                self.diverged(Event(0, float(t), f"d{name}/dt", value, f"{self.model.state[name].unit.name}/ms"))
        k = int(np.argmax(np.abs(np.asarray(y, dtype=float)) / np.maximum(self.atol, 1e-300)))
        name = self.c.states[k]
        self.diverged(Event(0, float(t), name, float(y[k]), self.model.state[name].unit.name,
                            note=f"the integrator cannot continue: {message}"))

    def _set_inputs(self, t):
        for name, sig in self.signals.items():
            if not sig.varies:
                self.ns[name] = self.inputs[name] = sig.segment_value(t)

    def _next_break(self, t):
        k = np.searchsorted(self.breaks, t, side="right")
        return float(self.breaks[k]) if k < len(self.breaks) else self.duration

    # -- integration of one segment
    def _solver(self, t0, y, t1, relax):
        factor = _RELAX_FACTOR ** relax
        # Start with the step size the previous solver would have taken next (a good guess
        # for continuing dynamics, and one step for a fully clamped refractory period);
        # the error control still applies to it.
        first = None
        if self._h is not None and math.isfinite(self._h) and self._h > 0 and not relax:
            first = min(self._h, t1 - t0, self.max_step)
        return self.solver_class(self.rhs, t0, y, t1, rtol=min(self.rtol * factor, 1e-3), atol=self.atol * factor,
                                 max_step=self.max_step, first_step=first)

    def _segment(self, t0, t1, y, *, clamp=(), events=None, terminal=True, record=None, stop=None):
        """Integrate on [t0, t1]; returns (hit, t_end, y_end, crossings).

        ``events``: locate upward zero crossings of the event function; with
        ``terminal`` the first one ends the segment (``hit``; ``t_end``, ``y_end`` are the
        crossing and the state there, before any reset). Record times in [t0, t1]
        (t1 only at the end of the run) are filled in ``record`` in time order, so a
        later segment starting at the same time overwrites them. ``stop(crossings)``:
        without ``terminal``, end the segment (``hit``) once it returns true.
        """
        crossings = []
        if not t1 > t0:
            return False, t0, y, crossings
        self._set_inputs(t0)
        self.factor = self.c.dfactor.copy()
        if clamp:
            self.factor[list(clamp)] = 0.0
        k = hi = 0
        if record is not None:
            times, values = record
            k = int(np.searchsorted(times, t0, side="left"))
            hi = int(np.searchsorted(times, t1, side="left" if t1 < self.duration else "right"))
        relax, relaxed_left = 0, 0
        with np.errstate(all="ignore"):
            # a non-finite derivative at the start would make the first step size nan
            # (and scipy's step loop endless): report it here
            if not np.all(np.isfinite(self.rhs(t0, np.asarray(y, dtype=float)))):
                self.check_failure(t0, y, "non-finite derivative")
            solver = self._solver(t0, y, t1, 0)
            g_old = self.event(t0, y) if events else 0.0
            while solver.status == "running":
                message = solver.step()
                if solver.status == "failed":
                    if relax >= _MAX_RELAXATIONS or not np.all(np.isfinite(solver.y)):
                        self.check_failure(solver.t, solver.y, message)
                    relax += 1
                    relaxed_left = _RELAXED_STEPS
                    solver = self._solver(solver.t, solver.y, t1, relax)
                    continue
                t_old, t_new = solver.t_old, solver.t
                dense = None
                t_stop = t_new
                ending = False
                if events:
                    g_new = self.event(t_new, solver.y)
                    if g_old <= 0 <= g_new and not (g_old == 0 and g_new == 0):
                        dense = solver.dense_output()
                        crossings.append(self._locate(dense, t_old, t_new))
                        ending = terminal or (stop is not None and stop(crossings))
                        if ending:
                            t_stop = crossings[-1]
                    g_old = g_new
                if k < hi and times[k] <= t_stop:
                    j = min(int(np.searchsorted(times, t_stop, side="right")), hi)
                    if dense is None:
                        dense = solver.dense_output()
                    values[:, k:j] = dense(times[k:j])
                    k = j
                if ending:
                    self._remember_step(solver)
                    y_event = dense(crossings[-1])
                    self.check_state(crossings[-1], y_event, "at a spike")
                    return True, crossings[-1], np.array(y_event, dtype=float), crossings
                self.check_state(t_new, solver.y)
                if relaxed_left:
                    self.relaxed_steps += 1
                    relaxed_left -= 1
                    if not relaxed_left and solver.status == "running":
                        relax = 0
                        solver = self._solver(solver.t, solver.y, t1, 0)
        self._remember_step(solver)
        y_end = np.array(solver.y, dtype=float)
        self.check_state(t1, y_end)
        return False, t1, y_end, crossings

    def _locate(self, dense, t_old, t_new):
        """The upward zero crossing of the event function in [t_old, t_new], on the dense output."""
        g = lambda s: self.event(s, dense(s))  # noqa: E731
        g_old, g_new = g(t_old), g(t_new)
        if g_old >= 0:  # the interpolant can differ from the step's end points by rounding
            return t_old
        if g_new < 0:
            return t_new
        return brentq(g, t_old, t_new, xtol=4 * _EPS, rtol=4 * _EPS)

    def _remember_step(self, solver):
        h = getattr(solver, "h_abs", None)
        if h is None and solver.t_old is not None:
            h = abs(solver.t - solver.t_old)
        if h:
            self._h = float(h)

    # -- the whole run
    def run(self, record_times=None, max_spikes=None):
        record = None
        if record_times is not None:
            record = (record_times, np.full((len(self.c.states), len(record_times)), np.nan))
        if not self.c.has_spike:
            spikes = self._run_through(record, events=False)
        elif not self.c.reset and (self.t_ref == 0 or not self.c.clamp):
            spikes = self._run_through(record, events=True, max_spikes=max_spikes)
        else:
            spikes = self._run_with_reset(record, max_spikes)
        return np.asarray(spikes, dtype=float), (record[1] if record else None)

    def _run_through(self, record, events, max_spikes=None):
        """No reset: spikes do not act on the dynamics; integrate straight through."""
        t, y = 0.0, self.y0.copy()
        crossings = []
        stop = None
        if max_spikes is not None:
            stop = lambda found: len(self._accept(crossings + found)) >= max_spikes  # noqa: E731
        y, _ = self.deliver(t, y, False)
        while t < self.duration:
            hit, t, y, found = self._segment(t, self._next_break(t), y, events=events, terminal=False,
                                             record=record, stop=stop)
            crossings.extend(found)
            if hit:
                break
            if t < self.duration:
                y, _ = self.deliver(t, y, False)
        spikes = self._accept(crossings)
        return spikes if max_spikes is None else spikes[:max_spikes]

    def _accept(self, crossings):
        """Upward crossings that are not within t_ref of the previous accepted one."""
        accepted = []
        for c in crossings:
            if accepted and (c - accepted[-1] < self.t_ref or c - accepted[-1] <= 4 * _EPS * max(1.0, abs(c))):
                continue
            accepted.append(c)
        return accepted

    def _run_with_reset(self, record, max_spikes):
        t, y = 0.0, self.y0.copy()
        spikes = []
        refractory_end = None
        check_now = True  # at t = 0 and at the end of each refractory period
        has_reset = bool(self.c.reset)
        delivered_at = None    # input spikes are delivered once per time, after the segment ending there
        while t < self.duration:
            if max_spikes is not None and len(spikes) >= max_spikes:
                break
            if delivered_at != t and t in self.inputs_at:
                delivered_at = t
                y, changed = self.deliver(t, y, refractory_end is not None and t < refractory_end)
                check_now = check_now or (changed and refractory_end is None)
            if refractory_end is not None:
                t1 = min(refractory_end, self._next_break(t))
                _, t, y, _ = self._segment(t, t1, y, clamp=self.c.clamp, record=record)
                if t >= refractory_end:
                    refractory_end, check_now = None, True
                continue
            if check_now and has_reset and self.condition_true(t, y):
                y, refractory_end = self._spike(t, y, spikes)
                continue
            check_now = False
            hit, t, y, _ = self._segment(t, self._next_break(t), y, events=True, record=record)
            if hit:
                y, refractory_end = self._spike(t, y, spikes)
        return spikes

    def _spike(self, t, y, spikes):
        """Record a spike at ``t`` and apply the reset; returns the new state and the refractory end."""
        spikes.append(t)
        y = self.apply_reset(t, y)
        if t + self.t_ref > t:
            return y, t + self.t_ref
        if self.c.reset and self.condition_true(t, y):
            raise LifbridgeError(f"after a spike at t = {t:.6g} ms the reset of {self.model.name!r} leaves the "
                                 f"spike condition true and there is no refractory period: it would spike "
                                 f"forever")
        return y, None


# ---------------------------------------------------------------------------- public API
def _check_record(model, record):
    if isinstance(record, str):
        record = (record,)
    record = tuple(record)
    known = set(model.state) | set(model.aliases) | set(model.continuous_inputs)
    for name in record:
        if name not in known:
            raise ValueError(f"cannot record {name!r}: model {model.name!r} has state {', '.join(model.state)}, "
                             f"expressions {', '.join(model.aliases) or 'none'} and continuous inputs "
                             f"{', '.join(model.continuous_inputs) or 'none'}")
    return record


def _spike_events(model, spikes, duration):
    """[(t_ms, port, weight magnitude in SI)] from ``{port: [(t_ms, weight), ...]}`` (weights in the
    port's unit, NEST's sign convention: >= 0 onto an excitatory port, <= 0 onto an inhibitory one)."""
    events = []
    for port, items in (spikes or {}).items():
        if port not in model.spike_inputs:
            raise ValueError(f"model {model.name!r} has no spike input {port!r}; spike inputs: "
                             f"{', '.join(model.spike_inputs) or 'none'}")
        info = model.spike_inputs[port]
        for item in items:
            t_ms, weight = float(item[0]), float(item[1])
            if not (math.isfinite(t_ms) and math.isfinite(weight) and t_ms >= 0):
                raise ValueError(f"input spike {item!r} onto {port}: time and weight must be finite, time >= 0")
            if (info.sign == "excitatory" and weight < 0) or (info.sign == "inhibitory" and weight > 0):
                want = ">= 0" if info.sign == "excitatory" else "<= 0"
                raise ValueError(f"input spike onto {port}: weight {weight:g} {info.unit.name}; {port} takes "
                                 f"NEST's sign convention, weights {want}")
            if t_ms < duration:
                events.append((t_ms, port, abs(weight) * info.unit.scale))
    events.sort(key=lambda e: e[0])
    return events


def _setup(model, duration_ms, bias_pA, current, light, signal_dt_ms, rtol, atol, max_step_ms, initial, method,
           breakpoints_ms, params, spikes=None):
    """The compiled model and one _Neuron per neuron."""
    if not isinstance(model, Model):
        raise TypeError(f"expected a lifbridge Model, got {type(model).__name__}")
    duration = float(duration_ms)
    if not (duration > 0 and math.isfinite(duration)):
        raise ValueError(f"duration_ms must be positive and finite, got {duration_ms!r}")
    hints = model.hints
    rtol = float(hints.get("reference_rtol", DEFAULT_RTOL) if rtol is None else rtol)
    if not 0 < rtol < 1:
        raise ValueError(f"rtol must lie in (0, 1), got {rtol!r}")
    max_step = float(max_step_ms if max_step_ms is not None else hints.get("reference_max_step_ms", np.inf))
    if not max_step > 0:
        raise ValueError(f"max_step_ms must be positive, got {max_step!r}")
    _solver_class(method)
    model, per_neuron, inits = _neurons(model, bias_pA, params, initial, current)
    n = len(per_neuron)
    signals = {}
    if current is not None:
        if model.input_current is None:
            raise ValueError(f"model {model.name!r} has no current input for a time-varying current")
        signals[model.input_current] = _signals(current, signal_dt_ms, _PA, n, "current")
    if light is not None:
        if model.light_input is None:
            raise ValueError(f"model {model.name!r} has no light input")
        scale = model.inputs[model.light_input].unit.scale
        signals[model.light_input] = _signals(light, signal_dt_ms, scale, n, "light")
    for name in model.continuous_inputs:
        signals.setdefault(name, [_Signal()] * n)
    breakpoints = np.asarray(breakpoints_ms, dtype=float).ravel()
    if not np.all(np.isfinite(breakpoints)):
        raise ValueError("breakpoints_ms must be finite")
    compiled = _Compiled(model)
    if isinstance(spikes, (list, tuple)):
        if len(spikes) != n:
            raise ValueError(f"spikes: {len(spikes)} per-neuron inputs for {n} neurons; give one "
                             f"{{port: [(t_ms, weight), ...]}} per neuron, or one for all")
        events = [_spike_events(model, item, duration) for item in spikes]
    else:
        events = [_spike_events(model, spikes, duration)] * n
    neurons = [_Neuron(compiled, per_neuron[i], inits[i], {k: v[i] for k, v in signals.items()}, breakpoints,
                       duration, rtol=rtol, atol=atol, max_step=max_step, method=method, spikes=events[i])
               for i in range(n)]
    return model, compiled, neurons, rtol


def reference_simulate(model: Model, *, duration_ms, bias_pA=0.0, current=None, light=None, signal_dt_ms=0.1,
                       record=(), record_times_ms=None, rtol=None, atol=None, max_step_ms=None, initial=None,
                       method="DOP853", breakpoints_ms=(), spikes=None, **params) -> SimResult:
    """Integrate ``model`` for ``duration_ms`` with tight tolerances; one neuron per bias value.

    * ``bias_pA``: a number or 1-D array (one neuron per value), added to the bias
      parameter ``I_e`` (its value in the model, or in ``params``).
    * ``current``: the model's continuous current input (``model.input_current``) in pA,
      as a callable ``f(t_ms)`` or piecewise-constant samples every ``signal_dt_ms``
      from t = 0 (1-D: shared by all neurons; 2-D: samples x neurons); sample k holds
      on [k dt, (k+1) dt), the last sample holds after the end. ``light``: the same for
      ``model.light_input``, in the unit of that input. Unset inputs are 0.
    * ``breakpoints_ms``: extra times at which integration restarts (jumps of a callable input).
    * ``spikes``: input spikes, ``{port: [(t_ms, weight), ...]}`` with weights in the port's
      unit and NEST's sign (>= 0 onto an excitatory port, <= 0 onto an inhibitory one), the
      same for every neuron, or a list of such dicts, one per neuron. Each is applied at its time exactly (integration stops and
      restarts there): the port's ``on_spike`` statements with ``weight`` its magnitude; a
      statement on a variable the refractory period clamps is dropped while the neuron is
      refractory (NEST's delta synapses drop such spikes). A jump that makes the spike
      condition true fires at that time.
    * ``record``: names of state variables, expressions or continuous inputs, sampled
      at ``record_times_ms`` (default every 0.1 ms from 0, before ``duration_ms``), in
      spec units; at a spike time the value after the reset is recorded.
    * ``rtol`` (default the model's ``reference_rtol`` hint, else 1e-10), ``atol``
      (number, array or dict per state variable, spec units; default: see the module
      docstring), ``max_step_ms`` (default the ``reference_max_step_ms`` hint, else
      unlimited), ``method`` (DOP853, RK45, RK23, Radau, BDF, LSODA or an
      ``scipy.integrate.OdeSolver`` class).
    * ``initial``: initial-state overrides (name -> value in spec units, a string with
      a unit, or a per-neuron array).
    * ``params``: parameter overrides (spec units, strings with units, or per-neuron
      arrays; checked against ranges and constraints); state names are accepted too,
      as initial values.

    Returns a :class:`lifbridge.stimulus.SimResult` with backend ``"reference"``,
    ``dt_ms = 0.0``, exact spike times (ms) per neuron, and in ``versions`` the numpy
    and scipy versions, the method, rtol and the number of relaxed-tolerance steps.
    """
    started = time.perf_counter()
    record = _check_record(model, record)
    record_times = None
    if record:
        if record_times_ms is None:
            count = int(round(float(duration_ms) / DEFAULT_RECORD_DT_MS))
            record_times = np.arange(count) * DEFAULT_RECORD_DT_MS
            record_times = record_times[record_times < float(duration_ms)]
        else:
            record_times = np.asarray(record_times_ms, dtype=float).ravel()
            if np.any(np.diff(record_times) < 0) or (record_times.size and (
                    not record_times[0] >= 0 or not record_times[-1] <= float(duration_ms))):
                raise ValueError("record_times_ms must be sorted and lie within [0, duration_ms]")
    model, compiled, neurons, rtol = _setup(model, duration_ms, bias_pA, current, light, signal_dt_ms, rtol, atol,
                                            max_step_ms, initial, method, breakpoints_ms, params, spikes)
    spikes, states, events = [], [], []
    for i, neuron in enumerate(neurons):
        try:
            times, values = neuron.run(record_times)
        except Diverged as error:
            event = error.divergence.first
            event.neuron = i
            events.append(event)
            times = np.empty(0)
            values = np.full((len(compiled.states), len(record_times)), np.nan) if record else None
        spikes.append(times)
        states.append(values)
    traces = _traces(model, compiled, neurons, states, record, record_times) if record else {}
    versions = {"numpy": np.__version__, "scipy": scipy.__version__,
                "method": method if isinstance(method, str) else method.__name__, "rtol": rtol,
                "relaxed_steps": int(sum(n.relaxed_steps for n in neurons))}
    return SimResult(model.name, "reference", 0.0, float(duration_ms), spikes, traces, versions,
                     time.perf_counter() - started, diverged=merge("reference", events))


def _traces(model, compiled, neurons, states, record, times):
    out = {name: np.empty((len(neurons), len(times))) for name in record}
    for i, (neuron, values) in enumerate(zip(neurons, states)):
        ns = dict(neuron.params)
        ns["t"] = times * 1e-3
        for k, name in enumerate(compiled.states):
            ns[name] = values[k] * compiled.scales[k]
        for name, sig in neuron.signals.items():
            ns[name] = sig.values_at(times)
        if any(name in model.aliases for name in record):
            with np.errstate(all="ignore"):
                compiled.all_aliases(ns)
        for name in record:
            if name in model.state:
                out[name][i] = values[compiled.index[name]]
            else:
                out[name][i] = np.broadcast_to(np.asarray(ns[name], dtype=float) / model.unit_of(name).scale,
                                               (len(times),))
    return {name: (times.copy(), out[name], model.unit_of(name).name) for name in record}


def time_to_first_spike(model: Model, current_pA, *, duration_ms=1000.0, **kw):
    """Time (ms) of the first spike under a constant bias current (pA); nan if none within ``duration_ms``.

    ``current_pA`` may be an array (one neuron each; an array is returned). Other
    keywords as for :func:`reference_simulate` (without recording); each neuron is
    integrated only up to its first spike.
    """
    if kw.pop("record", ()):
        raise ValueError("time_to_first_spike records nothing")
    kw.pop("record_times_ms", None)
    options = {k: kw.pop(k) for k in ("current", "light", "signal_dt_ms", "rtol", "atol", "max_step_ms",
                                      "initial", "method", "breakpoints_ms") if k in kw}
    _, _, neurons, _ = _setup(model, duration_ms, current_pA, options.get("current"), options.get("light"),
                              options.get("signal_dt_ms", 0.1), options.get("rtol"), options.get("atol"),
                              options.get("max_step_ms"), options.get("initial"), options.get("method", "DOP853"),
                              options.get("breakpoints_ms", ()), kw)
    first = []
    for neuron in neurons:
        spikes, _ = neuron.run(max_spikes=1)
        first.append(spikes[0] if len(spikes) else np.nan)
    return float(first[0]) if np.ndim(current_pA) == 0 and len(first) == 1 else np.array(first)


def reference_fi(model: Model, currents_pA, *, duration_ms, steady=True, **kw):
    """Firing rate (Hz) for each constant bias current in ``currents_pA`` (pA).

    * ``steady=True``: 1 / mean interspike interval of the spikes in the second half of
      the run (:func:`lifbridge.stimulus.steady_rate`, the definition used for every
      backend): after transients have died out this is the limit-cycle rate of
      periodic firing to integration accuracy, and the mean rate of bursting;
    * ``steady="last"``: 1 / the last interspike interval (the period of periodic
      firing; 0 with fewer than two spikes);
    * ``steady=False``: spike count / duration.

    Other keywords as for :func:`reference_simulate`.
    """
    currents = np.atleast_1d(np.asarray(currents_pA, dtype=float))
    if currents.ndim != 1:
        raise ValueError("currents_pA must be a number or a 1-D array")
    if steady not in (True, False, "last"):
        raise ValueError(f"steady must be True, False or 'last', got {steady!r}")
    kw.pop("record", None)
    result = reference_simulate(model, duration_ms=duration_ms, bias_pA=currents, **kw)
    result.raise_if_diverged()
    trains = result.spike_times_ms
    if steady is True:
        return np.array([steady_rate(s, result.duration_ms) for s in trains])
    if steady == "last":
        return np.array([1000.0 / (s[-1] - s[-2]) if len(s) >= 2 else 0.0 for s in trains])
    return np.array([len(s) for s in trains]) / (result.duration_ms / 1000.0)


#: Keywords of :func:`reference_simulate` that are not parameter or initial values.
_INTEGRATION_OPTIONS = ("rtol", "atol", "max_step_ms", "initial", "method", "breakpoints_ms")


def simulate(model: Model, stimulus, *, duration_ms, dt_ms=None, record=(), record_neurons=None, **overrides):
    """The runner interface of :mod:`lifbridge.runners` for a :class:`lifbridge.stimulus.Stimulus`.

    ``dt_ms`` is only the recording interval here (default 0.1 ms): the integration
    has no grid. ``overrides`` go to :func:`reference_simulate`; parameter and initial
    values among them are first checked for ``stimulus.n`` neurons, as every backend's
    runner checks them (:func:`lifbridge.overrides.resolve`: the same errors everywhere).
    """
    from .overrides import resolve

    given = {k: v for k, v in overrides.items() if k not in _INTEGRATION_OPTIONS}
    if given or overrides.get("initial"):
        resolve(model, {**given, **dict(overrides.get("initial") or {})}, n=stimulus.n)
    record_times = None
    if record:
        step = DEFAULT_RECORD_DT_MS if dt_ms is None else float(dt_ms)
        record_times = np.arange(int(round(duration_ms / step))) * step
        record_times = record_times[record_times < duration_ms]
    spikes = [stimulus.spikes_of(i) for i in range(stimulus.n)] if stimulus.spikes else None
    result = reference_simulate(model, duration_ms=duration_ms, bias_pA=np.asarray(stimulus.bias_pA, dtype=float),
                                current=stimulus.current_pA, light=stimulus.light,
                                signal_dt_ms=stimulus.signal_dt_ms, record=record, record_times_ms=record_times,
                                spikes=spikes, **overrides)
    if record_neurons is not None:
        index = list(record_neurons)
        result.traces = {k: (t, v[index], u) for k, (t, v, u) in result.traces.items()}
    return result
