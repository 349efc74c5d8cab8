"""lifbridge models as pynn_brainscales cell types, with BrainScaleS-2's ranges checked.

``cell_type(model, pynn_brainscales)`` returns the cell type instance a BrainScaleS-2 script
puts into a ``Population``: ``CalibHXNeuronCuba`` / ``CalibHXNeuronCoba`` with the model's
values as calibration targets (CADC units, hardware microseconds), or the uncalibrated
``HXNeuron`` for the AdEx (:mod:`lifbridge.brainscales2.mapping`). Every value is checked
first, with the same one-line errors as ``lifbridge generate --target brainscales2``.
pynn_brainscales is not on the package registry; it is imported only when no module is
given.
"""

from __future__ import annotations

from ..brainscales2.mapping import HXNEURON, check_population
from ..brainscales2.script import cell_parameters
from ..errors import BackendUnavailable


def import_pynn_brainscales():
    """``pynn_brainscales.brainscales2``, or BackendUnavailable (one line) where it is not installed."""
    try:
        import pynn_brainscales.brainscales2 as module
    except ImportError:
        raise BackendUnavailable("pynn_brainscales is not installed (it is not on the package registry; it comes "
                                 "with the BrainScaleS-2 software environment, e.g. the EBRAINS collaboratory); use "
                                 "lifbridge generate --target brainscales2 to write the script") from None
    return module


def cell_type(model, pynn_brainscales=None, *, n: int = 1):
    """The pynn_brainscales cell type for ``model`` (its current values) in a population of ``n``.

    Raises a one-line ParameterError for a value outside the hardware's range or a
    population larger than a chip, before anything is built.
    """
    where = f"lifbridge.pynn.brainscales2.cell_type({model.name[:60]!r}): "
    check_population(n, where)
    name, params, _ = cell_parameters(model, where)
    module = pynn_brainscales if pynn_brainscales is not None else import_pynn_brainscales()
    cls = getattr(getattr(module, "cells", None), name, None)
    if cls is None:
        raise BackendUnavailable(f"{where}the given pynn_brainscales module has no cells.{name}; update "
                                 "pynn_brainscales (CalibHXNeuronCuba/Coba came with its calix integration)")
    if name == HXNEURON:
        return cls(threshold_enable=True, exponential_enable=True, adaptation_enable=True)
    return cls(**params)
