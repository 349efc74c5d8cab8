"""pynn.spinnaker runner: one PyNN population of a lifbridge model on pyNN.spiNNaker (sPyNNaker 7.4.1).

The network is built by :func:`lifbridge.pynn.run.simulate` with sPyNNaker's timing as its C
code gives it (:mod:`lifbridge.runners.spinnaker_emulated` follows the same conventions): a
spike due at t is sent by a ``SpikeSourceArray`` at t - dt over a one-step delay (its ring
buffer slot is read in the tick of t, so the synaptic state at t holds it, as in NEST's
iaf_psc_exp; a delta synapse's jump then shows one step later than NEST's), and sPyNNaker
labels a crossing found in tick n with n dt, one step before the grid point lifbridge reports.
These conventions are not checked on hardware by lifbridge's tests.

On a virtual board (no hardware: sPyNNaker maps the network, nothing runs, recordings are
empty) it raises one line instead of reporting empty recordings as results.
"""

from __future__ import annotations

from ..errors import BackendUnavailable
from ..model import Model
from ..pynn import run
from ..pynn.spinnaker import cell_type, import_simulator, is_virtual_board
from ..stimulus import SimResult, Stimulus

#: sPyNNaker's clock against lifbridge's (see :class:`lifbridge.pynn.run.Timing`).
TIMING = run.Timing(spike_source_steps=1, current_steps=0, reported_spike_steps=1, first_current_step=0)

VIRTUAL_BOARD = ("pynn.spinnaker: sPyNNaker is configured for a virtual board, which maps a network but runs "
                 "nothing (no spikes, no traces); run on SpiNNaker hardware (~/.spynnaker.cfg with its "
                 "machine_name or spalloc server), or use the spinnaker.emulated backend for the chip's arithmetic")


def versions():
    import pyNN
    import spynnaker

    return {"pynn": pyNN.__version__, "spynnaker": str(getattr(spynnaker, "__version__", "?"))}


def _cell_type_on_hardware(model, sim):
    if is_virtual_board():
        raise BackendUnavailable(VIRTUAL_BOARD)
    return cell_type(model, sim)


def simulate(model: Model, stimulus: Stimulus, *, duration_ms: float, dt_ms: float = 1.0, record=(),
             record_neurons=None, **overrides) -> SimResult:
    """Simulate ``stimulus.n`` neurons of ``model`` on SpiNNaker through pyNN.spiNNaker (hardware only)."""
    sim = import_simulator()
    try:
        result = run.simulate(sim, "pynn.spinnaker", _cell_type_on_hardware, model, stimulus,
                              duration_ms=duration_ms, dt_ms=dt_ms, timing=TIMING, record=record,
                              record_neurons=record_neurons, **overrides)
    except BackendUnavailable:
        sim.end()
        raise
    result.versions = versions()
    return result
