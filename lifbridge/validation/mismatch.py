"""The f-I curve as the spread across emulated hardware neurons: a report section per (model, backend).

For a backend that declares ``mismatch_options`` (run options under which it draws
per-neuron variability, e.g. an analog chip's calibration residuals), the f-I sweep is run
on a population of :data:`NEURONS` (quick) or :data:`NEURONS_FULL` neurons, each current
on the same neurons (the same seed), and shown against the closed form: the median, the
5th-95th percentile band and every neuron's curve. The numbers are the spread at each
current (standard deviation and percentiles, Hz) and the largest relative deviation of
the median from the closed form; they describe the substrate and are not judged against
a tolerance (the deterministic f-I check of the same backend is).

The backend is reached through the registry only; the judge is the closed form
(:func:`lifbridge.validation.references.analytic_fi`).
"""

from __future__ import annotations

import numpy as np

from .. import backends as registry
from ..records import Figure, Panel, Section, Series, Table, number
from ..stimulus import Stimulus, steady_rate
from .protocols import current_range, sweep_currents
from .references import analytic_fi

#: Emulated neurons per current (quick, full).
NEURONS, NEURONS_FULL = 32, 64
DT_MS = 0.1


def spread_rates(model, backend: str, currents, *, n: int, duration_ms: float, options=None, dt_ms=DT_MS):
    """Rates (Hz), shape (len(currents), n): each current on the same ``n`` neurons of ``backend``
    run with its ``mismatch_options`` (updated with ``options``)."""
    declared = registry.get(backend)
    runner = declared.runner_module()
    run_options = dict(options or {})
    run_options.update(declared.mismatch_options or {})
    rates = np.empty((len(currents), n))
    for i, current in enumerate(currents):
        result = runner.simulate(model, Stimulus(np.full(n, float(current))), duration_ms=duration_ms, dt_ms=dt_ms,
                                 **run_options)
        if result.diverged is not None:
            raise ValueError(f"{backend}: {result.diverged.describe()}")
        rates[i] = [steady_rate(s, duration_ms) for s in result.spike_times_ms]
    return rates


def mismatch_part(model, backend: str, *, quick=False, options=None) -> tuple:
    """(Section, check records) of the f-I spread of ``backend`` for ``model`` (no check records:
    the spread is described, not judged)."""
    declared = registry.get(backend)
    n = NEURONS if quick else NEURONS_FULL
    lo, hi = current_range(model)
    currents = np.asarray(sweep_currents(lo, hi, 9 if quick else 17), dtype=float)
    duration = 1000.0 if quick else 2000.0
    rates = spread_rates(model, backend, currents, n=n, duration_ms=duration, options=options)
    closed = analytic_fi(model, currents)
    median = np.median(rates, axis=1)
    p5, p95 = np.percentile(rates, 5, axis=1), np.percentile(rates, 95, axis=1)
    std = np.std(rates, axis=1, ddof=1)
    rows = [[number(c), number(j) if closed is not None else None, number(m), number(s), number(a), number(b)]
            for c, j, m, s, a, b in zip(currents, closed if closed is not None else currents, median, std, p5, p95)]
    numbers = [{"name": f"mismatch_fi_std_max_{backend}", "label": "largest spread across neurons (SD)",
                "value": number(std.max()), "unit": "Hz"}]
    if closed is not None:
        judge = np.asarray(closed, float)
        firing = judge > 0
        if firing.any():
            rel = np.abs(median[firing] - judge[firing]) / judge[firing]
            numbers.append({"name": f"mismatch_fi_median_rel_{backend}", "label": "largest |median - closed form| / "
                            "closed form", "value": number(rel.max()), "unit": ""})
            cv = std[firing] / judge[firing]
            numbers.append({"name": f"mismatch_fi_cv_max_{backend}", "label": "largest SD / closed form",
                            "value": number(cv.max()), "unit": ""})
    series = [Series("line", list(currents), [number(x) for x in rates[:, j]], style={"color": "tab:gray", "lw": 0.4,
                                                                                      "alpha": 0.5})
              for j in range(n)]
    series += [Series("line", list(currents), [number(x) for x in p5], label="5th-95th percentile",
                      style={"color": declared.color, "ls": "--"}),
               Series("line", list(currents), [number(x) for x in p95], style={"color": declared.color, "ls": "--"}),
               Series("points", list(currents), [number(x) for x in median], label=f"median of {n} neurons",
                      style={"color": declared.color, "marker": "o", "ms": 3})]
    if closed is not None:
        series.append(Series("line", list(currents), [number(x) for x in closed], label="closed form",
                             style={"color": "k", "lw": 1.2}))
    options_text = ", ".join(f"{k}={v}" for k, v in (declared.mismatch_options or {}).items())
    section = Section(
        name=f"mismatch_{backend}", title=f"{declared.label}: f-I across emulated neurons", model=model.name,
        text=[f"{backend} with {options_text}: the f-I sweep ({len(currents)} currents, {duration:g} ms at dt = "
              f"{DT_MS:g} ms) on the same {n} emulated neurons at every current, against the closed form. Each gray "
              f"line is one neuron; the spread is what the substrate does to the model, not an error of lifbridge."],
        numbers=numbers,
        tables=[Table(name=f"mismatch_{backend}", title=f"{backend}: rate across {n} neurons",
                      columns=[["current", "pA"], ["closed form", "Hz"], ["median", "Hz"], ["SD", "Hz"],
                               ["5th percentile", "Hz"], ["95th percentile", "Hz"]], rows=rows)],
        figures=[Figure(name=f"mismatch_{model.name}_{backend}", title=f"{model.name} on {backend}: f-I across "
                        f"{n} emulated neurons", rows=1, cols=1, width=6.5, height=4.5,
                        panels=[Panel(title="f-I", x_label="current (pA)", y_label="rate (Hz)", series=series)])],
        data={"currents_pA": [float(c) for c in currents], "rates_hz": rates.tolist(), "neurons": n,
              "duration_ms": duration, "options": dict(declared.mismatch_options or {})})
    return section, []


def save_figure(section: Section, out_dir) -> list:
    """Draw the section's figures into ``out_dir`` as PNG files; returns their paths."""
    from pathlib import Path

    from .report import draw_figure

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [out / draw_figure(figure, out) for figure in section.figures]
