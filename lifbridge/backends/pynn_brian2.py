"""The pynn.brian2 backend: PyNN 0.13 on Brian2, with lifbridge's Brian2 equations as a cell type.

Path of a model: spec -> the ``brian2`` backend's code generator
(:func:`lifbridge.brian2.to_brian2`) -> :mod:`lifbridge.pynn.brian2` (a PyNN
``StandardCellType`` with PyNN's names and units, :mod:`lifbridge.pynn.names`) -> runner
:mod:`lifbridge.runners.pynn_brian2` (one PyNN population in Brian2's runtime mode).

This backend builds on the ``brian2`` backend: it reaches that backend's generator only
through the registry (``lifbridge.backends.require("brian2")``), never by import, so
dropping or breaking the brian2 backend makes this one unavailable with that reason and
leaves every other backend working.
"""

from __future__ import annotations

from types import MappingProxyType

from .base import Option, APPROXIMATE, EXACT, UNSUPPORTED, Backend, Capability, gap_of

NAME = "pynn.brian2"


def capability(model, backend=NAME) -> Capability:
    gap = gap_of(model.name, backend)
    if gap is not None:
        return Capability(model.name, backend, UNSUPPORTED, gap.reason)
    from . import get

    try:
        underlying = get("brian2").capability_of(model)
    except Exception as error:  # noqa: BLE001 - the brian2 backend's reason is ours
        return Capability(model.name, backend, UNSUPPORTED, str(error))
    support = EXACT if underlying.support == EXACT else APPROXIMATE
    return Capability(model.name, backend, support, f"the brian2 backend's equations through PyNN 0.13 (runtime "
                      f"mode): {underlying.reason}", underlying.error)


def requires_brian2_backend() -> str:
    """"" if the brian2 backend (which this one builds on) can run, else its reason."""
    from ..errors import BackendUnavailable
    from . import get

    try:
        return get("brian2").unavailable_reason()
    except BackendUnavailable as error:
        return f"needs the brian2 backend: {error}"


def _brian2_tolerances() -> tuple:
    """The brian2 backend's own tolerance rows, for this backend: the same equations and
    methods run here (read through the registry; none if that backend is missing)."""
    from dataclasses import replace

    from . import get

    try:
        return tuple(replace(row, backend=NAME) for row in get("brian2").tolerances)
    except Exception:  # noqa: BLE001 - without the brian2 backend this one is unavailable anyway
        return ()


BACKEND = Backend(
    name=NAME,
    label="PyNN/Brian2",
    description="PyNN 0.13 (pyNN.brian2) running lifbridge's Brian2 equations as a PyNN cell type",
    packages=(("pyNN", "PyNN"), ("brian2", "brian2")),
    install_hint="pip install 'lifbridge[pynn]'",
    runner="lifbridge.runners.pynn_brian2",
    capability=capability,
    probe=requires_brian2_backend,
    options=MappingProxyType({
        "target": Option(("numpy", "cython"), "numpy", "Brian2 code generation target under PyNN (cython: compiled "
                         "once per model and cached, faster for long runs such as hh at dt = 0.01 ms)",
                         validation_default="cython"),
    }),
    color="tab:green",
    tolerances=_brian2_tolerances(),
    modules=("lifbridge.backends.pynn_brian2", "lifbridge.pynn.brian2", "lifbridge.runners.pynn_brian2"),
)
