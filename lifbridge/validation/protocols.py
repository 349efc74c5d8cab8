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
from ..stimulus import SpikeTrain, Stimulus

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
            "spikes": [[t.port, float(t.weight), list(t.neurons), _array_digest(t.times_ms)]
                       for t in self.stimulus.spikes],
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


#: Charge of one input spike in the spike-input protocol, as a fraction of the model's
#: f-I sweep range times 1 ms: 5% of the range for 1 ms (lif: 100 pA x 1 ms).
SPIKE_CHARGE_FRACTION = 0.05
#: Single spikes arrive at this time (ms); their responses are judged from here on.
SINGLE_SPIKE_MS = 20.0
#: Poisson input: rates (Hz) onto excitatory and inhibitory ports (split among the
#: ports of each sign), the charge of one spike (fraction of the f-I range times 1 ms)
#: and the bias levels (fractions of the f-I range). Few large inputs, partly balanced,
#: so that fluctuations time the spikes (grid errors are then not carried from spike to
#: spike, as they are under a steady drive).
POISSON_RATES_HZ = {"excitatory": 1000.0, "inhibitory": 1000.0}
POISSON_CHARGE_FRACTION = 0.2
POISSON_BIAS_FRACTIONS = (0.1, 0.175, 0.25)


def spike_weight(model, port, charge_pA_ms):
    """The weight (the port's unit, NEST's sign) of one spike that carries ``charge_pA_ms``.

    Current kinetics: the charge over the time course (bundled exp/alpha kinetics, from
    their closed forms; a kinetics file of one's own takes charge/1 ms); conductance
    kinetics: the same charge at the driving force halfway between rest and threshold
    (:func:`_driving_force_mV`); jumps: the charge over C_m (or 1 mV per pA ms for a
    model without C_m, such as izhikevich's R = 1 GOhm).
    """
    from .. import analytic

    info, syn = model.spike_inputs[port], model.synapses.get(port)
    sign = -1.0 if info.sign == "inhibitory" else 1.0
    kind = syn.type if syn is not None else "current"
    if kind == "jump":
        c_m = model.parameters.get("C_m")
        value = charge_pA_ms / (c_m.value * c_m.unit.scale / 1e-12) if c_m is not None else charge_pA_ms
        unit_scale = 1e-3  # mV
    else:
        duration = 1.0
        response = analytic.KINETICS_RESPONSES.get(syn.kinetics) if syn is not None and syn.bundled else None
        if response is not None:
            tau = model.parameters[syn.names["tau_syn"]]
            duration = analytic.synaptic_integral(1.0, tau.value * tau.unit.scale / 1e-3, response[1])
        value = charge_pA_ms / duration                       # pA
        unit_scale = 1e-12
        if kind == "conductance":
            value, unit_scale = value / _driving_force_mV(model, syn), 1e-9   # nS
    return sign * value * unit_scale / info.unit.scale


def _driving_force_mV(model, syn) -> float:
    """|E - V| (mV, at least 10 mV) of a conductance port at V halfway between E_L and V_th
    (60 mV when the model names no reversal potential, E_L or V_th)."""
    def mV(name):
        p = model.parameters.get(name)
        return None if p is None else p.value * p.unit.scale / 1e-3

    E = mV(syn.names.get("E", "")) if syn is not None else None
    E_L, V_th = mV("E_L"), mV("V_th")
    if E is None or E_L is None or V_th is None:
        return 60.0
    return max(abs(E - 0.5 * (E_L + V_th)), 10.0)


def response_variable(model, port):
    """The state variable holding ``port``'s current or conductance (bundled kinetics), or None."""
    from .. import analytic

    syn = model.synapses.get(port)
    if syn is None or not syn.bundled or syn.kinetics not in analytic.KINETICS_RESPONSES:
        return None
    return syn.names[analytic.KINETICS_RESPONSES[syn.kinetics][0]]


def spike_input_batch(model: Model, *, quick=False, dt_ms=0.1, seed=2468) -> Batch:
    """The spike-input protocol: one population, run identically on every backend.

    * ``single_spike``: one neuron per spike port, at rest (no bias), receiving one spike
      at :data:`SINGLE_SPIKE_MS`; records the membrane potential and the port's current
      or conductance (PSC / PSP time courses);
    * ``poisson``: a few neurons at bias levels near rheobase, each receiving its own
      frozen Poisson train through every port (spike times against the reference).

    Weights carry a fixed charge (:func:`spike_weight`); the trains are Bernoulli on
    the time grid (at most one spike per step and train), so every backend receives
    the same spikes at the same grid points.
    """
    if not model.spike_inputs:
        raise ValueError(f"model {model.name!r} has no spike input")
    lo, hi = current_range(model)
    span = hi - lo
    charge = SPIKE_CHARGE_FRACTION * span * 1.0
    poisson_charge = POISSON_CHARGE_FRACTION * span * 1.0
    duration = 300.0 if quick else 1000.0
    ports = list(model.spike_inputs)
    trains, bias = [], []
    single = []
    for port in ports:
        single.append(len(bias))
        bias.append(0.0)
        trains.append(SpikeTrain(port, [SINGLE_SPIKE_MS], spike_weight(model, port, charge), [single[-1]]))
    rng = np.random.default_rng(seed)
    steps = int(round(duration / dt_ms))
    grid = np.arange(int(round(1.0 / dt_ms)), steps) * dt_ms   # from 1 ms: every backend can deliver them
    by_sign = {s: [p for p in ports if model.spike_inputs[p].sign == s] for s in POISSON_RATES_HZ}
    poisson = []
    for fraction in POISSON_BIAS_FRACTIONS:
        neuron = len(bias)
        poisson.append(neuron)
        bias.append(lo + fraction * span)
        for port in ports:
            sign = model.spike_inputs[port].sign or "excitatory"
            rate = POISSON_RATES_HZ[sign] / max(1, len(by_sign.get(sign, [])))
            times = grid[rng.random(len(grid)) < rate * dt_ms * 1e-3]
            trains.append(SpikeTrain(port, times, spike_weight(model, port, poisson_charge), [neuron]))
    membrane = membrane_potential(model)
    variables = {p: response_variable(model, p) for p in ports}
    record = ((membrane,) if membrane else ()) + tuple(v for v in variables.values() if v)
    stimulus = Stimulus(np.asarray(bias, dtype=float), signal_dt_ms=dt_ms, spikes=trains)
    protocols = [
        Protocol("single_spike", single, {"ports": ports, "t_spike_ms": SINGLE_SPIKE_MS,
                                          "weights": [trains[k].weight for k in range(len(ports))],
                                          "units": [model.spike_inputs[p].unit.name for p in ports],
                                          "variables": [variables[p] for p in ports], "membrane": membrane,
                                          "charge_pA_ms": charge}),
        Protocol("poisson", poisson, {"bias_pA": [bias[i] for i in poisson], "rates_hz": dict(POISSON_RATES_HZ),
                                      "charge_pA_ms": poisson_charge, "seed": seed,
                                      "input_spikes": int(sum(len(t.times_ms) for t in trains[len(ports):]))}),
    ]
    return Batch(model, stimulus, duration, dt_ms, protocols, record, list(single))
