"""A light source for PyNN scripts: the light input of a lifbridge model, on every PyNN backend.

>>> from lifbridge.pynn import LightSource                          # doctest: +SKIP
>>> light = LightSource(times=[100.0, 600.0], intensities=[5.0, 0.0])  # doctest: +SKIP
>>> light.inject_into(cells)                                         # doctest: +SKIP

Like PyNN's ``StepCurrentSource``: the intensity is ``intensities[k]`` from ``times[k]``
(ms) until the next time, 0 (darkness) before the first. Intensities are in the unit of the
model's light input (mW/mm**2 for ``optogenetic_lif``) or in ``unit``, converted with
:mod:`lifbridge.units`; they must be finite and >= 0.

``inject_into(cells)`` takes a ``Population``, ``PopulationView`` or ``Assembly`` of one
PyNN backend whose cell type is a lifbridge model with a light input; each backend's
translation unit (``lifbridge.pynn.<backend>.inject_light``) reaches that input with the
timing of the backend's own ``StepCurrentSource``, so light and current changes written for
the same time act at the same step:

* pyNN.nest: a ``step_current_generator`` on the neuron's light receptor (a change acts
  ``min_delay`` after it is sent, as PyNN's current sources; a change before ``min_delay``
  acts at ``min_delay``, with a warning);
* pyNN.brian2: the group's per-neuron ``phi``, set at the start of the step of each time;
* pyNN.neuron: ``Vector.play`` into the point process's light variable.
"""

from __future__ import annotations

import importlib
import sys

import numpy as np

from ..errors import ParameterError, UnitError
from ..units import parse_unit

__all__ = ["LightSource"]


class LightSource:
    """Piecewise-constant light intensity from ``times`` (ms) on, in the light input's unit (or ``unit``)."""

    def __init__(self, times, intensities, unit=None):
        times = np.atleast_1d(np.asarray(times, dtype=float))
        intensities = np.atleast_1d(np.asarray(intensities, dtype=float))
        where = "LightSource"
        if times.ndim != 1 or times.shape != intensities.shape:
            raise ParameterError(f"{where}: times and intensities must be 1-D of the same length, got "
                                 f"{times.shape} and {intensities.shape}")
        if not np.all(np.isfinite(times)) or np.any(times < 0):
            raise ParameterError(f"{where}: times must be finite and >= 0 ms, got {times[~np.isfinite(times) | (times < 0)][0]:g}")
        if np.any(np.diff(times) <= 0):
            raise ParameterError(f"{where}: times must increase strictly, got {times.tolist()[:6]}")
        bad = ~np.isfinite(intensities) | (intensities < 0)
        if bad.any():
            raise ParameterError(f"{where}: intensities must be finite and >= 0 (0 is darkness), got "
                                 f"{intensities[bad][0]:g} at {times[bad][0]:g} ms")
        self.times = times
        self.intensities = intensities
        self.unit = parse_unit(unit) if unit is not None else None
        self.targets = []

    def __repr__(self):
        unit = f", unit={self.unit.name!r}" if self.unit is not None else ""
        return f"LightSource(times={self.times.tolist()}, intensities={self.intensities.tolist()}{unit})"

    def intensities_in(self, port_unit):
        """The intensities in ``port_unit`` (the light input's unit)."""
        if self.unit is None:
            return self.intensities
        if self.unit.dim != port_unit.dim:
            raise UnitError(f"LightSource: intensities in {self.unit.name} cannot drive a light input in "
                            f"{port_unit.name}; give unit={port_unit.name!r}")
        return self.intensities * self.unit.factor_to(port_unit)

    def inject_into(self, cells):
        """Shine this light on ``cells`` (a Population, PopulationView or Assembly of lifbridge cells)."""
        model = _light_model(cells)
        unit = _translation_unit(cells)
        port = model.light_input
        unit.inject_light(cells, model, self.times, self.intensities_in(model.inputs[port].unit))
        self.targets.append(cells)


def _light_model(cells):
    celltype = getattr(cells, "celltype", None)
    if celltype is None:  # an Assembly: one cell type for all of its populations
        types = {type(p.celltype) for p in getattr(cells, "populations", [])}
        if len(types) != 1:
            raise ParameterError("LightSource.inject_into: the cells must share one cell type with a light input")
        celltype = cells.populations[0].celltype
    model = getattr(type(celltype), "lifbridge_model", None)
    label = type(celltype).__name__
    if model is None:
        raise ParameterError(f"LightSource.inject_into: {label} is not a lifbridge cell type; make one with "
                             f"lifbridge.pynn.cell_type('optogenetic_lif', sim)")
    if model.light_input is None:
        raise ParameterError(f"LightSource.inject_into: {label} ({model.name}) has no light input; "
                             f"optogenetic_lif has one")
    return model


def _translation_unit(cells):
    """The lifbridge translation unit of the PyNN backend the cells belong to."""
    module = type(cells).__module__                     # e.g. pyNN.nest.populations
    backend = sys.modules.get(module.rsplit(".", 1)[0]) or importlib.import_module(module.rsplit(".", 1)[0])
    from . import translation_unit

    return translation_unit(backend)
