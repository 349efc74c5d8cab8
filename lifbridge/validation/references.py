"""The judge: analytic theory and the reference integrator, for a batch of protocols.

Nothing here imports a simulator. Reference integrator results are deterministic,
so they are cached on disk by a hash of the model and the batch.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from .. import analytic
from ..cache import cache_root, rebuild_note
from ..divergence import merge
from ..records import dumps
from .. import expr as ex
from ..stimulus import SimResult
from .protocols import Batch

CACHE_FORMAT = "reference-v1"


def model_fingerprint(model) -> str:
    """A hash of everything that defines the model's dynamics and parameter values."""
    parts = [model.name]
    parts += [f"p {n}={p.value!r} {p.unit.name}" for n, p in model.parameters.items()]
    parts += [f"s {n} {s.unit.name} {s.initial if isinstance(s.initial, float) else ex.to_text(s.initial)}"
              for n, s in model.state.items()]
    parts += [f"a {n}={ex.to_text(a.expr)}" for n, a in model.aliases.items()]
    parts += [f"e {n}={ex.to_text(e)}" for n, e in model.equations.items()]
    if model.spike:
        parts.append("spike " + ex.to_text(model.spike.condition))
        parts += [f"reset {a.target}{a.op}{ex.to_text(a.value)}" for a in model.spike.reset]
    if model.refractory:
        parts.append(f"refractory {ex.to_text(model.refractory.period)} {model.refractory.clamp}")
    for name, port in model.inputs.items():
        parts.append(f"in {name} {port.kind} {port.unit.name} "
                     + ";".join(f"{a.target}{a.op}{ex.to_text(a.value)}" for a in port.on_spike))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def cache_dir() -> Path:
    return cache_root() / "reference"


def late_release_model(model, dt_ms):
    """``model`` with its refractory period one step longer, or None if it clamps nothing.

    A clock-driven simulator finds a spike at the first grid point after the crossing
    and releases the clamp t_ref after that grid point, i.e. between t_ref and
    t_ref + dt after the true crossing. The reference with the exact period and this one
    bracket every such simulator: a spike on which the two disagree grazes the threshold
    and may go either way on the grid.
    """
    if model.refractory is None or not model.refractory.clamp:
        return None
    step = ex.BinOp("*", ex.Num(float(dt_ms)), ex.UnitLit("ms"))
    return replace(model, refractory=replace(model.refractory,
                                             period=ex.BinOp("+", model.refractory.period, step)))


#: Protocols whose spike times are judged against two bracketing references.
BRACKETED_PROTOCOLS = ("frozen_noise", "poisson")


def late_release_reference(batch: Batch, use_cache=True):
    """The reference of the frozen-noise and Poisson-input neurons with the clamp released one
    step later (:func:`late_release_model`), or None where there is no such bracket."""
    late = late_release_model(batch.model, batch.dt_ms)
    neurons = [i for name in BRACKETED_PROTOCOLS if batch.protocol(name) for i in batch.protocol(name).neurons]
    if late is None or not neurons:
        return None
    result = reference_batch(replace(batch, model=late), use_cache=use_cache, neurons=neurons)
    return result if result.diverged is None else None


def reference_batch(batch: Batch, use_cache=True, neurons=None) -> SimResult:
    """The reference integrator's result for every neuron of ``batch`` (exact spike times).

    ``neurons``: compute only these (the others get no spikes and no traces).
    """
    only = None if neurons is None else sorted(int(i) for i in neurons)
    key = hashlib.sha256(json.dumps([CACHE_FORMAT, model_fingerprint(batch.model), batch.describe(), only],
                                    sort_keys=True).encode()).hexdigest()
    path = cache_dir() / f"{batch.model.name}-{key[:24]}.json"
    if use_cache and path.exists():
        try:
            return _load(path)
        except (OSError, ValueError, KeyError, TypeError) as error:
            rebuild_note(f"reference result {path.name}",
                         f"cached result damaged ({type(error).__name__}: {str(error)[:80]})", rebuilding=True)
    result = _compute(batch, only)
    if use_cache and result.diverged is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(dumps(_dump(result)))  # strict JSON: a non-finite sample is null, read back as nan
        os.replace(tmp, path)
    return result


def _compute(batch: Batch, only=None) -> SimResult:
    from ..reference import reference_simulate

    stim = batch.stimulus
    n = stim.n
    spike_times = [None] * n
    if only is not None:
        skipped = set(range(n)) - set(only)
        for i in skipped:
            spike_times[i] = np.zeros(0)
    diverged = {}  # neuron -> Event
    record_times = np.arange(int(round(batch.duration_ms / batch.dt_ms))) * batch.dt_ms
    traces = {var: np.full((len(batch.record_neurons), len(record_times)), np.nan) for var in batch.record}
    # neurons without time-varying input are simulated together, the others one by one
    plain = [i for i in range(n) if spike_times[i] is None and not _varies(stim.current_pA, i)
             and not _varies(stim.light, i) and not stim.spikes_of(i)]
    if plain:
        result = reference_simulate(batch.model, duration_ms=batch.duration_ms, bias_pA=stim.bias_pA[plain])
        for j, i in enumerate(plain):
            spike_times[i] = np.asarray(result.spike_times_ms[j])
        for event in (result.diverged.events if result.diverged else []):
            diverged[plain[event.neuron]] = replace(event, neuron=plain[event.neuron])
    for i in range(n):
        if only is not None and i not in only:
            continue
        if spike_times[i] is not None and i not in batch.record_neurons:
            continue
        kwargs = {}
        if _varies(stim.current_pA, i):
            kwargs["current"] = np.asarray(stim.current_pA)[:, i]
        if _varies(stim.light, i):
            kwargs["light"] = np.asarray(stim.light)[:, i]
        if stim.spikes_of(i):
            kwargs["spikes"] = stim.spikes_of(i)
        record = batch.record if i in batch.record_neurons else ()
        result = reference_simulate(batch.model, duration_ms=batch.duration_ms, bias_pA=float(stim.bias_pA[i]),
                                    signal_dt_ms=stim.signal_dt_ms, record=record, record_times_ms=record_times,
                                    **kwargs)
        spike_times[i] = np.asarray(result.spike_times_ms[0])
        if result.diverged is not None:
            diverged[i] = replace(result.diverged.first, neuron=i)
        for var in record:
            traces[var][batch.record_neurons.index(i)] = np.asarray(result.traces[var][1])[0]
    units = {var: batch.model.unit_of(var).name for var in batch.record}
    return SimResult(batch.model.name, "reference", 0.0, batch.duration_ms, spike_times,
                     {var: (record_times, traces[var], units[var]) for var in batch.record},
                     diverged=merge("reference", list(diverged.values())))


def _varies(values, i):
    if values is None:
        return False
    column = np.asarray(values)[:, i] if np.ndim(values) == 2 else np.asarray(values)
    return bool(np.any(column != 0))


def _dump(result: SimResult):
    return {"model": result.model, "duration_ms": result.duration_ms,
            "spike_times_ms": [np.asarray(s).tolist() for s in result.spike_times_ms],
            "traces": {k: [np.asarray(t).tolist(), np.asarray(v).tolist(), u] for k, (t, v, u) in result.traces.items()}}


def _load(path):
    data = json.loads(path.read_text())
    traces = {k: (np.asarray(t), np.asarray(v, dtype=float), u) for k, (t, v, u) in data["traces"].items()}
    return SimResult(data["model"], "reference", 0.0, data["duration_ms"],
                     [np.asarray(s) for s in data["spike_times_ms"]], traces)


# ---------------------------------------------------------------------------- closed forms
def analytic_fi(model, currents_pA):
    """Closed-form f-I rates (Hz) for models whose dynamics have one, else None.

    ``lif`` (and models with the ``analytic = "lif"`` hint): LIF rate with refractory
    period; ``pif``: perfect integrator. Other hints (EIF, adaptation, opsin plateau)
    are approximations or need parameters the model does not have, and are not
    used as a judge.
    """
    kind = model.hints.get("analytic")
    p = {n: q.value for n, q in model.parameters.items()}
    if kind == "lif" and all(k in p for k in ("C_m", "tau_m", "E_L", "V_th", "V_reset", "t_ref")):
        return np.asarray(analytic.lif_rate(np.asarray(currents_pA), C_m=p["C_m"], tau_m=p["tau_m"], E_L=p["E_L"],
                                            V_th=p["V_th"], V_reset=p["V_reset"], t_ref=p["t_ref"]), dtype=float)
    if kind == "pif" and all(k in p for k in ("C_m", "V_th", "V_reset", "t_ref")):
        return np.asarray(analytic.pif_rate(np.asarray(currents_pA), C_m=p["C_m"], V_th=p["V_th"],
                                            V_reset=p["V_reset"], t_ref=p["t_ref"]), dtype=float)
    return None


def siegert_reference(model, mu, sigma, dt_ms):
    """Siegert rate (Hz) for the discrete-time white-noise protocol.

    The simulated voltage is observed only on the time grid, so it crosses the
    threshold later than the continuous process would; for a random walk with step
    standard deviation s = sigma sqrt(dt/tau_m) this acts as a threshold raised by
    beta s with beta = -zeta(1/2)/sqrt(2 pi) = 0.5826 (Siegmund 1979, as used for
    integrate-and-fire neurons by Brette 2007 and Fourcaud & Brunel 2002).
    """
    p = {n: model.parameters[n].value for n in ("tau_m", "t_ref", "E_L", "V_th", "V_reset")}
    beta = 1.4603545088095868 / np.sqrt(2 * np.pi)
    shift = beta * np.asarray(sigma) * np.sqrt(dt_ms / p["tau_m"])
    return np.asarray(analytic.siegert_rate(mu, sigma, tau_m=p["tau_m"], t_ref=p["t_ref"],
                                            theta=p["V_th"] - p["E_L"] + shift, V_reset=p["V_reset"] - p["E_L"]))
