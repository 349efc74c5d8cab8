"""lifbridge models as PyNN cell types.

>>> import pyNN.nest as sim                                   # doctest: +SKIP
>>> from lifbridge.pynn import cell_type
>>> sim.setup(timestep=0.1)                                   # doctest: +SKIP
>>> AdEx = cell_type("adex_cond_exp", sim)                    # doctest: +SKIP
>>> cells = sim.Population(10, AdEx(cm=0.281, i_offset=0.8))  # doctest: +SKIP

``cell_type(model, sim)`` returns a PyNN cell type class for the PyNN backend module
``sim`` (``pyNN.nest`` or ``pyNN.brian2``) that is exactly lifbridge's model: on
pyNN.nest the generated NESTML neuron (compiled and loaded by lifbridge, also after
every ``sim.setup()``), on pyNN.brian2 the equations of :func:`lifbridge.brian2.to_brian2`.
``model`` is a name (:func:`lifbridge.load`) or a :class:`lifbridge.Model`.

Names and units are PyNN's (mV, ms, nA, nF, uS) where PyNN has the same quantity and the
model's own otherwise (:mod:`lifbridge.pynn.names`); every value is checked by
:func:`lifbridge.overrides.resolve`. Receptor types: ``excitatory``/``inhibitory`` (PyNN's
weight signs: an inhibitory current-based weight is negative, a conductance positive),
``rec1``, ``rec2``, ... for numbered receptors. Current sources reach the model's current
input (``I_stim``); :class:`LightSource` (times, intensities) reaches a light input (``phi``
of ``optogenetic_lif``) on every backend.

``standard=True`` gives PyNN's own standard type where the backend's implementation of it
is verified to be the same model (see ``STANDARD_VERDICTS`` of each backend module), and
raises a one-line error naming the reason otherwise; ``standard=None`` (default) and
``False`` give the generated type.

Each PyNN backend has its translation unit, a module of this package named after the
PyNN module (``pyNN.<name>`` -> ``lifbridge.pynn.<name>``), registered as the lifbridge
backend ``pynn.<name>``.
"""

from __future__ import annotations

import importlib

from .. import backends as registry
from ..errors import BackendUnavailable
from ..model import Model
from .light import LightSource

__all__ = ["LightSource", "cell_type", "import_simulator", "produces_data", "setup", "translation_unit"]


def _as_model(model) -> Model:
    if isinstance(model, Model):
        return model
    from ..spec import load

    return load(model)


def translation_unit(sim):
    """The lifbridge module translating models for the PyNN backend module ``sim``."""
    name = getattr(sim, "__name__", "")
    root, _, short = name.partition(".")
    package = __name__.rsplit(".", 1)[-1]          # this package is named after PyNN's
    if root.lower() != package or not short or "." in short:
        raise BackendUnavailable(f"cell_type(model, sim): sim must be a PyNN backend module such as pyNN.nest, "
                                 f"got {str(name or type(sim).__name__)[:60]!r}")
    short = short.lower()                          # pyNN.spiNNaker -> pynn.spinnaker
    backend = f"{package}.{short}"
    if backend not in registry.names():
        offered = ", ".join(f"{root}.{b.split('.', 1)[1]}" for b in registry.names()
                            if b.split(".", 1)[0] == package and "." in b)
        raise BackendUnavailable(f"cell_type: lifbridge has no cell types for {name} yet; it has them for {offered}")
    registry.require(backend)
    return importlib.import_module(f"{__name__}.{short}")


def cell_type(model, sim, *, standard=None):
    """A PyNN cell type class for ``model`` on the PyNN backend module ``sim`` (see the module docstring)."""
    return translation_unit(sim).cell_type(_as_model(model), sim, standard=standard)


def import_simulator(name: str):
    """The PyNN backend module ``pyNN.<name>`` (``nest``, ``brian2``, ``neuron``, ``spiNNaker``),
    made ready by its translation unit where it needs more than an import (pyNN.neuron: PyNN's
    own NEURON mechanisms compiled; pyNN.spiNNaker: a virtual board when no sPyNNaker
    configuration exists)."""
    short = str(name).lower()
    backend = f"{__name__.rsplit('.', 1)[-1]}.{short}"
    if backend not in registry.names():
        offered = ", ".join(b.split(".", 1)[1] for b in registry.names() if b.startswith(f"{backend.split('.')[0]}."))
        raise BackendUnavailable(f"import_simulator({str(name)[:40]!r}): lifbridge has PyNN cell types for {offered}")
    registry.require(backend)
    return importlib.import_module(f"{__name__}.{short}").import_simulator()


def setup(sim, models=(), **setup_arguments):
    """``sim.setup(**setup_arguments)`` with the backend's recommended settings for lifbridge's
    cell types where not given (pyNN.neuron: its variable-step solver, ``use_cvode=True``),
    then make ``models`` ready for ``sim`` (on pyNN.nest: their NEST module loaded before any
    node exists; needed only when a cell type is made after the first node)."""
    unit = translation_unit(sim)
    arguments = {**getattr(unit, "SETUP_DEFAULTS", {}), **setup_arguments}
    result = sim.setup(**arguments)
    for model in models:
        unit.cell_type(_as_model(model), sim)
    return result


def produces_data(sim) -> bool:
    """False where ``sim`` maps and "runs" a network without simulating it (sPyNNaker on a
    virtual board): its recordings are empty and are not results."""
    unit = translation_unit(sim)
    return bool(getattr(unit, "produces_data", lambda: True)())
