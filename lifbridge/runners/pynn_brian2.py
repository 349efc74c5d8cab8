"""pynn.brian2 runner: one PyNN population of lifbridge's Brian2 equations on pyNN.brian2.

The network is built by :func:`lifbridge.pynn.run.simulate` with pyNN.brian2's timing:
Brian2 stamps a spike with the start of the step in which the threshold is crossed, one
step before the grid point lifbridge reports (the runner adds it), and a spike or a
current change given for time t acts on the state at t as on the brian2 backend.
"""

from __future__ import annotations

from ..model import Model
from ..pynn import run
from ..pynn.brian2 import cell_type
from ..pynn.names import standard_class
from ..stimulus import SimResult, Stimulus

#: pyNN.brian2's clock against lifbridge's (see :class:`lifbridge.pynn.run.Timing`).
TIMING = run.Timing(spike_source_steps=2, current_steps=0, reported_spike_steps=1, first_current_step=0)


#: Brian2's code generation target of these runs unless told (run option ``target``): numpy,
#: nothing to compile (PyNN's own default, cython, compiles each model first; validate uses it).
CODEGEN_TARGET = "numpy"


def versions():
    import brian2
    import pyNN

    return {"pynn": pyNN.__version__, "brian2": brian2.__version__}


def simulate(model: Model, stimulus: Stimulus, *, duration_ms: float, dt_ms: float = 0.1, record=(),
             record_neurons=None, standard=False, target=CODEGEN_TARGET, **overrides) -> SimResult:
    """Simulate ``stimulus.n`` neurons of ``model`` through pyNN.brian2 for ``duration_ms``.

    ``overrides``: parameter and initial values (spec names and units, read by
    :func:`lifbridge.overrides.resolve`); ``record``: state variables (spec names; traces in
    spec units); ``standard``: run PyNN's standard type of ``model`` (with ``model``'s values,
    :func:`lifbridge.pynn.names.standard_values`) instead of lifbridge's generated one;
    ``target``: Brian2's code generation target ("numpy" or "cython").
    """
    import brian2
    import pyNN.brian2 as sim

    import logging
    import warnings

    import numpy as np

    target = brian2.prefs.codegen.target
    brian2.prefs.codegen.target = target
    # a divergence is reported once, by lifbridge, with its time and value: not as Brian2's
    # "invalid values" warning and numpy's overflow warnings on the way there
    loggers = [logging.getLogger(name) for name in ("brian2.groups.group.invalid_values", "py.warnings")]
    disabled = [logger.disabled for logger in loggers]
    for logger in loggers:
        logger.disabled = True
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            result = run.simulate(sim, "pynn.brian2", standard_class if standard else cell_type, model, stimulus,
                                  duration_ms=duration_ms, dt_ms=dt_ms,
                                  timing=TIMING, record=record, record_neurons=record_neurons, **overrides)
    finally:
        brian2.prefs.codegen.target = target
        for logger, was in zip(loggers, disabled):
            logger.disabled = was
    result.versions = versions()
    return result
