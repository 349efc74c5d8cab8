"""Runs every protocol of every model on every backend and collects plain records.

``validate()`` returns a :class:`lifbridge.records.Report`: ``runs`` (what each backend
and the reference produced), ``checks`` (every comparison with value, tolerance,
pass/fail and reason), ``extras`` (the Siegert and HH-equivalent sections) and
``versions``. :mod:`lifbridge.validation.report` turns it into files.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from .. import __version__
from ..records import KnownGap, Report, RunRecord, Section, failure_check, gap_check, plain
from .. import backends as registry
from ..spec import bundled_models, load
from ..stimulus import first_isi_rate, steady_rate
from .checks import all_checks, diverged_record, siegert_checks, spike_input_checks
from .protocols import build_batch, siegert_batch, spike_input_batch
from .references import analytic_fi, late_release_reference, reference_batch, siegert_reference
from .tolerances import all_known_gaps, all_tolerances, known_gap

TRACE_STRIDE = 5  # keep every 5th sample of recorded traces in the records


class Progress:
    """A one-line progress bar on stderr (only when stderr is a terminal, else one line per step)."""

    def __init__(self, total, enabled=True):
        self.total, self.done, self.enabled = total, 0, enabled
        self.started = time.perf_counter()
        self.tty = sys.stderr.isatty()

    def step(self, text):
        if not self.enabled:
            return
        self.done += 1
        elapsed = time.perf_counter() - self.started
        width = 24
        filled = int(width * self.done / max(self.total, 1))
        line = f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} {elapsed:5.0f}s {text}"
        if self.tty:
            sys.stderr.write("\r" + line[:110].ljust(110))
            sys.stderr.flush()
        else:
            print(line, file=sys.stderr, flush=True)

    def close(self):
        if self.enabled and self.tty:
            sys.stderr.write("\n")


def run_record(batch, result, kind):
    """The plain record of one run (a backend's or the reference's)."""
    protocols = {}
    for protocol in batch.protocols:
        entry = {"neurons": list(protocol.neurons), "info": plain(protocol.info)}
        if protocol.name in ("fi",):
            spikes = [result.spike_times_ms[i] for i in protocol.neurons]
            entry["steady_rate_hz"] = [steady_rate(s, batch.duration_ms) for s in spikes]
            entry["first_isi_rate_hz"] = [first_isi_rate(s) for s in spikes]
        protocols[protocol.name] = entry
    traces = {}
    for var, (t, values, unit) in result.traces.items():
        traces[var] = {"unit": unit, "t_ms": np.asarray(t)[::TRACE_STRIDE].tolist(),
                       "neurons": list(batch.record_neurons),
                       "values": [np.asarray(v)[::TRACE_STRIDE].tolist() for v in values]}
    return RunRecord(model=batch.model.name, backend=result.backend, kind=kind, dt_ms=result.dt_ms,
                     duration_ms=batch.duration_ms, protocols=plain(protocols),
                     bias_pA=np.asarray(batch.stimulus.bias_pA).tolist(),
                     spike_times_ms=[np.round(np.asarray(s, dtype=float), 6).tolist() for s in result.spike_times_ms],
                     traces=plain(traces), versions={k: str(v) for k, v in result.versions.items()},
                     wall_time_s=result.wall_time_s,
                     diverged=result.diverged.as_record() if result.diverged is not None else None)


DEFAULT_DT_MS = 0.1


def validate(models=None, backends=None, *, quick=False, progress=True, dt_ms=None, include_siegert=True,
             include_hh_equivalent=True, backend_options=None, spike_input=None):
    """Validate ``models`` (default: all bundled) on ``backends`` (default: the installed backends
    that run in full validations, ``Backend.in_full_runs``; quick: those of ``in_quick_runs``).

    ``spike_input``: the models that run the spike-input protocol (single spikes through
    every port, frozen Poisson input): by default every composition
    (:func:`lifbridge.compositions`) when ``models`` is None and not ``quick``, else
    ``models``; ``()`` for none.

    ``dt_ms``: the time step of every run; by default 0.1 ms, or the model's
    ``validation_dt_ms`` hint where its integration scheme needs a finer step.
    ``backend_options``: backend name -> run options (e.g. a code generation target), checked
    by the backend; unset options take the backend's defaults for quick or full runs.
    """
    names = list(models) if models else bundled_models()
    loaded = [m if hasattr(m, "parameters") else load(m) for m in names]
    if spike_input is None:
        from ..compose import compositions

        spike_input = compositions() if models is None and not quick else [m for m in loaded if m.spike_inputs]
    spiking = [m if hasattr(m, "parameters") else load(m) for m in spike_input]
    if backends is None:
        backends = [b for b in registry.available() if registry.get(b).in_quick_runs] if quick \
            else [b for b in registry.available() if registry.get(b).in_full_runs]
    # fails early, with the install hint, if one is missing; options are checked by their backend
    options = {b: registry.require(b).run_options((backend_options or {}).get(b), validation=True, quick=quick)
               for b in backends}
    # checks are chosen by what a model declares: the Siegert theory judges the models whose
    # closed form is the LIF's ([hints].analytic), the HH-derived equivalents are measured on
    # the model declared the biophysical reference ([hints].role)
    from ..judge import is_biophysical_reference

    lif_like = [m for m in loaded if _siegert_applies(m)]
    stepped = {m.name: [b for b in backends if registry.get(b).report_time_steps and _supports(b, m)] for m in loaded}
    biophysical = next((m for m in loaded if is_biophysical_reference(m)), None) if include_hh_equivalent else None
    total = len(loaded) * (1 + len(backends)) + (len(lif_like) * len(backends) if include_siegert else 0) \
        + (1 if biophysical is not None else 0) + len(spiking) * (1 + len(backends)) \
        + sum(len(b) for b in stepped.values())
    spread = {m.name: [b for b in backends if registry.get(b).mismatch_options and _supports(b, m)] for m in loaded}
    total += sum(len(b) for b in spread.values())
    bar = Progress(total, progress)
    runs, checks, extras = [], [], []
    versions = {"lifbridge": __version__, "python": platform.python_version(), "numpy": np.__version__}
    batches = []
    for model in loaded:
        model_dt = dt_ms or float(model.hints.get("validation_dt_ms", DEFAULT_DT_MS))
        batches.append(build_batch(model, quick=quick, dt_ms=model_dt))
    # The reference integrator runs in worker processes while this process runs the
    # backends: with two cores the judge costs almost no extra wall time.
    workers = max(1, min(len(batches), (os.cpu_count() or 2) - 1))
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    pending = {batch.model.name: pool.submit(_timed_reference, batch) for batch in batches}
    spike_batches = [spike_input_batch(m, quick=quick, dt_ms=dt_ms or float(m.hints.get("validation_dt_ms",
                                                                                            DEFAULT_DT_MS)))
                     for m in spiking]
    spike_pending = [pool.submit(_timed_reference, batch) for batch in spike_batches]
    hh_future = None
    if biophysical is not None:
        from ..judge import hh_equivalent

        hh_future = pool.submit(hh_equivalent, biophysical, quick=quick, progress=None)
    for model, batch in zip(loaded, batches):
        model_dt = batch.dt_ms
        results = _run_batch(batch, backends, options, bar, versions, checks, "run", "")
        bar.step(f"{model.name}: reference integrator")
        try:
            reference, late_release = pending[model.name].result()
        except Exception as error:  # a failed judge is a failed check, not a crash
            checks.append(_failure_record(model.name, "reference", "reference_run", error))
            continue
        if reference.diverged is not None:
            # without a judge the backends cannot be checked: their runs are kept, unjudged
            checks.append(diverged_record(model.name, "reference", "reference_run", reference.diverged,
                                          "reference integration"))
            runs.extend(run_record(batch, result, "backend") for result in results)
            continue
        runs.append(run_record(batch, reference, "reference"))
        closed = analytic_fi(model, batch.protocol("fi").info["currents_pA"])
        if closed is not None:
            runs[-1].protocols["fi"]["closed_form_rate_hz"] = plain(closed)
        for result in results:
            runs.append(run_record(batch, result, "backend"))
            checks.extend(all_checks(batch, result, reference, late_release))
        if include_siegert and _siegert_applies(model):
            sbatch = siegert_batch(model, quick=quick, dt_ms=model_dt)
            points = [list(p) for p in sbatch.protocol("siegert").info["points"]]
            extras.append(Section(
                name="siegert", title="LIF with white-noise input vs Siegert theory", model=model.name,
                data={"points_mV": points, "dt_ms": model_dt,
                      "theory_hz": [float(siegert_reference(model, p[0], p[1], model_dt)) for p in points]}))
            for backend in backends:
                bar.step(f"{model.name}: {backend} white noise (Siegert)")
                try:
                    runner = registry.require(backend).runner_module()
                    result = runner.simulate(model, sbatch.stimulus, duration_ms=sbatch.duration_ms,
                                             dt_ms=sbatch.dt_ms, **options.get(backend, {}))
                except Exception as error:
                    checks.append(_failure_record(model.name, backend, "siegert_run", error))
                    continue
                if result.diverged is not None:
                    checks.append(diverged_record(model.name, backend, "siegert_run", result.diverged))
                    continue
                checks.extend(siegert_checks(sbatch, result))
        for backend in stepped[model.name]:
            bar.step(f"{model.name}: {backend} at its time steps")
            try:
                from .time_steps import time_step_part

                section, step_checks = time_step_part(model, backend, quick=quick, options=options.get(backend, {}))
                extras.append(section)
                checks.extend(step_checks)
            except Exception as error:  # a failed measurement is a failed check, not a crash
                checks.append(_failure_record(model.name, backend, "time_steps", error))
        for backend in spread[model.name]:
            bar.step(f"{model.name}: {backend} across emulated neurons")
            try:
                from .mismatch import mismatch_part

                section, spread_checks = mismatch_part(model, backend, quick=quick, options=options.get(backend, {}))
                extras.append(section)
                checks.extend(spread_checks)
            except Exception as error:  # a failed measurement is a failed check, not a crash
                checks.append(_failure_record(model.name, backend, "mismatch", error))
    if spike_batches:
        spike_checks = _spike_input_part(spike_batches, spike_pending, backends, options, bar, versions)
        checks.extend(spike_checks)
        extras.append(_spike_input_section(spike_batches, spike_checks, backends))
    if hh_future is not None:
        bar.step(f"{biophysical.name}: HH-derived equivalent models")
        try:
            from .hh_section import hh_section

            result = hh_future.result()
            section = hh_section(result)
            extras.append(section)
            # check records already, their known gaps rows of the one table (tolerances.py)
            checks.extend(result["checks"])
        except Exception as error:
            checks.append(_failure_record(biophysical.name, "reference", "hh_equivalent", error))
    pool.shutdown()
    bar.close()
    return _as_report({"config": {"models": [m.name for m in loaded], "backends": list(backends), "quick": quick,
                       "descriptions": {m.name: m.description for m in loaded},
                       "backend_options": options,
                       # what every registered backend declares for each model (exact / approximate /
                       # unsupported), run here or not: the report's capability matrix
                       "capabilities": [c.as_record() for c in registry.capabilities(loaded)],
                       "dt_ms": dt_ms or DEFAULT_DT_MS,
                       "dt_ms_per_model": {m.name: dt_ms or float(m.hints.get("validation_dt_ms", DEFAULT_DT_MS))
                                           for m in loaded}},
            "versions": versions, "runs": runs, "checks": checks, "extras": extras,
            "tolerances": [t.__dict__ for t in all_tolerances()], "known_gaps": [g.__dict__ for g in all_known_gaps()]})


def _run_batch(batch, backends, options, bar, versions, checks, check, step_label) -> list:
    """Run ``batch`` on every backend; returns the healthy results. A known gap, a backend
    failure or a diverged run becomes a check record named ``check`` in ``checks``
    (never a crash, never judged)."""
    model = batch.model
    results = []
    for backend in backends:
        bar.step(f"{model.name}: {backend}{step_label}")
        gap = known_gap(model.name, backend, "*")
        if gap is not None:
            checks.append(gap_check(model.name, backend, gap.reason))
            continue
        try:
            runner = registry.require(backend).runner_module()
            result = runner.simulate(model, batch.stimulus, duration_ms=batch.duration_ms, dt_ms=batch.dt_ms,
                                     record=batch.record, record_neurons=batch.record_neurons,
                                     **options.get(backend, {}))
        except Exception as error:  # a backend failure is a failed check, not a crash
            checks.append(_failure_record(model.name, backend, check, error))
            continue
        versions.update(result.versions)
        if result.diverged is not None:  # reported as such, never judged
            checks.append(diverged_record(model.name, backend, check, result.diverged))
            continue
        results.append(result)
    return results


def _spike_input_part(batches, pending, backends, options, bar, versions) -> list:
    """The check records of the spike-input protocol of every batch on every backend (the
    runs themselves are not kept: the checks and the section carry the numbers)."""
    checks = []
    for batch, future in zip(batches, pending):
        model = batch.model
        results = _run_batch(batch, backends, options, bar, versions, checks, "spike_input_run", " spike input")
        bar.step(f"{model.name}: reference integrator (spike input)")
        try:
            reference, late_release = future.result()
        except Exception as error:
            checks.append(_failure_record(model.name, "reference", "spike_input_reference", error))
            continue
        if reference.diverged is not None:
            checks.append(diverged_record(model.name, "reference", "spike_input_reference", reference.diverged,
                                          "reference integration"))
            continue
        checks.extend(spike_input_checks(batch, reference, reference))
        for result in results:
            checks.extend(spike_input_checks(batch, result, reference, late_release))
    return checks


def _spike_input_section(batches, checks, backends) -> Section:
    """The spike-input protocol's part of the report: its text; the table (one row per model
    and backend) is drawn from the check records (:func:`lifbridge.validation.report.spike_input_table`),
    so reports merged from several files show every row."""
    text = ["Every model receives one spike through each port at rest (the current or conductance against its "
            "closed form, peak = weight as in NEST; the membrane potential against the LIF's closed form where "
            "it has one, else the reference integrator) and frozen Poisson trains through every port (spike "
            "times against the reference, bracketed as for frozen noise). Worst value per model and backend; "
            "every check with its tolerance is in report.json."]
    return Section(name="spike_input", title="Spike input through every port (every composition)", text=text,
                   data={"models": [b.model.name for b in batches],
                         "duration_ms": batches[0].duration_ms if batches else None})


def _as_report(parts) -> Report:
    """The :class:`lifbridge.records.Report` of the parts of a validation."""
    return Report(config=plain(parts["config"]), versions={k: str(v) for k, v in parts["versions"].items()},
                  runs=parts["runs"], checks=parts["checks"], extras=parts["extras"],
                  tolerances=[plain(t) for t in parts["tolerances"]],
                  known_gaps=[KnownGap(**g) for g in parts["known_gaps"]],
                  capabilities=plain(parts.get("capabilities", [])))


SIEGERT_PARAMETERS = ("C_m", "tau_m", "E_L", "V_th", "V_reset", "t_ref")


def _supports(backend: str, model) -> bool:
    """Whether ``backend`` runs ``model`` (its capability is not "unsupported")."""
    from ..backends import UNSUPPORTED

    try:
        return registry.get(backend).capability_of(model).support != UNSUPPORTED
    except Exception:  # noqa: BLE001 - a backend that cannot say does not run it
        return False


def _siegert_applies(model) -> bool:
    """The Siegert rate (LIF under white noise) judges the models whose declared closed form is the LIF's
    and that have the LIF's parameters (``lif_cond`` declares the LIF's f-I curve without input, but its
    membrane time constant is not a parameter and conductance input is not white noise)."""
    return model.hints.get("analytic") == "lif" and all(name in model.parameters for name in SIEGERT_PARAMETERS)


def _timed_reference(batch):
    """(the reference result, the late-release reference of the frozen-noise neurons or None)."""
    started = time.perf_counter()
    reference = reference_batch(batch)
    reference.wall_time_s = time.perf_counter() - started
    if reference.diverged is not None:
        return reference, None
    return reference, late_release_reference(batch)


def _failure_record(model, backend, check, error):
    return failure_check(model, backend, check, error, traceback.format_exc(limit=6))
