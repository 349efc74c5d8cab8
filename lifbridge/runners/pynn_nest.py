"""pynn.nest runner: one PyNN population of lifbridge's generated NESTML neuron on pyNN.nest.

The network is built by :func:`lifbridge.pynn.run.simulate` with pyNN.nest's timing:
``spike_precision="on_grid"`` (spike sources are ``spike_generator`` + ``parrot_neuron``,
as lifbridge's NEST runner), min_delay = dt, so that a spike or a current change given
for time t acts on the state at t as on the nest backend.
"""

from __future__ import annotations

import os

from ..model import Model
from ..pynn import run
from ..pynn.nest import cell_type
from ..pynn.names import standard_class
from ..stimulus import SimResult, Stimulus

#: pyNN.nest's clock against lifbridge's (measured against the nest backend, tests/test_pynn.py):
#: a SpikeSourceArray time one step before the spike is due (projection delay: one step; PyNN
#: moves on-grid spike_generator times one more step earlier for the parrot neurons, so the
#: earliest spike is due at 3 dt);
#: PyNN moves current source times one min_delay earlier itself, but a change can act from the
#: second step on only (the first step's current goes into i_offset); traces start at dt.
TIMING = run.Timing(spike_source_steps=1, current_steps=0, reported_spike_steps=0, first_current_step=1,
                    first_trace_step=1)


def _sim():
    os.environ.setdefault("PYNEST_QUIET", "1")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyNN.nest cannot build its own extensions against the NEST wheel
        import pyNN.nest as sim
    return sim


def versions():
    import nest
    import pyNN

    return {"pynn": pyNN.__version__, "nest": nest.__version__}


def simulate(model: Model, stimulus: Stimulus, *, duration_ms: float, dt_ms: float = 0.1, record=(),
             record_neurons=None, standard=False, **overrides) -> SimResult:
    """Simulate ``stimulus.n`` neurons of ``model`` through pyNN.nest for ``duration_ms``.

    ``overrides``: parameter and initial values (spec names and units, read by
    :func:`lifbridge.overrides.resolve`); ``record``: state variables (spec names; traces in
    spec units); ``standard``: run PyNN's standard type of ``model`` (with ``model``'s values,
    :func:`lifbridge.pynn.names.standard_values`) instead of lifbridge's generated one.
    """
    import warnings

    sim = _sim()
    with warnings.catch_warnings():
        # PyNN 0.13 calls NEST's deprecated SetStatus/GetStatus on every run
        warnings.filterwarnings("ignore", message=r"\s*(Set|Get)Status\(\) is deprecated", category=UserWarning)
        result = run.simulate(sim, "pynn.nest", standard_class if standard else cell_type, model, stimulus,
                              duration_ms=duration_ms, dt_ms=dt_ms,
                              timing=TIMING, record=record, record_neurons=record_neurons,
                              setup={"spike_precision": "on_grid"}, **overrides)
    result.versions = versions()
    return result
