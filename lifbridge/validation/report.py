"""Writing the validation report: report.json, PNG figures and index.html.

The report is made from records only (:mod:`lifbridge.records`): the run and check
records and the sections of :func:`lifbridge.validation.harness.validate`, or the same
records read from report.json files made elsewhere (``lifbridge report``). Every figure
is drawn from them, and index.html is rendered from them with one Jinja2 template
(``templates/report.html.j2``, every value escaped). Rendering is deterministic: the
same records give the same index.html, byte for byte. Imports no simulator.
"""

from __future__ import annotations

from collections import defaultdict
from importlib import resources
from pathlib import Path

import numpy as np

from ..records import SCHEMA, Report, merge, round_trip, write_json

TEMPLATE = "report.html.j2"


def _color(backend):
    """The plot colour of a run: black for the reference, else its backend's (from the registry)."""
    from ..backends import color

    return "black" if backend == "reference" else color(backend)


def is_gap(check) -> bool:
    """A check covered by a known gap (listed with its reason; it does not fail the run)."""
    return check["check"] == "known_gap" or bool(check.get("known_gap"))


def is_diverged(check) -> bool:
    """A run whose state became non-finite or ran away: a failure, shown as such."""
    return check.get("status") == "diverged"


def summarize(report) -> dict:
    """Pass/fail counts per (model, backend); ``diverged`` counts diverged runs (also in ``failed``)
    and ``diverged_text`` says where the first of them diverged."""
    matrix = defaultdict(lambda: {"passed": 0, "failed": 0, "gaps": 0, "diverged": 0, "diverged_text": ""})
    for check in report["checks"]:
        cell = matrix[(check["model"], check["backend"])]
        if is_gap(check):
            cell["gaps"] += 1
        elif check["passed"]:
            cell["passed"] += 1
        else:
            cell["failed"] += 1
            if is_diverged(check):
                cell["diverged"] += 1
                cell["diverged_text"] = cell["diverged_text"] or check["diverged"]["message"]
    return matrix


def write_report(report: Report, out_dir) -> Path:
    """Write report.json (the records), report.schema.json, figures and index.html into ``out_dir``;
    returns the HTML path. The page is rendered from the records as they read back from
    report.json, so ``lifbridge report out_dir/report.json`` rebuilds the same page."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "report.json", report, indent=1)
    write_json(out / "report.schema.json", SCHEMA, indent=1)
    return render_report(round_trip(report), out)


def report_from_files(paths, note=None) -> Report:
    """The records of one or more report.json files, merged (:func:`lifbridge.records.merge`)."""
    from ..records import load_report

    return merge([load_report(p) for p in paths], [str(p) for p in paths], note=note)


def render_report(report: Report, out_dir) -> Path:
    """Draw every figure of ``report`` and write index.html into ``out_dir``; returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures = defaultdict(list)
    runs_by_model = defaultdict(list)
    for run in report.runs:
        runs_by_model[run.model].append(run)
    checks_by_model = defaultdict(list)
    for check in report.checks:
        checks_by_model[check.model].append(check)
    for model in _models(report):
        for maker in (fi_figure, step_figure, noise_figure, light_figure):
            name = maker(model, runs_by_model[model], checks_by_model[model], out)
            if name:
                figures[model].append(name)
    section_figures = {}
    for section in report.extras:
        names = []
        if section.name in SECTION_FIGURES:
            names.append(SECTION_FIGURES[section.name](section, report.checks, out))
        names += [draw_figure(figure, out) for figure in section.figures]
        if section.model in runs_by_model or section.model in report.config["models"]:
            figures[section.model].extend(names)
        else:
            section_figures[section.name] = names
    page = render_html(report, figures, section_figures)
    (out / "index.html").write_text(page)
    return out / "index.html"


def _models(report):
    """The models in the order of the config, then any others a record names (sorted)."""
    named = list(report.config["models"])
    others = {r.model for r in report.runs} | {c.model for c in report.checks}
    return named + sorted(m for m in others if m not in named)


# ---------------------------------------------------------------------------- figures
def _save(fig, out, name):
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(out / name, dpi=90)
    plt.close(fig)
    return name


def fi_figure(model, runs, checks, out):
    import matplotlib.pyplot as plt

    ref = next((r for r in runs if r["kind"] == "reference"), None)
    if ref is None or "fi" not in ref["protocols"]:
        return None
    fi = ref["protocols"]["fi"]
    currents = np.asarray(fi["info"]["currents_pA"])
    fig, (ax, ax_err) = plt.subplots(1, 2, figsize=(11, 4))
    judge = np.asarray(fi.get("closed_form_rate_hz", fi["steady_rate_hz"]), dtype=float)
    label = "closed form" if "closed_form_rate_hz" in fi else "reference integrator"
    ax.plot(currents, judge, "-", color="black", lw=2, label=f"{label} (steady)")
    ax.plot(currents, fi["first_isi_rate_hz"], ":", color="black", lw=1.5, label="reference (first ISI)")
    for run in runs:
        if run["kind"] != "backend":
            continue
        entry = run["protocols"]["fi"]
        c = _color(run["backend"])
        ax.plot(currents, entry["steady_rate_hz"], "o", color=c, mfc="none", label=f"{run['backend']} (steady)")
        ax.plot(currents, entry["first_isi_rate_hz"], "x", color=c, label=f"{run['backend']} (first ISI)")
        err = np.abs(np.asarray(entry["steady_rate_hz"]) - judge)
        ax_err.semilogy(currents, np.maximum(err, 1e-6), "o-", color=c, label=run["backend"])
    check = next((c for c in checks if c["check"] == "fi_steady_rate"), None)
    if check and check["details"].get("allowed_hz"):
        ax_err.semilogy(currents, np.maximum(np.asarray(check["details"]["allowed_hz"], dtype=float), 1e-6), "--",
                        color="grey", label="tolerance")
    ax.set(xlabel="current [pA]", ylabel="rate [Hz]", title=f"{model}: f-I curve")
    ax.legend(fontsize=7)
    ax_err.set(xlabel="current [pA]", ylabel="|rate error| [Hz] (1e-6 = exact)", title="error vs current")
    ax_err.legend(fontsize=7)
    return _save(fig, out, f"fi_{model}.png")


def step_figure(model, runs, checks, out):
    import matplotlib.pyplot as plt

    ref = next((r for r in runs if r["kind"] == "reference"), None)
    # the membrane potential the model declares (records without it: V_m)
    vm = (ref["protocols"]["step"]["info"].get("membrane") if ref and "step" in ref["protocols"] else None) or "V_m"
    if ref is None or "step" not in ref["protocols"] or vm not in ref["traces"]:
        return None
    neurons = ref["protocols"]["step"]["neurons"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
    for ax, neuron, label in zip(axes, neurons, ("subthreshold", "suprathreshold")):
        for run in runs:
            trace = run["traces"].get(vm)
            if not trace or neuron not in trace["neurons"]:
                continue
            row = trace["neurons"].index(neuron)
            ax.plot(trace["t_ms"], trace["values"][row], color=_color(run["backend"]),
                    lw=2.5 if run["kind"] == "reference" else 1, alpha=0.7, label=run["backend"])
        ax.set(title=f"{model}: {label} step", xlabel="t [ms]", ylabel=f"{vm} [{ref['traces'][vm]['unit']}]")
        ax.legend(fontsize=7)
    return _save(fig, out, f"step_{model}.png")


def noise_figure(model, runs, checks, out):
    import matplotlib.pyplot as plt

    ref = next((r for r in runs if r["kind"] == "reference"), None)
    if ref is None or "frozen_noise" not in ref["protocols"]:
        return None
    neurons = ref["protocols"]["frozen_noise"]["neurons"]
    fig, ax = plt.subplots(figsize=(11, 3))
    y = 0
    ticks, labels = [], []
    for neuron in neurons:
        for run in runs:
            spikes = run["spike_times_ms"][neuron]
            ax.vlines(spikes, y + 0.1, y + 0.9, color=_color(run["backend"]), lw=1)
            ticks.append(y + 0.5)
            labels.append(f"{run['backend']} #{neuron}")
            y += 1
        y += 0.5
    ax.set_yticks(ticks, labels, fontsize=6)
    ax.set(xlabel="t [ms]", title=f"{model}: frozen noisy current, spike rasters (same input on every backend)")
    return _save(fig, out, f"noise_{model}.png")


def light_figure(model, runs, checks, out):
    import matplotlib.pyplot as plt

    ref = next((r for r in runs if r["kind"] == "reference"), None)
    if ref is None or "light_pulse" not in ref["protocols"]:
        return None
    info = ref["protocols"]["light_pulse"]["info"]
    # the states the model declares (records without them: O and V_m)
    o_name, vm = info.get("open_state") or "O", info.get("membrane") or "V_m"
    if o_name not in ref["traces"]:
        return None
    neurons = ref["protocols"]["light_pulse"]["neurons"]
    fig, (ax_o, ax_v) = plt.subplots(2, 1, figsize=(11, 5), sharex=True)
    for run in runs:
        trace = run["traces"].get(o_name)
        if trace and neurons[0] in trace["neurons"]:
            ax_o.plot(trace["t_ms"], trace["values"][trace["neurons"].index(neurons[0])], color=_color(run["backend"]),
                      lw=2.5 if run["kind"] == "reference" else 1, label=run["backend"])
        v = run["traces"].get(vm)
        if v and neurons[1] in v["neurons"]:
            ax_v.plot(v["t_ms"], v["values"][v["neurons"].index(neurons[1])], color=_color(run["backend"]),
                      lw=1.5 if run["kind"] == "reference" else 0.8, alpha=0.8, label=run["backend"])
    for ax in (ax_o, ax_v):
        ax.axvspan(info["t0_ms"], info["t1_ms"], color="gold", alpha=0.15)
    ax_o.set(ylabel=f"open fraction {o_name}", title=f"{model}: light pulse {info['intensity']} {info['unit']} "
             "(peak, then desensitized plateau)")
    v_label = f"{vm} [{ref['traces'][vm]['unit']}]" if vm in ref["traces"] else vm
    ax_v.set(xlabel="t [ms]", ylabel=v_label, title=f"with {info['bias_pA'][1]:.0f} pA bias: adapting firing")
    ax_o.legend(fontsize=7)
    return _save(fig, out, f"light_{model}.png")


def siegert_figure(section, checks, out):
    """Siegert theory (the section's numbers) and each backend's rates (its siegert_rate check)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    points = [tuple(p) for p in section.data["points_mV"]]
    theory = dict(zip(points, section.data["theory_hz"]))
    sigmas = sorted({p[1] for p in points})
    for sigma in sigmas:
        mus = [p[0] for p in points if p[1] == sigma]
        ax.plot(mus, [theory[p] for p in points if p[1] == sigma], "-", color="black",
                alpha=0.4 + 0.6 * sigma / max(sigmas), label=f"Siegert, sigma = {sigma:g} mV")
    measured = [(c.backend, c.details) for c in checks if c.check == "siegert_rate" and c.model == section.model
                and c.details.get("rate_hz")]
    for backend, details in measured:
        pts = [tuple(p) for p in details["points_mV"]]
        ax.errorbar([p[0] for p in pts], details["rate_hz"], yerr=2 * np.asarray(details["standard_error_hz"]),
                    fmt="o", color=_color(backend), mfc="none", label=f"{backend} (±2 SE)")
    ax.set(xlabel="mu [mV above E_L]", ylabel="rate [Hz]", title="LIF with white-noise input vs Siegert theory")
    ax.legend(fontsize=7)
    return _save(fig, out, "siegert.png")


SECTION_FIGURES = {"siegert": siegert_figure}


def draw_figure(figure, out):
    """Draw a :class:`lifbridge.records.Figure` (panels of data series) into ``out/{name}.png``."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(figure.rows, figure.cols, figsize=(figure.width, figure.height), squeeze=False)
    for ax, panel in zip(axes.flat, figure.panels):
        for series in panel.series:
            _draw_series(ax, series)
        ax.set(title=panel.title, xlabel=panel.x_label, ylabel=panel.y_label, xscale=panel.x_scale,
               yscale=panel.y_scale)
        if panel.x_lim:
            ax.set_xlim(*panel.x_lim)
        if panel.y_lim:
            ax.set_ylim(*panel.y_lim)
        if panel.y_ticks is not None:
            ax.set_yticks(panel.y_ticks, panel.y_tick_labels)
        if panel.legend and any(s.label for s in panel.series):
            ax.legend(fontsize=8, **({"loc": panel.legend_loc} if panel.legend_loc else {}))
    if figure.title:
        fig.suptitle(figure.title)
    fig.tight_layout()
    name = f"{figure.name}.png"
    fig.savefig(out / name, dpi=figure.dpi)
    plt.close(fig)
    return name


def _draw_series(ax, series):
    style = dict(series.style)
    x = np.asarray(series.x, dtype=float)
    y = np.asarray(series.y, dtype=float)
    label = series.label
    if series.kind == "line":
        ax.plot(x, y, label=label, **style)
    elif series.kind == "points":
        ax.plot(x, y, label=label, **{"ls": "none", "marker": "o", **style})
    elif series.kind == "errorbar":
        marker, ls = style.pop("marker", "o"), style.pop("ls", "none")
        ax.errorbar(x, y, yerr=np.asarray(series.yerr, dtype=float), fmt=marker if ls == "none" else marker + "-",
                    label=label, **style)
    elif series.kind == "raster":
        ax.vlines(x, y[0] - 0.35, y[0] + 0.35, label=label, **style)
    elif series.kind == "hline":
        ax.axhline(y[0], label=label, **style)
    elif series.kind == "vline":
        ax.axvline(x[0], label=label, **style)
    elif series.kind == "span":
        ax.axvspan(x[0], x[1], label=label, **style)


# ---------------------------------------------------------------------------- HTML
def _environment():
    import jinja2

    return jinja2.Environment(loader=jinja2.FunctionLoader(_template_source), autoescape=True, trim_blocks=True,
                              lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)


def _template_source(name):
    return resources.files("lifbridge.validation").joinpath("templates", name).read_text(encoding="utf-8")


def _g4(x, unit=""):
    if x is None:
        return ""
    return f"{x:.4g} {unit}" if unit is not None else f"{x:.4g}"


def _cell(x):
    """A table cell: numbers with 4 significant digits (exponent for very large or small), text as it is."""
    if x is None:
        return "-"
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return str(x)
    if isinstance(x, int):
        return str(x)
    if x != 0 and (abs(x) >= 1e5 or abs(x) < 1e-3):
        return f"{x:.2e}"
    return f"{x:.4g}"


#: The spike-input protocol's checks, the columns of its table (lifbridge.validation.checks).
SPIKE_INPUT_CHECKS = (("psc_shape", "PSC time course", "fraction of peak"), ("psc_peak", "PSC peak", "relative"),
                      ("psc_integral", "PSC integral", "relative"), ("psp_shape", "PSP", "mV"),
                      ("poisson_coincidence", "Poisson spikes unmatched", "fraction"))


def spike_input_table(checks) -> dict:
    """One row per model and backend with a spike-input check: the worst value of each check
    and the verdict (FAIL, known gap, pass); the reference's own rows first."""
    names = {c[0] for c in SPIKE_INPUT_CHECKS}
    mine = [c for c in checks if c.check in names]
    order = list(dict.fromkeys((c.model, c.backend) for c in mine))
    order.sort(key=lambda p: (p[0], p[1] != "reference"))
    rows = []
    for model, backend in order:
        these = [c for c in mine if c.model == model and c.backend == backend]
        row = [model, backend]
        for check, _, _ in SPIKE_INPUT_CHECKS:
            values = [c.value for c in these if c.check == check and c.value is not None]
            row.append(_cell(max(values)) if values else "")
        row.append("FAIL" if any(not c.passed and not is_gap(c) for c in these) else
                   "known gap" if any(is_gap(c) for c in these) else "pass")
        rows.append(row)
    columns = ["model", "backend"] + [f"{label} ({unit})" for _, label, unit in SPIKE_INPUT_CHECKS] + ["result"]
    return {"title": "Spike-input protocol", "columns": columns, "rows": rows}


def render_html(report: Report, figures, section_figures=None) -> str:
    """index.html of ``report`` (records) with ``figures`` (model -> file names) and
    ``section_figures`` (section name -> file names of sections outside every model's part)."""
    section_figures = section_figures or {}
    matrix = summarize(report)
    models = _models(report)
    backends = sorted({b for (_, b) in matrix})
    checks = report.checks
    failed = sum(1 for c in checks if not c.passed)
    descriptions = report.config.get("descriptions", {})
    parts = []
    for model in models:
        rows = []
        for c in checks:
            if c.model != model:
                continue
            rows.append({"backend": c.backend, "check": c.check, "value": _g4(c.value, c.unit),
                         "tolerance": _g4(c.tolerance, c.unit),
                         "css": "gap" if is_gap(c) else "diverged" if is_diverged(c) else "pass" if c.passed else "fail",
                         "result": "known gap" if is_gap(c) else "DIVERGED" if is_diverged(c) else
                         "pass" if c.passed else "FAIL",
                         "reason": c.known_gap if c.known_gap else c.reason})
        parts.append({"model": model, "description": descriptions.get(model, ""), "figures": figures.get(model, []),
                      "checks": rows})
    matrix_rows = []
    for model in models:
        cells = []
        for backend in backends:
            cell = matrix.get((model, backend))
            if cell:
                cell = dict(cell, css="diverged" if cell["diverged"] else "fail" if cell["failed"] else
                            "gap" if not cell["passed"] else "pass")
            cells.append(cell)
        matrix_rows.append({"model": model, "cells": cells})
    sections = []
    for section in report.extras:
        shown = {"name": section.name, "title": section.title, "text": section.text,
                 "figures": section_figures.get(section.name, []),
                 "numbers": [dict(n, value=_cell(n["value"]), unit="" if n["unit"] == "1" else n["unit"])
                             for n in section.numbers],
                 "tables": [{"title": t.title, "columns": [f"{c[0]} ({c[1]})" if len(c) > 1 and c[1] not in ("", "1")
                                                           else c[0] for c in t.columns],
                             "rows": [[_cell(x) for x in row] for row in t.rows]} for t in section.tables]}
        if section.name == "spike_input":
            shown["tables"].append(spike_input_table(report.checks))
        if shown["text"] or shown["figures"] or shown["numbers"] or shown["tables"]:
            sections.append(shown)
    declared = [c for c in report.config.get("capabilities", []) if c.get("model") in models]
    return _environment().get_template(TEMPLATE).render(
        config=report.config, models=models, backends=backends, matrix=matrix_rows, parts=parts, sections=sections,
        capabilities=[c for c in declared if c.get("backend") in backends],
        capability_matrix=capability_matrix(declared, models, backends),
        total=sum(1 for c in checks if not is_gap(c)), failed=failed, gaps=sum(1 for c in checks if is_gap(c)),
        diverged=sum(1 for c in checks if is_diverged(c)), tolerances=report.tolerances,
        known_gaps=report.known_gaps, versions=sorted(report.versions.items()))


def capability_matrix(declared, models, ran) -> dict:
    """The model x backend table of what every backend declares (records ``declared``):
    ``{"backends": [(name, ran here)], "rows": [{"model", "cells": [{"support", "note"}]}],
    "notes": [reason, ...]}``; an unsupported cell points to its numbered reason."""
    columns = list(dict.fromkeys(c["backend"] for c in declared))
    found = {(c["model"], c["backend"]): c for c in declared}
    notes, rows = [], []
    for model in models:
        cells = []
        for backend in columns:
            c = found.get((model, backend))
            if c is None:
                cells.append({"support": "", "note": None, "css": ""})
                continue
            note = None
            if c["support"] == "unsupported":
                if c["reason"] not in notes:
                    notes.append(c["reason"])
                note = notes.index(c["reason"]) + 1
            cells.append({"support": c["support"], "note": note, "title": c["reason"],
                          "css": {"exact": "pass", "approximate": "pass"}.get(c["support"], "gap")})
        if found.keys() & {(model, b) for b in columns}:
            rows.append({"model": model, "cells": cells})
    return {"backends": [(b, b in ran) for b in columns], "rows": rows, "notes": notes}


def summary_text(report) -> str:
    """A few lines for stdout."""
    matrix = summarize(report)
    lines = []
    for (model, backend), cell in sorted(matrix.items()):
        status = "DIVERGED" if cell["diverged"] else "FAIL" if cell["failed"] else "ok"
        lines.append(f"{model:<16} {backend:<10} {cell['passed']:>3} passed {cell['failed']:>3} failed"
                     f"{'  ' + str(cell['gaps']) + ' known gap(s)' if cell['gaps'] else ''}  {status}")
    failed = [c for c in report["checks"] if not c["passed"]]
    for c in failed:
        if is_diverged(c):
            lines.append(f"DIVERGED {c['model']}/{c['backend']} {c['check']}: {c['diverged']['message']}")
            continue
        value = "-" if c["value"] is None else f"{c['value']:.4g}"
        tol = "-" if c["tolerance"] is None else f"{c['tolerance']:.4g}"
        lines.append(f"FAILED {c['model']}/{c['backend']} {c['check']}: {value} > {tol} {c['unit']} ({c['reason'][:120]})")
    return "\n".join(lines)
