"""pynn.neuron runner: one PyNN population of lifbridge's NMODL point process on pyNN.neuron.

The network is built by :func:`lifbridge.pynn.run.simulate` with pyNN.neuron's timing
(:data:`TIMING`, measured against lifbridge's grid convention, tests/test_pynn_neuron.py).
"""

from __future__ import annotations

from ..model import Model
from ..pynn import run
from ..pynn.neuron import cell_type, import_pynn_neuron
from ..stimulus import SimResult, Stimulus

#: pyNN.neuron's clock against lifbridge's (see :class:`lifbridge.pynn.run.Timing`).
TIMING = run.Timing(spike_source_steps=1, current_steps=0, reported_spike_steps=0, first_current_step=0)


def secondorder(model: Model) -> int:
    """NEURON's ``secondorder`` for ``model``: 2 (Crank-Nicolson, second order) for a membrane that is
    never clamped (hh, hh_traub: measured 0.01-0.02 ms from NEST at dt = 0.01 ms, 0.15-0.6 ms with
    implicit Euler); 0 (implicit Euler) with a refractory clamp, whose stiff conductance makes
    Crank-Nicolson ring (lif: 45 spikes instead of 44 in 300 ms)."""
    from ..nmodl import membrane

    clamped = model.refractory is not None and membrane(model).variable in model.refractory.clamp
    return 0 if clamped else 2


def _cell_type_with_method(model, sim):
    from neuron import h

    h.secondorder = secondorder(model)
    return cell_type(model, sim)


def versions():
    import neuron
    import pyNN

    return {"pynn": pyNN.__version__, "neuron": neuron.__version__}


def simulate(model: Model, stimulus: Stimulus, *, duration_ms: float, dt_ms: float = 0.1, record=(),
             record_neurons=None, **overrides) -> SimResult:
    """Simulate ``stimulus.n`` neurons of ``model`` through pyNN.neuron for ``duration_ms``.

    ``overrides``: parameter and initial values (spec names and units, read by
    :func:`lifbridge.overrides.resolve`); ``record``: state variables (spec names; traces in
    spec units).
    """
    sim = import_pynn_neuron()
    result = run.simulate(sim, "pynn.neuron", _cell_type_with_method, model, stimulus, duration_ms=duration_ms, dt_ms=dt_ms,
                          timing=TIMING, record=record, record_neurons=record_neurons, **overrides)
    result.versions = versions()
    return result
