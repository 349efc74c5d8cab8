"""Example runs in the report: a generated PyNN script's recordings next to lifbridge's backends.

A script made by ``lifbridge generate --target pynn|spinnaker`` saves what it recorded as a
report whose one run has the protocol ``"example"`` (:mod:`lifbridge.pynn.example`): its
input in PyNN's terms, the spikes and the membrane potential. Here:

* :func:`stimulus_of` turns that input into a lifbridge :class:`~lifbridge.stimulus.Stimulus`
  by PyNN's rules (a spike sent at t over a delay d acts at t + d; a current source's
  amplitude holds from its time to the next);
* :func:`run_beside` runs the same input on a lifbridge backend (``lifbridge report
  RECORDS.json --beside spinnaker.emulated``), as a record of the same protocol;
* :func:`example_sections` compares, per model, every run with the recorded one (the first
  of the records): spike counts, the coincidence factor within one time step, the mean lag
  and the membrane potential's RMS difference, with a raster and a trace figure. It reads
  records only.

Spike times are compared as each simulator reports them: a backend whose PyNN module labels
a crossing one step differently (see each runner's ``TIMING``) shows it as a lag.
"""

from __future__ import annotations

import time

import numpy as np

from .. import backends as registry
from ..errors import BackendUnavailable, ParameterError
from ..records import Figure, Panel, RunRecord, Section, Series, Table, plain
from ..stimulus import SpikeTrain, Stimulus, piecewise_signal
from ..units import parse_unit

PROTOCOL = "example"
#: spike times within this many time steps are the same spike (Kistler's coincidence window)
WINDOW_STEPS = 1


def example_runs(report) -> list:
    """The runs of ``report`` that hold an example protocol."""
    return [run for run in report.runs if PROTOCOL in (run.protocols or {})]


def _model_of(run):
    from ..spec import load

    info = run.protocols[PROTOCOL]["info"]
    return load(info.get("model_reference") or run.model)


def _steps(times, amplitudes, duration_ms, factor=1.0):
    """(t0, t1, amplitude x factor) of a piecewise-constant source given as PyNN's times and amplitudes."""
    times = [float(t) for t in times]
    ends = times[1:] + [float(duration_ms)]
    return [(t0, t1, float(a) * factor) for t0, t1, a in zip(times, ends, amplitudes) if a]


def stimulus_of(run, model=None) -> Stimulus:
    """The input of the example ``run`` as a lifbridge stimulus (NEST's units and signs)."""
    model = model or _model_of(run)
    entry = run.protocols[PROTOCOL]
    info, n, dt, duration = entry["info"], len(entry["neurons"]), float(run.dt_ms), float(run.duration_ms)
    current = info.get("current") or {}
    current_pA = None
    if current.get("times_ms"):
        steps = _steps(current["times_ms"], current["amplitudes_nA"], duration,
                       parse_unit("nA").factor_to(parse_unit("pA")))
        current_pA = piecewise_signal(steps, duration, dt)
    light = None
    if info.get("light"):
        if model.light_input is None:
            raise ParameterError(f"example records of {run.model}: they hold a light input but the model has none; "
                                 f"give the records of the model that made them")
        given = info["light"]
        factor = parse_unit(given["unit"]).factor_to(model.inputs[model.light_input].unit)
        light = piecewise_signal(_steps(given["times_ms"], given["intensities"], duration, factor), duration, dt)
    trains = []
    for source in info.get("spikes") or []:
        receptor, port = source["receptor"], source["port"]
        if port not in model.spike_inputs:
            raise ParameterError(f"example records of {run.model}: spike port {port!r} is not an input of "
                                 f"{model.name}; give the records of the model that made them")
        unit = parse_unit(info["weight_units"][receptor])
        weight = float(source["weight"]) * unit.factor_to(model.inputs[port].unit)
        sign = model.spike_inputs[port].sign
        weight = -abs(weight) if sign == "inhibitory" else abs(weight) if sign == "excitatory" else weight
        for neuron, times in enumerate(source["times_ms"]):
            if len(times):
                trains.append(SpikeTrain(port, np.asarray(times, float) + float(source["delay_ms"]), weight, [neuron]))
    return Stimulus(bias_pA=np.zeros(n), current_pA=current_pA, light=light, signal_dt_ms=dt, spikes=trains)


def check_beside(run, backend: str):
    """BackendUnavailable (one line) if lifbridge backend ``backend`` cannot run the example ``run``'s model."""
    model = _model_of(run)
    capability = registry.require(backend).capability_of(model)
    if capability.support == registry.UNSUPPORTED:
        raise BackendUnavailable(f"--beside {backend}: {model.name} is not supported there ({capability.reason})")
    return model


def run_beside(run, backend: str, options=None) -> RunRecord:
    """The example ``run``'s input and parameters run on lifbridge backend ``backend``, as a record."""
    model = check_beside(run, backend)
    declared = registry.require(backend)
    stimulus = stimulus_of(run, model)
    entry = run.protocols[PROTOCOL]
    record = tuple(run.traces)
    started = time.perf_counter()
    result = declared.simulate(model, stimulus, duration_ms=float(run.duration_ms), dt_ms=float(run.dt_ms),
                               options=options, record=record, record_neurons=list(entry["neurons"]),
                               **entry["info"].get("parameters", {}))
    traces = {var: {"unit": unit, "t_ms": np.asarray(t).tolist(), "neurons": list(entry["neurons"]),
                    "values": [np.asarray(v).tolist() for v in values]}
              for var, (t, values, unit) in result.traces.items()}
    return RunRecord(model=run.model, backend=backend, kind="backend", dt_ms=float(run.dt_ms),
                     duration_ms=float(run.duration_ms), protocols=plain({PROTOCOL: entry}),
                     spike_times_ms=[np.round(np.asarray(s, float), 6).tolist() for s in result.spike_times_ms],
                     traces=plain(traces), versions={k: str(v) for k, v in declared.versions().items()},
                     wall_time_s=time.perf_counter() - started,
                     diverged=result.diverged.as_record() if result.diverged is not None else None)


# ---------------------------------------------------------------------------- the comparison
def compare(recorded, other) -> dict:
    """``other`` against ``recorded`` (two example runs of one input): spike counts, Kistler's
    coincidence factor within ``WINDOW_STEPS`` steps (mean over neurons), the matched fraction,
    the mean lag (ms) and the membrane potential's RMS difference on the recorded samples."""
    from ..judge.compare import coincidence_factor

    window = WINDOW_STEPS * float(recorded.dt_ms)
    gammas, matched, lags = [], [], []
    for data, model in zip(recorded.spike_times_ms, other.spike_times_ms):
        c = coincidence_factor(data, model, float(recorded.duration_ms), window)
        gammas.append(c["gamma"])
        if c["matched_fraction"] is not None:
            matched.append(c["matched_fraction"])
        if c["mean_lag_ms"] is not None:   # a lag exists only where a spike matched
            lags.append(c["mean_lag_ms"])
    rms = None
    var = next((v for v in recorded.traces if v in other.traces), None)
    if var is not None:
        a, b = recorded.traces[var], other.traces[var]
        diffs = []
        for ra, rb in zip(a["values"], b["values"]):
            ta, tb = np.asarray(a["t_ms"], float), np.asarray(b["t_ms"], float)
            inside = (ta >= tb[0]) & (ta <= tb[-1])
            if inside.any():
                diffs.append(np.asarray(ra, float)[inside] - np.interp(ta[inside], tb, np.asarray(rb, float)))
        if diffs:
            rms = float(np.sqrt(np.mean(np.concatenate(diffs) ** 2)))
    spikes = sum(len(s) for s in other.spike_times_ms)
    n = max(len(other.spike_times_ms), 1)
    return {"spikes": spikes, "rate_hz": spikes / n / (float(other.duration_ms) * 1e-3),
            "gamma": float(np.nanmean(gammas)) if gammas else None,
            "matched": float(np.nanmean(matched)) if matched else None,
            "lag_ms": float(np.mean(lags)) if lags else None, "rms_mV": rms, "trace": var,
            "window_ms": window}


def example_sections(report) -> list:
    """One section per model with example runs: every run compared with the first (the recording)."""
    by_model = {}
    for run in example_runs(report):
        by_model.setdefault(run.model, []).append(run)
    sections = []
    for model, runs in by_model.items():
        recorded = runs[0]
        rows, numbers = [], []
        for run in runs:
            if run.diverged:
                rows.append([run.backend, None, None, None, None, None, None, "diverged"])
                continue
            c = compare(recorded, run)
            rows.append([run.backend, c["spikes"], c["rate_hz"], c["gamma"], c["matched"] * 100 if c["matched"]
                         is not None else None, c["lag_ms"], c["rms_mV"], ""])
            if run is not recorded:
                numbers.append({"name": f"gamma_{run.backend}", "label": f"coincidence factor of {run.backend} "
                                f"with {recorded.backend}", "value": c["gamma"], "unit": ""})
        window = WINDOW_STEPS * float(recorded.dt_ms)
        table = Table(name=f"example_{model}", title=f"{model}: the example script's input on every run, "
                      f"against {recorded.backend}'s recording",
                      columns=[["run", ""], ["spikes", ""], ["mean rate", "Hz"],
                               [f"coincidence factor (window {window:g} ms)", ""], ["spikes matched", "%"],
                               ["mean lag", "ms"], ["membrane RMS difference", "mV"], ["note", ""]],
                      rows=rows)
        text = [f"The example script's input (a current step and random input spikes from a fixed seed, dt = "
                f"{float(recorded.dt_ms):g} ms, {float(recorded.duration_ms):g} ms) as {recorded.backend} recorded it, "
                f"and the same input on {', '.join(r.backend for r in runs[1:]) or 'no other backend'} "
                f"(lifbridge report --beside). Spike times are compared as each simulator reports them."]
        sections.append(Section(name=f"example:{model}", title=f"{model}: example script runs", model=model,
                                text=text, numbers=numbers, tables=[table], figures=[_figure(model, runs)]))
    return sections


_COLORS = ("black", "tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def _figure(model, runs) -> Figure:
    raster, trace = [], []
    rows = max(len(r.spike_times_ms) for r in runs)
    for k, run in enumerate(runs):
        color = _COLORS[k % len(_COLORS)]
        for i, spikes in enumerate(run.spike_times_ms):
            raster.append(Series("raster", x=list(spikes), y=[k * (rows + 1) + i],
                                 label=run.backend if i == 0 else None, style={"color": color}))
        var = next(iter(run.traces), None)
        if var is not None:
            data = run.traces[var]
            trace.append(Series("line", x=data["t_ms"], y=data["values"][0], label=run.backend,
                                style={"color": color, "lw": 1.0}))
    panels = [Panel(title="spikes (each run a block of neurons)", x_label="time (ms)", y_label="neuron of a run",
                    series=raster)]
    if trace:
        var = next(iter(runs[0].traces))
        panels.append(Panel(title="membrane potential of neuron 0", x_label="time (ms)",
                            y_label=f"{var} ({runs[0].traces[var]['unit']})", series=trace))
    return Figure(name=f"example_{model}", title=f"{model}: example script", rows=len(panels), cols=1,
                  width=10.0, height=3.2 * len(panels), panels=panels)
