"""Stimuli and simulation results shared by every backend runner.

A :class:`Stimulus` says what one population receives, in NEST's units:

* ``bias_pA``: a constant current per neuron (set as the bias parameter ``I_e``),
* ``current``: a piecewise-constant current through the model's current input
  (``I_stim``), either shared by all neurons (1-D) or one column per neuron (2-D),
  sampled every ``signal_dt_ms`` from t = 0,
* ``light``: a piecewise-constant light intensity (1-D, shared), same sampling;
* ``spikes``: input spike trains (:class:`SpikeTrain`), each through one spike port
  of the model into some of the neurons.

A :class:`SimResult` is the plain record a runner returns: spike times in ms per
neuron, recorded traces in the units of the model spec, what ran, and whether the run
diverged (``diverged``: a :class:`lifbridge.divergence.Divergence` or None). The spikes
and traces of a diverged neuron are not data: its rates are refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class SpikeTrain:
    """Input spikes through the spike port ``port`` into the neurons ``neurons``.

    Each spike reaches the neurons at its time in ``times_ms`` exactly (a grid point of
    every clock-driven backend): the port's ``on_spike`` statements run with ``weight``,
    in the port's unit and with NEST's sign (>= 0 onto an excitatory port, <= 0 onto an
    inhibitory one).
    """

    port: str
    times_ms: np.ndarray
    weight: float
    neurons: list

    def __post_init__(self):
        self.times_ms = np.sort(np.asarray(self.times_ms, dtype=float).ravel())
        self.neurons = [int(i) for i in self.neurons]


@dataclass
class Stimulus:
    bias_pA: np.ndarray
    current_pA: np.ndarray | None = None
    light: np.ndarray | None = None
    signal_dt_ms: float = 0.1
    spikes: list = field(default_factory=list)   # SpikeTrain, ...

    def spikes_of(self, neuron: int) -> dict:
        """``{port: [(t_ms, weight), ...]}`` of the trains that reach ``neuron``."""
        out = {}
        for train in self.spikes:
            if neuron in train.neurons:
                out.setdefault(train.port, []).extend((float(t), float(train.weight)) for t in train.times_ms)
        return out

    @property
    def n(self) -> int:
        return len(self.bias_pA)

    @classmethod
    def constant(cls, currents_pA):
        """One neuron per current, each with a constant bias (an f-I sweep)."""
        return cls(np.atleast_1d(np.asarray(currents_pA, dtype=float)))


def piecewise_signal(steps, duration_ms, dt_ms, base=0.0):
    """Samples (one per ``dt_ms``) of ``base`` plus the steps ``(t0_ms, t1_ms, amplitude)``.

    Sample k holds the value on [k dt, (k+1) dt); a step covers the samples with
    t0 <= k dt < t1.
    """
    n = int(round(duration_ms / dt_ms))
    times = np.arange(n) * dt_ms
    values = np.full(n, float(base))
    for t0, t1, amplitude in steps:
        values[(times >= t0 - 1e-9) & (times < t1 - 1e-9)] += amplitude
    return values


@dataclass
class SimResult:
    """Spike times (ms) per neuron and recorded traces of one population run."""

    model: str
    backend: str
    dt_ms: float
    duration_ms: float
    spike_times_ms: list
    traces: dict = field(default_factory=dict)  # name -> (t_ms, values[n_neurons, n_times], unit)
    versions: dict = field(default_factory=dict)
    wall_time_s: float = 0.0
    diverged: object = None  # lifbridge.divergence.Divergence, or None for a healthy run

    @property
    def diverged_neurons(self) -> list:
        """Indices of the neurons whose state became non-finite or ran away."""
        return self.diverged.neurons if self.diverged is not None else []

    def raise_if_diverged(self):
        """Raise :class:`lifbridge.errors.Diverged` if any neuron diverged."""
        if self.diverged is not None:
            from .errors import Diverged

            raise Diverged(f"{self.model} on {self.backend} {self.diverged.describe()}", self.diverged)

    def rates_hz(self, steady=False, t_start_ms=0.0, *, skip_diverged=False):
        """Spike count / duration per neuron, or with ``steady`` 1/mean ISI of the second half.

        A diverged run raises :class:`lifbridge.errors.Diverged`; with ``skip_diverged``
        the diverged neurons get nan instead (look them up in ``diverged_neurons``).
        """
        if not skip_diverged:
            self.raise_if_diverged()
        if steady:
            rates = np.array([steady_rate(s, self.duration_ms) for s in self.spike_times_ms], dtype=float)
        else:
            span = (self.duration_ms - t_start_ms) / 1000.0
            rates = np.array([np.sum(np.asarray(s) >= t_start_ms) / span for s in self.spike_times_ms], dtype=float)
        rates[self.diverged_neurons] = np.nan
        return rates


def steady_rate(spikes_ms, duration_ms):
    """1 / mean interspike interval (Hz) of the spikes after half the run; 0 if fewer than two."""
    spikes = np.asarray(spikes_ms)
    late = spikes[spikes >= duration_ms / 2]
    if len(late) < 2:
        return 0.0 if len(spikes) < 2 else _last_interval_rate(spikes, duration_ms)
    return 1000.0 / np.mean(np.diff(late))


def _last_interval_rate(spikes, duration_ms):
    # Few spikes in the second half: use the last interval only if it could repeat in the run.
    interval = spikes[-1] - spikes[-2]
    return 1000.0 / interval if duration_ms - spikes[-1] < interval else 0.0


def first_isi_rate(spikes_ms):
    """1 / first interspike interval (Hz), 0 with fewer than two spikes."""
    spikes = np.asarray(spikes_ms)
    return 1000.0 / (spikes[1] - spikes[0]) if len(spikes) >= 2 else 0.0
