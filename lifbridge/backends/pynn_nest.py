"""The pynn.nest backend: PyNN 0.13 on NEST, with lifbridge's generated NESTML neurons.

Path of a model: spec -> the ``nest`` backend's NESTML neuron and module
(:func:`lifbridge.nest.install`) -> :mod:`lifbridge.pynn.nest` (a PyNN cell type with
PyNN's names and units, :mod:`lifbridge.pynn.names`) -> runner
:mod:`lifbridge.runners.pynn_nest` (one PyNN population, PyNN's current sources and
spike sources).

This backend builds on the ``nest`` backend: it reaches that backend's modules only
through the registry (``lifbridge.backends.require("nest")``), never by import, so
dropping or breaking the nest backend makes this one unavailable with nest's reason and
leaves every other backend working.
"""

from __future__ import annotations

from types import MappingProxyType

from .base import APPROXIMATE, EXACT, UNSUPPORTED, Backend, Capability, Generator, gap_of

NAME = "pynn.nest"


def capability(model, backend=NAME) -> Capability:
    gap = gap_of(model.name, backend)
    if gap is not None:
        return Capability(model.name, backend, UNSUPPORTED, gap.reason)
    from . import get

    try:
        underlying = get("nest").capability_of(model)
    except Exception as error:  # noqa: BLE001 - the nest backend's reason is ours
        return Capability(model.name, backend, UNSUPPORTED, str(error))
    support = EXACT if underlying.support == EXACT else APPROXIMATE
    return Capability(model.name, backend, support, f"the nest backend's neuron through PyNN 0.13: "
                      f"{underlying.reason}", underlying.error)


def requires_nest_backend() -> str:
    """"" if the nest backend (which this one builds on) can run, else its reason."""
    from ..errors import BackendUnavailable
    from . import get

    try:
        nest_backend = get("nest")
    except BackendUnavailable as error:
        return f"needs the nest backend: {error}"
    return nest_backend.unavailable_reason() or nest_backend.notes()


BACKEND = Backend(
    name=NAME,
    label="PyNN/NEST",
    description="PyNN 0.13 (pyNN.nest) running lifbridge's generated NESTML neuron as a PyNN cell type",
    packages=(("pyNN", "PyNN"), ("nest", "nest-simulator"), ("pynestml", "nestml")),
    install_hint="pip install 'lifbridge[nest,pynn]'",
    runner="lifbridge.runners.pynn_nest",
    capability=capability,
    generators=MappingProxyType({
        "pynn": Generator("lifbridge.pynn.script:generate_script", "a runnable PyNN example (python script.py "
                          "nest|brian2): a population under a current step and Poisson input, recorded and "
                          "plotted", ".py"),
    }),
    probe=requires_nest_backend,
    color="tab:red",
    modules=("lifbridge.backends.pynn_nest", "lifbridge.pynn.nest", "lifbridge.runners.pynn_nest"),
)
