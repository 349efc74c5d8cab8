"""brainscales2.emulated runner: BrainScaleS-2's calibrated LIF emulated in hardware units.

Inputs, as a pynn_brainscales experiment gives them (:mod:`lifbridge.brainscales2.emulate`):

* bias currents, ``I_e`` and a time-varying current are a drive I / C_m of the membrane
  (CADC per hardware us; on the chip a constant current is a shifted leak potential, see
  :mod:`lifbridge.brainscales2.mapping`); sample k of ``stimulus.current_pA`` holds on
  [k signal_dt, (k+1) signal_dt);
* a spike due at t onto an exponential current synapse adds its weight to the synaptic
  drive at t (as NEST's iaf_psc_exp); weights are quantised to 6 bit per receptor with
  the largest summed weight of a step at 63 LSB (:func:`lifbridge.brainscales2.emulate.weight_lsb`)
  and scaled by each neuron's synaptic gain.

Outputs: spike times in biological ms at the end of the step in which V reached the
threshold; traces at t = n dt of V_m (mV, through the nominal voltage map) and of the
synaptic currents (pA, through the nominal C_m), in the model's names and units.

Options: ``mismatch`` "none" or "calibrated" (:class:`lifbridge.brainscales2.emulate.Spreads`),
``quantisation`` "on" or "off"; keywords ``spreads`` (a Spreads), ``seed`` (int) and
``v_range`` (CADC) adjust a direct call.
"""

from __future__ import annotations

import time

import numpy as np

from ..brainscales2 import emulate as em
from ..brainscales2.mapping import SPEEDUP, cell_type, not_available, time_to_hw, translate
from ..errors import ParameterError
from ..overrides import resolve
from ..stimulus import SimResult
from ..units import parse_unit

MISMATCH = ("none", "calibrated")
QUANTISATION = ("on", "off")
DEFAULT_SEED = 20220101


def versions():
    return {"numpy": np.__version__, "emulates": "BrainScaleS-2 CalibHXNeuronCuba (calix LIF calibration)",
            "speedup": SPEEDUP}


def simulate(model, stimulus, *, duration_ms, dt_ms=0.1, record=(), record_neurons=None, mismatch="none",
             quantisation="on", spreads=None, seed=DEFAULT_SEED, v_range=(em.V_MIN_CADC, em.V_MAX_CADC),
             **overrides) -> SimResult:
    """Run ``stimulus.n`` emulated hardware neurons of ``model`` for ``duration_ms`` (biological ms)
    at ``dt_ms`` (biological ms; the emulation's step is dt_ms / 1000 hardware ms)."""
    if mismatch not in MISMATCH:
        raise ValueError(f"mismatch {mismatch!r}: choose one of {', '.join(MISMATCH)}")
    if quantisation not in QUANTISATION:
        raise ValueError(f"quantisation {quantisation!r}: choose one of {', '.join(QUANTISATION)}")
    row = cell_type(model)
    if not row.emulated:
        raise ParameterError(f"brainscales2.emulated: model {model.name!r}: " + (
            not_available(model) if not row.available else f"{row.cell_type} is generated but not emulated"))
    started = time.perf_counter()
    n = stimulus.n
    resolved = resolve(model, overrides, n=n)
    values = resolved.parameter_values()
    hw = translate(resolved.model, values, where="brainscales2.emulated: ")
    if spreads is None:
        spreads = em.Spreads() if mismatch == "calibrated" else em.NO_SPREAD
    neurons = em.realise(hw, n, quantise=quantisation == "on", spreads=spreads, seed=seed)
    steps = int(round(duration_ms / dt_ms))
    if steps < 1:
        raise ValueError(f"duration_ms = {duration_ms:g} is shorter than one step of {dt_ms:g} ms")
    h_us = float(time_to_hw(dt_ms, "ms"))
    vmap = hw.voltage_map
    C = np.asarray(values["C_m"], float) * resolved.model.parameters["C_m"].unit.factor_to(parse_unit("pF"))
    C = np.broadcast_to(C, (n,))
    per_pA = vmap.drive_to_cadc_per_us(1.0 / C, "pA/pF")      # CADC/us per pA, per neuron
    bias = np.broadcast_to(np.asarray(hw.parameters["drive"], float), (n,)) \
        + np.asarray(stimulus.bias_pA, float) * per_pA
    current = None
    if stimulus.current_pA is not None:
        current = np.asarray(stimulus.current_pA, float)
        if current.ndim == 1:
            current = np.repeat(current[:, None], n, axis=1)
        current = current * per_pA

    def drive(k):
        if current is None:
            return bias
        return bias + current[min(int(np.floor(k * dt_ms / stimulus.signal_dt_ms + 1e-9)), len(current) - 1)]

    inputs, lsb = _spike_inputs(model, stimulus, per_pA, steps, dt_ms, quantisation == "on")
    init = resolved.initial_values()
    v0 = vmap.to_cadc(np.asarray(init["V_m"], float), model.state["V_m"].unit.name)
    names = {"V_m": "V"}
    for port, syn in model.synapses.items():
        if "I_syn" in syn.names:
            names[syn.names["I_syn"]] = "I" if model.spike_inputs[port].sign == "inhibitory" else "E"
    for name in record:
        if name not in names:
            raise ValueError(f"record {name!r}: brainscales2.emulated records {', '.join(names)} of {model.name}")
    spikes, traces = em.run(neurons, h_us, steps, drive=drive, inputs=inputs, v0=v0, v_range=v_range,
                            record=[names[r] for r in record])
    rows = np.arange(n) if record_neurons is None else np.asarray(list(record_neurons), dtype=int)
    t = np.arange(steps) * dt_ms
    out = {}
    for name in record:
        raw = traces[names[name]][:, rows]
        unit = model.state[name].unit
        if name == "V_m":
            values_out = vmap.from_cadc(raw, unit.name)
        else:
            values_out = raw / per_pA[rows] * parse_unit("pA").factor_to(unit)
        out[name] = (t, values_out.T.copy(), unit.name)
    result = SimResult(model.name, "brainscales2.emulated", dt_ms, duration_ms,
                       [(np.asarray(s, float) + 1) * dt_ms for s in spikes], out,
                       dict(versions(), mismatch=mismatch, quantisation=quantisation, seed=seed,
                            weight_lsb=lsb, spreads=vars(spreads).copy() if hasattr(spreads, "__dict__") else {}),
                       time.perf_counter() - started)
    return result


def _spike_inputs(model, stimulus, per_pA, steps, dt_ms, quantise):
    """({receptor: {step: jump per neuron (CADC/us)}}, {receptor: weight of one LSB (pA)})."""
    n = stimulus.n
    dense, lsb = {}, {}
    for train in stimulus.spikes:
        if train.port not in model.synapses:
            raise ValueError(f"model {model.name!r} has no spike input {train.port!r}; spike inputs: "
                             f"{', '.join(model.synapses)}")
        receptor = "I" if model.spike_inputs[train.port].sign == "inhibitory" else "E"
        w_pA = abs(train.weight) * model.spike_inputs[train.port].unit.factor_to(parse_unit("pA"))
        ticks = np.round(np.asarray(train.times_ms) / dt_ms).astype(np.int64)
        if len(ticks) and ticks.min() < 0:
            raise ValueError(f"input spikes onto {train.port}: times must be >= 0 ms")
        ticks = ticks[ticks < steps]
        table = dense.setdefault(receptor, [])
        table.append((ticks, list(train.neurons), w_pA, train.port, train.weight))
    out = {}
    for receptor, trains in dense.items():
        summed = np.zeros((steps, n))
        for ticks, neurons, w, _, _ in trains:
            for i in neurons:
                np.add.at(summed[:, i], ticks, w)
        lsb[receptor] = em.weight_lsb(summed) if quantise else 0.0
        acc = np.zeros((steps, n))
        for ticks, neurons, w, port, weight in trains:
            if quantise:
                code, realised = em.quantise_weights(w, lsb[receptor])
                if w > 0 and code == 0:
                    raise ParameterError(f"weight {weight:g} onto {port} is 0 of 63 LSB on BrainScaleS-2 (one LSB "
                                         f"= {lsb[receptor]:.3g} pA, set by the largest summed input); use weights "
                                         f"within a factor 126 of each other")
                w = float(realised)
            for i in neurons:
                np.add.at(acc[:, i], ticks, w)
        out[receptor] = {int(k): acc[k] * per_pA for k in np.flatnonzero(acc.any(axis=1))}
    return out, lsb
