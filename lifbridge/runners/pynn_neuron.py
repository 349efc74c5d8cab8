"""pynn.neuron runner: one PyNN population of lifbridge's NMODL point process on pyNN.neuron.

The network is built by :func:`lifbridge.pynn.run.simulate` with pyNN.neuron's timing
(:data:`TIMING`, measured against lifbridge's grid convention, tests/test_pynn_neuron.py).
"""

from __future__ import annotations

import functools

from ..model import Model
from ..pynn import run
from ..pynn.names import standard_class
from ..pynn.neuron import cell_type, import_pynn_neuron, retire_earlier_cells
from ..stimulus import SimResult, Stimulus

#: pyNN.neuron's clock against lifbridge's (see :class:`lifbridge.pynn.run.Timing`): NEURON's
#: variable-step solver (CVODE) places spikes between grid points, reported at the next one.
TIMING = run.Timing(spike_source_steps=1, current_steps=0, reported_spike_steps=0, first_current_step=0,
                    spikes_off_grid=True, sampling_stretch=1e-9)

#: NEURON's variable-step, variable-order solver (CVODE, error-controlled like NEST's GSL
#: solvers): its fixed step is implicit Euler, first order, under which the AdEx
#: upswing runs away at dt = 0.1 ms and a 0.2 ms synaptic conductance is 27% off.
SETUP = {"use_cvode": True, "rtol": 1e-8, "atol": 1e-8}


def _cell_type_on_cvode(model, sim, standard=False):
    # the cells of earlier runs would otherwise be integrated along with this run's
    retire_earlier_cells()
    # traces at the grid times (Vector.record with an interval), not at every solver step
    sim.simulator.state.record_sample_times = False
    # NEURON finds a threshold crossing at the end of the solver step that passed it (its
    # interpolating condition_order(2) aborts NEURON 9.0.2 on AdEx: netcvode.cpp:5232), so
    # solver steps are kept to a tenth of the grid step: each spike is at most dt/10 late
    sim.simulator.state.cvode.condition_order(1)
    sim.simulator.state.cvode.maxstep(sim.simulator.state.dt / 10)
    return standard_class(model, sim) if standard else cell_type(model, sim)


def held_neurons(cells) -> dict:
    """Neuron index -> (time, why) for the neurons lifbridge's point process held as runaways.

    Under a runaway the variable-step solver does not fail: a neuron without refractoriness
    fires again at once after each reset, and the solver follows it with ever smaller steps
    without end. The point process holds such a neuron (two spikes within ``lb_storm``, a
    microsecond) and marks it (``lb_diverged``); it is a divergence, not data."""
    out = {}
    for index, cell in enumerate(cells):
        pp = getattr(cell._cell, "pp", None)    # PyNN's standard types have none
        if pp is not None and getattr(pp, "lb_diverged", 0):
            out[index] = (float(pp.lb_diverged_t), "fired again within a microsecond of its last spike, a runaway "
                          "NEURON's solver would follow without end; lifbridge's point process held it")
    return out


def versions():
    import neuron
    import pyNN

    return {"pynn": pyNN.__version__, "neuron": neuron.__version__}


def simulate(model: Model, stimulus: Stimulus, *, duration_ms: float, dt_ms: float = 0.1, record=(),
             record_neurons=None, standard=False, **overrides) -> SimResult:
    """Simulate ``stimulus.n`` neurons of ``model`` through pyNN.neuron for ``duration_ms``.

    ``overrides``: parameter and initial values (spec names and units, read by
    :func:`lifbridge.overrides.resolve`); ``record``: state variables (spec names; traces in
    spec units); ``standard``: run PyNN's standard type of ``model`` (with ``model``'s values,
    :func:`lifbridge.pynn.names.standard_values`) instead of lifbridge's generated one.
    """
    sim = import_pynn_neuron()
    try:
        types = functools.partial(_cell_type_on_cvode, standard=standard)
        result = run.simulate(sim, "pynn.neuron", types, model, stimulus, duration_ms=duration_ms,
                              dt_ms=dt_ms, timing=TIMING, record=record, record_neurons=record_neurons, setup=SETUP,
                              held=held_neurons, **overrides)
    finally:
        # pyNN.neuron's setup() leaves CVODE on unless told otherwise: the next script gets PyNN's defaults
        sim.simulator.state.cvode.active(0)
        sim.simulator.state.cvode.condition_order(1)
        sim.simulator.state.cvode.maxstep(1e9)
        sim.simulator.state.record_sample_times = False
    result.versions = versions()
    return result
