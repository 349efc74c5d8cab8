"""How a backend's error depends on its time step: a report section per (model, backend).

For a backend that declares ``report_time_steps`` (the time steps its users run at, e.g.
SpiNNaker's 1 ms and 0.1 ms), at each of them:

* the f-I sweep as one population against the closed form (or, without one, against the
  reference integrator), judged with the tolerance table's ``fi_steady_rate`` row at that
  time step (:func:`lifbridge.validation.tolerances.rate_allowance`);
* the drift of spike times against the reference integrator over many spikes (at least
  100 in the full protocol) under a constant current: spike k of the backend minus spike k
  of the reference;
* what the backend itself reports about its run at that step (``report_numbers``, e.g. the
  weight quantisation of the spike-input protocol on SpiNNaker).

The judge here is the same as everywhere (closed forms, the reference integrator); the
backend is reached through the registry only.
"""

from __future__ import annotations

import numpy as np

from .. import backends as registry
from ..errors import ParameterError
from ..records import Figure, Panel, Section, Series, Table, gap_check, number
from ..stimulus import Stimulus, steady_rate
from .checks import _record
from .protocols import current_range, sweep_currents
from .references import analytic_fi
from .tolerances import rate_allowance, tolerance_for

#: Constant drive of the drift measurement, as a fraction of the model's f-I range.
DRIFT_FRACTION = 0.8


def time_step_part(model, backend: str, *, quick=False, options=None) -> tuple:
    """(Section, check records) of ``backend``'s time steps for ``model``."""
    from ..reference import simulate as reference

    declared = registry.get(backend)
    steps = tuple(declared.report_time_steps)
    runner = declared.runner_module()
    options = dict(options or {})
    lo, hi = current_range(model)
    currents = sweep_currents(lo, hi, 9 if quick else 17)
    duration = 1000.0 if quick else 2000.0
    closed = analytic_fi(model, currents)
    judge_name = f"closed-form {model.hints.get('analytic')} f-I" if closed is not None else "reference integrator"
    drive = lo + DRIFT_FRACTION * (hi - lo)
    rows, checks, rates, judges, drifts, numbers = [], [], {}, {}, {}, []
    for dt in steps:
        try:
            sweep = runner.simulate(model, Stimulus(np.asarray(currents, dtype=float)), duration_ms=duration,
                                    dt_ms=dt, **options)
        except ParameterError as error:
            # the model's values cannot run at this step on this backend: said, with the reason
            checks.append(gap_check(model.name, backend, f"at dt = {dt:g} ms: {error}"))
            rows.append([dt, None, None, None, 0, None, None, None])
            continue
        if sweep.diverged is not None:
            raise ValueError(f"{backend} at dt = {dt:g} ms: {sweep.diverged.describe()}")
        rate = np.array([steady_rate(s, duration) for s in sweep.spike_times_ms])
        if closed is not None:
            judge = np.asarray(closed, dtype=float)
        else:
            exact = reference(model, Stimulus(np.asarray(currents, dtype=float)), duration_ms=duration, dt_ms=dt)
            judge = np.array([steady_rate(s, duration) for s in exact.spike_times_ms])
        tol = tolerance_for("fi_steady_rate", model.name, backend)
        allowed = rate_allowance(judge, dt, tol)
        measurable = (judge == 0) | (judge * duration / 2000.0 >= 3)
        error = np.abs(rate - judge)
        worst = int(np.argmax(np.where(measurable, error / np.maximum(allowed, 1e-12), -np.inf)))
        checks.append(_record(model.name, backend, "fi_steady_rate", f"fi_dt_{dt:g}ms", error[worst], allowed[worst],
                              "Hz", bool(np.all((error <= allowed + 1e-9) | ~measurable)), tol.reason, dt_ms=dt,
                              judge=judge_name, currents_pA=currents, rate_hz=rate, judge_rate_hz=judge,
                              allowed_hz=allowed))
        rates[dt], judges[dt] = rate, judge
        # drift over many spikes under one constant current
        ours = runner.simulate(model, Stimulus(np.array([drive])), duration_ms=duration, dt_ms=dt, **options)
        exact = reference(model, Stimulus(np.array([drive])), duration_ms=duration, dt_ms=dt)
        k = min(len(ours.spike_times_ms[0]), len(exact.spike_times_ms[0]))
        drift = np.asarray(ours.spike_times_ms[0][:k]) - np.asarray(exact.spike_times_ms[0][:k])
        drifts[dt] = drift
        for row in declared.numbers_at(model, dt):
            numbers.append(dict(row, name=f"{row['name']}_dt_{dt:g}ms", label=f"{row['label']} (dt = {dt:g} ms)"))
        rows.append([dt, float(currents[worst]), float(error[worst]), float(allowed[worst]), k,
                     float(drift[-1]) if k else None, float(np.mean(np.diff(drift))) if k > 1 else None,
                     len(exact.spike_times_ms[0]) - len(ours.spike_times_ms[0])])
    table = Table(name=f"time_steps_{backend}", title=f"{backend}: error against the judge at each time step",
                  columns=[["time step", "ms"], ["worst current (error / allowed)", "pA"], ["f-I error there", "Hz"],
                           ["allowed there", "Hz"],
                           ["spikes compared", ""], ["drift of the last compared spike", "ms"],
                           ["mean interval error", "ms"], ["spikes fewer than the reference", ""]],
                  rows=[[number(x) if isinstance(x, float) else x for x in row] for row in rows])
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
    fi = Panel(title=f"f-I, {judge_name} and {backend}", x_label="current (pA)", y_label="rate (Hz)",
               series=[Series("line", list(currents), [number(x) for x in next(reversed(judges.values()), [])],
                              label=judge_name, style={"color": "k", "lw": 1.0})]
               + [Series("points", list(currents), [number(x) for x in rates[dt]], label=f"dt = {dt:g} ms",
                         style={"color": colors[i % 4], "marker": "o", "ms": 3}) for i, dt in enumerate(steps)
                  if dt in rates])
    drift_panel = Panel(title=f"spike-time drift at {drive:g} pA", x_label="spike number",
                        y_label="backend - reference (ms)",
                        series=[Series("line", list(range(1, len(drifts[dt]) + 1)), [number(x) for x in drifts[dt]],
                                       label=f"dt = {dt:g} ms", style={"color": colors[i % 4]})
                                for i, dt in enumerate(steps) if dt in drifts])
    section = Section(
        name=f"time_steps_{backend}", title=f"{declared.label} at its time steps", model=model.name,
        text=[f"{backend} at dt = {', '.join(f'{dt:g}' for dt in steps)} ms: the f-I sweep ({len(currents)} currents, "
              f"{duration:g} ms) against the {judge_name}, judged with the tolerance table's fi_steady_rate row at "
              f"each time step, and the drift of spike times against the reference integrator under {drive:g} pA "
              f"(spike k of the backend minus spike k of the reference)."],
        numbers=numbers, tables=[table],
        figures=[Figure(name=f"time_steps_{model.name}_{backend}", title=section_title(model, backend), rows=1,
                        cols=2, width=11.0, height=4.0, panels=[fi, drift_panel])],
        data={"time_steps_ms": list(steps), "currents_pA": list(currents), "duration_ms": duration,
              "drift_current_pA": drive})
    return section, checks


def section_title(model, backend) -> str:
    return f"{model.name} on {backend}: f-I and spike-time drift at each time step"
