"""Validation protocols, defined once and run identically on every backend.

For one model, all protocols share one population (a *batch*), so each backend
simulates the model once:

* ``fi``: one neuron per constant current (bias ``I_e``), from 0 to several times
  rheobase: steady-state rate and first-ISI rate;
* ``step``: a subthreshold and a suprathreshold current step through the current
  input (voltage trace, spike times);
* ``frozen_noise``: the same realisation of a noisy current on every backend, on top
  of a few bias levels (spike-time agreement);
* ``light_pulse`` (models with a light input): a long light pulse, without and with
  a bias current (peak-then-plateau photocurrent, adapting rate).

The white-noise protocol against Siegert theory has its own batch
(:func:`siegert_batch`), since it needs long runs of the LIF only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..divergence import membrane_potential
from ..model import Model
from ..records import plain
from ..stimulus import Stimulus

DEFAULT_RANGE_PA = (0.0, 1000.0)
LIGHT_INTENSITY = 5.0  # in the unit of the model's light input (mW/mm**2 for optogenetic_lif)


@dataclass
class Protocol:
    name: str
    neurons: list          # indices into the batch population
    info: dict = field(default_factory=dict)


@dataclass
class Batch:
    """One population that carries every protocol of a model."""

    model: Model
    stimulus: Stimulus
    duration_ms: float
    dt_ms: float
    protocols: list
    record: tuple = ()
    record_neurons: list = field(default_factory=list)

    def protocol(self, name):
        return next((p for p in self.protocols if p.name == name), None)

    def describe(self):
        """A JSON-able description (also the cache key of reference results)."""
        return {
            "duration_ms": self.duration_ms, "dt_ms": self.dt_ms, "signal_dt_ms": self.stimulus.signal_dt_ms,
            "bias_pA": np.round(self.stimulus.bias_pA, 9).tolist(),
            "current_sha": _array_digest(self.stimulus.current_pA),
            "light_sha": _array_digest(self.stimulus.light),
            "protocols": [{"name": p.name, "neurons": list(p.neurons), "info": plain(p.info)}
                          for p in self.protocols],
            "record": list(self.record), "record_neurons": list(self.record_neurons),
        }


def _array_digest(values):
    import hashlib

    if values is None:
        return None
    return hashlib.sha256(np.ascontiguousarray(np.asarray(values, dtype=float)).tobytes()).hexdigest()[:20]


def current_range(model: Model):
    """The f-I sweep range (pA) of a model: its ``fi_current_range_pA`` hint, else 0..1000 pA."""
    lo, hi = model.hints.get("fi_current_range_pA", DEFAULT_RANGE_PA)
    return float(lo), float(hi)


def sweep_currents(lo, hi, n):
    """``n`` currents from ``lo`` to ``hi``: ``lo`` itself, then an even grid whose first gap is
    three quarters of a step, so that round numbers (such as a rheobase of 375 pA, where
    the rate is not defined in finite precision) are not hit."""
    k = np.arange(n, dtype=float)
    return np.where(k == 0, lo, lo + (hi - lo) * (k - 0.25) / (n - 1.25))


def build_batch(model: Model, *, quick=False, dt_ms=0.1, seed=1234) -> Batch:
    """The batch of every protocol for ``model``; ``quick`` makes it shorter and coarser."""
    lo, hi = current_range(model)
    duration = 300.0 if quick else 1000.0
    signal_dt = 1.0
    n_fi = 9 if quick else 17
    currents = list(sweep_currents(lo, hi, n_fi))
    protocols = [Protocol("fi", list(range(n_fi)), {"currents_pA": np.asarray(currents)})]
    bias = list(currents)
    columns = [np.zeros(int(round(duration / signal_dt))) for _ in currents]
    times = np.arange(len(columns[0])) * signal_dt

    def add_neuron(bias_pA, column=None):
        bias.append(bias_pA)
        columns.append(np.zeros_like(times) if column is None else column)
        return len(bias) - 1

    record_neurons = []
    has_current = model.input_current is not None
    if has_current:
        t0, t1 = 0.1 * duration, 0.6 * duration
        window = (times >= t0) & (times < t1)
        amplitudes = {"sub": lo + 0.1 * (hi - lo), "supra": lo + 0.5 * (hi - lo)}
        neurons = {}
        for label, amplitude in amplitudes.items():
            neurons[label] = add_neuron(0.0, np.where(window, amplitude, 0.0))
        record_neurons += list(neurons.values())
        protocols.append(Protocol("step", [neurons["sub"], neurons["supra"]],
                                  {"t0_ms": t0, "t1_ms": t1, "amplitudes_pA": [amplitudes["sub"], amplitudes["supra"]],
                                   "membrane": membrane_potential(model)}))
        rng = np.random.default_rng(seed)
        # Ornstein-Uhlenbeck-like noise (correlation time 5 ms) sampled every ms, shared by all noise neurons.
        noise = np.zeros_like(times)
        a = np.exp(-signal_dt / 5.0)
        for k in range(1, len(noise)):
            noise[k] = a * noise[k - 1] + np.sqrt(1 - a * a) * rng.standard_normal()
        # Fluctuation-driven: the mean stays near rheobase (about a fifth of the sweep range) and
        # the noise times the spikes, so grid errors do not accumulate from spike to spike.
        noise *= 0.3 * (hi - lo)
        levels = [lo + f * (hi - lo) for f in (0.0, 0.1, 0.2)]
        noise_neurons = [add_neuron(level, noise.copy()) for level in levels]
        protocols.append(Protocol("frozen_noise", noise_neurons, {"bias_pA": levels, "noise_sd_pA": 0.3 * (hi - lo),
                                                                  "correlation_ms": 5.0, "seed": seed}))
    light_columns = None
    if model.light_input is not None:
        intensity = LIGHT_INTENSITY
        t0, t1 = 0.1 * duration, 0.9 * duration
        pulse = np.where((times >= t0) & (times < t1), intensity, 0.0)
        light_neurons = [add_neuron(0.0), add_neuron(lo + 0.15 * (hi - lo))]
        light_columns = {n: pulse for n in light_neurons}
        record_neurons += light_neurons
        protocols.append(Protocol("light_pulse", light_neurons, {"t0_ms": t0, "t1_ms": t1, "intensity": intensity,
                                                                 "unit": model.inputs[model.light_input].unit.name,
                                                                 "bias_pA": [0.0, lo + 0.15 * (hi - lo)],
                                                                 "open_state": opsin_states(model).get("open"),
                                                                 "membrane": membrane_potential(model)}))
    stimulus = Stimulus(np.asarray(bias, dtype=float), signal_dt_ms=signal_dt)
    if has_current:
        stimulus.current_pA = np.stack(columns, axis=1)
    if light_columns:
        light = np.zeros((len(times), len(bias)))
        for n, column in light_columns.items():
            light[:, n] = column
        stimulus.light = light
    # the membrane potential and, with a light input, the opsin's fractions, as the model declares them
    membrane = membrane_potential(model)
    record = (membrane,) if membrane is not None else ()
    if model.light_input is not None:
        record += tuple(v for v in opsin_states(model).values() if v not in record)
    return Batch(model, stimulus, duration, dt_ms, protocols, record, record_neurons)


def opsin_states(model) -> dict:
    """``{"open": state, "desensitized": state}`` as the model declares them (``[hints].opsin_states``)."""
    return dict(model.hints.get("opsin_states", {}) or {})


def siegert_batch(model: Model, *, quick=False, dt_ms=0.1, seed=4321):
    """White-noise drive at several (mu, sigma) for the Siegert comparison (LIF only).

    Each neuron gets its own noise: a current piecewise constant over one time step,
    I = I_mu + s xi_k with s = sigma C_m / sqrt(tau_m dt), which gives the diffusion
    tau_m dV = (-V + mu) dt + sigma sqrt(tau_m) dW of Brunel (2000) with mu = R I_mu.
    """
    p = {n: model.parameters[n].value for n in ("C_m", "tau_m", "E_L", "V_th", "V_reset", "t_ref")}
    theta = p["V_th"] - p["E_L"]
    points = [(mu, sigma) for sigma in (2.0, 5.0) for mu in (0.8 * theta, 1.0 * theta, 1.3 * theta)]
    repeats = 4 if quick else 8
    duration = 2000.0 if quick else 5000.0
    R = p["tau_m"] / p["C_m"]
    rng = np.random.default_rng(seed)
    n_steps = int(round(duration / dt_ms))
    bias, columns, labels = [], [], []
    for mu, sigma in points:
        scale = sigma * p["C_m"] / np.sqrt(p["tau_m"] * dt_ms)
        for _ in range(repeats):
            bias.append(mu / R)
            columns.append(scale * rng.standard_normal(n_steps))
            labels.append((mu, sigma))
    stimulus = Stimulus(np.asarray(bias), np.stack(columns, axis=1).astype(float), signal_dt_ms=dt_ms)
    protocol = Protocol("siegert", list(range(len(bias))),
                        {"points": [list(pt) for pt in points], "repeats": repeats, "labels": labels,
                         "theta_mV": theta, "V_reset_rel_mV": p["V_reset"] - p["E_L"], "seed": seed})
    return Batch(model, stimulus, duration, dt_ms, [protocol])
