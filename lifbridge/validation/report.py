"""Writing the validation report: report.json, PNG figures and index.html.

Reads only the plain records of :func:`lifbridge.validation.harness.validate` (or
records made elsewhere, e.g. on neuromorphic hardware, in the same format); imports
no simulator.
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..divergence import strict


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


def write_report(report, out_dir) -> Path:
    """Write report.json, figures and index.html into ``out_dir``; returns the HTML path."""
    import matplotlib

    matplotlib.use("Agg")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # strict JSON: a non-finite number (a diverged trace) is written as null
    (out / "report.json").write_text(json.dumps(strict(report), indent=1, default=_default, allow_nan=False))
    figures = defaultdict(list)
    runs_by_model = defaultdict(list)
    for run in report["runs"]:
        runs_by_model[run["model"]].append(run)
    checks_by_model = defaultdict(list)
    for check in report["checks"]:
        checks_by_model[check["model"]].append(check)
    for model, runs in runs_by_model.items():
        for maker in (fi_figure, step_figure, noise_figure, light_figure):
            name = maker(model, runs, checks_by_model[model], out)
            if name:
                figures[model].append(name)
    extras = report.get("extras", {})
    if "siegert" in extras:
        figures["lif"].append(siegert_figure(extras["siegert"], out))
    if "hh_equivalent" in extras and extras["hh_equivalent"].get("figure"):
        figures["hh"].append(extras["hh_equivalent"]["figure"])
    page = render_html(report, figures)
    (out / "index.html").write_text(page)
    return out / "index.html"


def _default(obj):
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.bool_):
        return bool(obj)
    return str(obj)


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
    if ref is None or "step" not in ref["protocols"] or "V_m" not in ref["traces"]:
        return None
    neurons = ref["protocols"]["step"]["neurons"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
    for ax, neuron, label in zip(axes, neurons, ("subthreshold", "suprathreshold")):
        for run in runs:
            trace = run["traces"].get("V_m")
            if not trace or neuron not in trace["neurons"]:
                continue
            row = trace["neurons"].index(neuron)
            ax.plot(trace["t_ms"], trace["values"][row], color=_color(run["backend"]),
                    lw=2.5 if run["kind"] == "reference" else 1, alpha=0.7, label=run["backend"])
        ax.set(title=f"{model}: {label} step", xlabel="t [ms]", ylabel="V_m [mV]")
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
    if ref is None or "light_pulse" not in ref["protocols"] or "O" not in ref["traces"]:
        return None
    info = ref["protocols"]["light_pulse"]["info"]
    neurons = ref["protocols"]["light_pulse"]["neurons"]
    fig, (ax_o, ax_v) = plt.subplots(2, 1, figsize=(11, 5), sharex=True)
    for run in runs:
        trace = run["traces"].get("O")
        if trace and neurons[0] in trace["neurons"]:
            ax_o.plot(trace["t_ms"], trace["values"][trace["neurons"].index(neurons[0])], color=_color(run["backend"]),
                      lw=2.5 if run["kind"] == "reference" else 1, label=run["backend"])
        v = run["traces"].get("V_m")
        if v and neurons[1] in v["neurons"]:
            ax_v.plot(v["t_ms"], v["values"][v["neurons"].index(neurons[1])], color=_color(run["backend"]),
                      lw=1.5 if run["kind"] == "reference" else 0.8, alpha=0.8, label=run["backend"])
    for ax in (ax_o, ax_v):
        ax.axvspan(info["t0_ms"], info["t1_ms"], color="gold", alpha=0.15)
    ax_o.set(ylabel="open fraction O", title=f"{model}: light pulse {info['intensity']} {info['unit']} "
             "(peak, then desensitized plateau)")
    ax_v.set(xlabel="t [ms]", ylabel="V_m [mV]", title=f"with {info['bias_pA'][1]:.0f} pA bias: adapting firing")
    ax_o.legend(fontsize=7)
    return _save(fig, out, f"light_{model}.png")


def siegert_figure(siegert, out):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    points = [tuple(p) for p in siegert["points"]]
    sigmas = sorted({p[1] for p in points})
    for sigma in sigmas:
        mus = [p[0] for p in points if p[1] == sigma]
        ax.plot(mus, [siegert["theory_hz"][str(tuple(p))] for p in points if p[1] == sigma], "-", color="black",
                alpha=0.4 + 0.6 * sigma / max(sigmas), label=f"Siegert, sigma = {sigma:g} mV")
    for backend, details in siegert["backends"].items():
        pts = [tuple(p) for p in details["points_mV"]]
        ax.errorbar([p[0] for p in pts], details["rate_hz"], yerr=2 * np.asarray(details["standard_error_hz"]),
                    fmt="o", color=_color(backend), mfc="none", label=f"{backend} (±2 SE)")
    ax.set(xlabel="mu [mV above E_L]", ylabel="rate [Hz]", title="LIF with white-noise input vs Siegert theory")
    ax.legend(fontsize=7)
    return _save(fig, out, "siegert.png")


# ---------------------------------------------------------------------------- HTML
_CSS = """
body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em;color:#222}
table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;padding:3px 7px;font-size:13px}
.pass{background:#d8f5d0}.fail{background:#f8d0d0}.gap{background:#eee}.diverged{background:#e9c4f0}
img{max-width:100%;border:1px solid #ddd;margin:4px 0}code{background:#f4f4f4}
"""


def render_html(report, figures) -> str:
    esc = html.escape
    matrix = summarize(report)
    models = report["config"]["models"]
    backends = sorted({b for (_, b) in matrix})
    failed = sum(1 for c in report["checks"] if not c["passed"])
    total = sum(1 for c in report["checks"] if not is_gap(c))
    gaps = sum(1 for c in report["checks"] if is_gap(c))
    diverged = sum(1 for c in report["checks"] if is_diverged(c))
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>lifbridge validation report</title>"
             f"<style>{_CSS}</style></head><body>",
             "<h1>lifbridge validation report</h1>",
             f"<p><b>{total - failed} of {total} checks passed</b>"
             f"{' &mdash; ' + str(failed) + ' failed' if failed else ''}"
             f"{' (' + str(diverged) + ' of them diverged: a state became non-finite or ran away)' if diverged else ''}"
             f"{'; ' + str(gaps) + ' known gap(s) listed with their reasons' if gaps else ''}. Models: {esc(', '.join(models))}. "
             f"Backends: {esc(', '.join(report['config']['backends']))}. Time step {report['config']['dt_ms']} ms"
             f"{' (quick run: short, coarse sweeps)' if report['config']['quick'] else ''}.</p>",
             "<p>Every backend is judged against references independent of all backends: closed-form f-I curves "
             "where they exist (LIF, PIF, Siegert), otherwise a high-precision reference integrator that reads the "
             "model spec itself (adaptive DOP853 with exact event location, reset and refractory handling). "
             "A check passes when the error is within its tolerance; every tolerance and its reason is in the "
             "table at the end.</p>",
             "<h2>Pass/fail matrix</h2><table><tr><th>model</th>" + "".join(f"<th>{esc(b)}</th>" for b in backends)
             + "</tr>"]
    for model in models + [m for m in {m for (m, _) in matrix} if m not in models]:
        row = [f"<td><a href='#{esc(model)}'>{esc(model)}</a></td>"]
        for backend in backends:
            cell = matrix.get((model, backend))
            if not cell:
                row.append("<td></td>")
                continue
            cls = "diverged" if cell["diverged"] else "fail" if cell["failed"] else (
                "gap" if not cell["passed"] else "pass")
            text = f"{cell['passed']}/{cell['passed'] + cell['failed']} passed"
            if cell["gaps"]:
                text += f", {cell['gaps']} known gap(s)"
            if cell["diverged"]:
                text = f"DIVERGED: {esc(cell['diverged_text'])}; " + text
            row.append(f"<td class='{cls}'>{text}</td>")
        parts.append("<tr>" + "".join(row) + "</tr>")
    parts.append("</table>")
    parts.append("<h2>How to read this report</h2><ul>"
                 "<li><b>f-I curve</b>: black line = the judge (closed form or reference integrator), dotted = "
                 "reference first-ISI rate; circles = backend steady-state rate, crosses = backend first-ISI rate. "
                 "The right panel shows |error| per current against the tolerance (dashed).</li>"
                 "<li><b>step</b>: membrane potential under a subthreshold and a suprathreshold current step.</li>"
                 "<li><b>frozen noise</b>: spike rasters under the same noisy current on every backend; the check "
                 "counts spikes without a partner within the window.</li>"
                 "<li><b>Siegert</b>: LIF rate under white noise against the mean first-passage-time theory.</li></ul>")
    by_model = defaultdict(list)
    for check in report["checks"]:
        by_model[check["model"]].append(check)
    for model in models:
        parts.append(f"<h2 id='{esc(model)}'>{esc(model)}</h2>")
        for fig in figures.get(model, []):
            parts.append(f"<img src='{esc(fig)}' alt='{esc(fig)}'>")
        parts.append("<table><tr><th>backend</th><th>check</th><th>value</th><th>tolerance</th><th>result</th>"
                     "<th>reason</th></tr>")
        for c in by_model.get(model, []):
            cls = "gap" if is_gap(c) else "diverged" if is_diverged(c) else ("pass" if c["passed"] else "fail")
            value = "" if c["value"] is None else f"{c['value']:.4g} {esc(c['unit'])}"
            tol = "" if c["tolerance"] is None else f"{c['tolerance']:.4g} {esc(c['unit'])}"
            result = "known gap" if is_gap(c) else "DIVERGED" if is_diverged(c) else ("pass" if c["passed"] else "FAIL")
            reason = c["known_gap"] if c.get("known_gap") else c["reason"]
            parts.append(f"<tr class='{cls}'><td>{esc(c['backend'])}</td><td>{esc(c['check'])}</td><td>{value}</td>"
                         f"<td>{tol}</td><td>{result}</td><td>{esc(reason)}</td></tr>")
        parts.append("</table>")
    hh = report.get("extras", {}).get("hh_equivalent")
    if hh and hh.get("summary_html"):
        parts.append(hh["summary_html"])
    parts.append("<h2>Tolerances and known gaps</h2><table><tr><th>check</th><th>model</th><th>backend</th>"
                 "<th>steps</th><th>rel</th><th>abs</th><th>reason</th></tr>")
    for t in report["tolerances"]:
        parts.append(f"<tr><td>{esc(t['check'])}</td><td>{esc(t['model'])}</td><td>{esc(t['backend'])}</td>"
                     f"<td>{t['steps']}</td><td>{t['rel']}</td><td>{t['abs']}</td><td>{esc(t['reason'])}</td></tr>")
    parts.append("</table><table><tr><th>model</th><th>backend</th><th>protocol</th><th>known gap</th></tr>")
    for g in report["known_gaps"]:
        parts.append(f"<tr class='gap'><td>{esc(g['model'])}</td><td>{esc(g['backend'])}</td>"
                     f"<td>{esc(g['protocol'])}</td><td>{esc(g['reason'])}</td></tr>")
    parts.append("</table><h2>Software versions</h2><table>")
    for k, v in sorted(report["versions"].items()):
        parts.append(f"<tr><td>{esc(str(k))}</td><td>{esc(str(v))}</td></tr>")
    parts.append("</table></body></html>")
    return "\n".join(parts)


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
