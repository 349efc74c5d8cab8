"""pyNN.neuron cell types: lifbridge's NMODL point process on a single-compartment section.

The cell type class subclasses PyNN's ``StandardCellType`` (so that pyNN.neuron
translates PyNN's names and units to the point process's: ``cm`` in nF -> ``C_m`` in nF,
EIF's ``a`` in nS -> uS, with the factors of :mod:`lifbridge.units`) and pyNN.neuron's
``NativeCellType``; its ``model`` is a Python cell class (a ``nrn.Section``) that PyNN
builds once per neuron. The cell holds the model's point process
(:func:`lifbridge.nmodl.to_nmodl`, compiled and loaded by :mod:`lifbridge.nmodl_build`)
on a section of PyNN's area (1e-3 cm2, so ``cm`` in uF/cm2 is the capacitance in nF)
whose capacitance is the model's ``1 / (d(dV_m/dt)/dI_stim)``
(:func:`lifbridge.nmodl.section_capacitance_nF`, recomputed when a parameter changes):
PyNN's current sources (an ``IClamp`` on ``source_section``) then act as the model's
current input ``I_stim``.

What PyNN needs of the cell object (``pyNN/neuron/simulator.py``, ``recording.py``,
``projections.py``): ``source`` and ``source_section`` (spike detection, current
sources), ``rec``/``spike_times`` (spike recording), ``traces``, ``recording_time``,
``initial_values`` and ``memb_init()`` (called at every ``finitialize``), one attribute
per receptor type holding the NetCon target (the point process), and ``type`` (the cell
type class, whose ``receptor_types`` PyNN reads to write the receptor index into the
NetCon's second weight). Parameters are set with ``setattr`` in the point process's
units. Initial values of the other state variables are written into the point process
by a ``FInitializeHandler`` run after the mechanisms' ``INITIAL`` blocks.

Weights and signs are PyNN's, in NEURON's units unchanged: nA for current-based ports
(an inhibitory weight negative), uS for conductances (positive on every port), mV for
voltage jumps (inhibitory negative). Receptor types: ``excitatory``/``inhibitory``,
``rec1``, ``rec2``, ... (:mod:`lifbridge.pynn.names`).

``import pyNN.neuron`` compiles PyNN's own NMODL files on first import, but only if
``nrnivmodl`` is on ``PATH`` (else a confusing ``TypeError``): :func:`import_pynn_neuron`
puts the Python environment's ``bin`` first on ``PATH`` before importing it.

Spike times: the point process emits a spike at the time step at which its ``WATCH``
finds the condition true (see :mod:`lifbridge.runners.pynn_neuron` for the timing).
"""

from __future__ import annotations

import weakref

import os
from collections import defaultdict
from math import pi
from types import MappingProxyType

import numpy as np

from ..errors import BackendUnavailable, ParameterError
from ..model import Model
from ..units import Unit
from .names import STANDARD_TYPES, check_parameter_space, check_standard, class_name, pynn_names, standard_class

_CVODE = MappingProxyType({"use_cvode": True})
#: What lifbridge.pynn.setup gives sim.setup unless told otherwise: NEURON's fixed step is
#: implicit Euler (first order), under which AdEx runs away at dt = 0.1 ms.
SETUP_DEFAULTS = _CVODE

#: Every lifbridge cell made on pyNN.neuron that is still alive. PyNN 0.13 keeps the cells of
#: earlier populations in NEURON after ``sim.setup()``/``sim.end()``, and NEURON goes on
#: integrating them in every later run: :func:`retire_earlier_cells` makes them inert.
LIVE_CELLS = weakref.WeakSet()


#: pyNN.neuron's spike generators (artificial cells) that keep scheduling events, with the
#: parameter that ends their firing (pyNN/neuron/nmodl/*.mod).
_GENERATORS_WITH_DURATION = ("NetStimFD", "GammaStim", "PoissonStimRefractory")
_NO_SPIKES: dict = {}


def retire_earlier_cells() -> int:
    """Make every lifbridge cell still in NEURON inert (no current, no state change, no
    spikes: ``lb_retired``) and silence every event source of earlier runs; call right after
    ``sim.setup()``, before the new populations.

    PyNN 0.13 keeps the cells, spike sources and connections of earlier runs in NEURON
    (``pyNN.neuron.projections._projections`` holds every Projection ever made, and the cells
    refer to themselves through NEURON sections, which Python's collector cannot free), and
    NEURON goes on integrating them: each of their events interrupts the variable-step solver
    of every later run. So every NetCon that exists now is switched off, every ``VecStim``
    (``SpikeSourceArray``) gets an empty spike vector and every other generator a zero
    duration, and lifbridge's light inputs stop playing."""
    from neuron import h

    cells = list(LIVE_CELLS)
    for cell in cells:
        cell.pp.lb_retired = 1
        # NEURON would otherwise call back into the cell at every finitialize
        cell._state_handler = None
        for _, amplitudes in getattr(cell, "light_players", []):
            amplitudes.play_remove()
    LIVE_CELLS.clear()
    for connection in h.List("NetCon"):
        connection.active(False)
    # no spike within any run (an empty vector makes VecStim read garbage); VecStim keeps a
    # pointer to the vector, which must live as long as the sources
    far = _NO_SPIKES.setdefault("vector", h.Vector([1e15]))
    for source in h.List("VecStim"):
        source.play(far)
    for kind in _GENERATORS_WITH_DURATION:
        if hasattr(h, kind):
            for source in h.List(kind):
                source.duration = 0.0
    return len(cells)

#: PyNN standard type -> (same model as lifbridge's on pyNN.neuron?, why[, the sim.setup values
#: it needs]), each measured by tests/test_pynn_standard.py (under the pynn.neuron runner's
#: variable-step solver; NEURON's fixed step is not measured).
STANDARD_VERDICTS = MappingProxyType({
    "IF_curr_exp": (True, "pyNN.neuron's StandardIF (pas + ResetRefrac + ExpISyn) under NEURON's variable-step "
                          "solver: spikes within one time step of the generated type", _CVODE),
    "IF_curr_alpha": (True, "pyNN.neuron's StandardIF with AlphaISyn under NEURON's variable-step solver: spikes "
                            "within one time step of the generated type", _CVODE),
    "IF_curr_delta": (False, "pyNN.neuron has no IF_curr_delta (ModelNotAvailable)"),
    "IF_cond_exp": (True, "pyNN.neuron's StandardIF with ExpSyn under NEURON's variable-step solver: spikes within "
                          "one time step of the generated type", _CVODE),
    "IF_cond_alpha": (True, "pyNN.neuron's StandardIF with AlphaSyn under NEURON's variable-step solver: spikes "
                            "within one time step of the generated type", _CVODE),
    "EIF_cond_exp_isfa_ista": (False, "pyNN.neuron's AdExpIF draws a spike to v_spike for 1e-12 ms and detects "
                                      "at v_spike, lifbridge at V_peak"),
    "EIF_cond_alpha_isfa_ista": (False, "pyNN.neuron's AdExpIF draws a spike to v_spike for 1e-12 ms and detects "
                                        "at v_spike, lifbridge at V_peak"),
    "HH_cond_exp": (False, "pyNN.neuron's hh_traub.mod detects spikes by a threshold crossing of the section, "
                           "lifbridge by V_m >= V_T + 30 mV with dV_m/dt < 0"),
    "Izhikevich": (False, "pyNN.neuron's izhikevich.mod takes u in mV/ms and has no refractory-free reset at "
                          "V_th in lifbridge's units (NEST's convention)"),
})

#: PyNN's single compartment: length 100 um, diameter 1000/pi um, area 1e-3 cm2, so that a
#: specific capacitance in uF/cm2 is the capacitance in nF (pyNN/neuron/cells.py).
SECTION_LENGTH_UM = 100.0
SECTION_DIAMETER_UM = 1000.0 / pi


def import_simulator():
    """pyNN.neuron, ready (:func:`import_pynn_neuron`)."""
    return import_pynn_neuron()


def import_pynn_neuron():
    """``import pyNN.neuron``, with the environment's ``bin`` (NEURON's ``nrnivmodl``) first on
    ``PATH`` so that PyNN can compile its own mechanisms on first import."""
    from ..nmodl_build import path_with_venv_bin

    import warnings

    os.environ["PATH"] = path_with_venv_bin()
    os.environ.setdefault("NEURON_MODULE_OPTIONS", "-nogui")   # no "no DISPLAY" banner
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="mpi4py not available")
            import pyNN.neuron as sim
    except TypeError as error:      # pyNN/neuron/simulator.py: build_extensions() returned None
        raise BackendUnavailable(f"pyNN.neuron could not compile its own NMODL files ({error}); run "
                                 f"nrnivmodl in the nmodl directory of PyNN's neuron package, with g++ and make "
                                 f"installed") from None
    return sim


def _nmodl_names(model: Model) -> dict:
    """Spec name -> (unit in the point process) for parameters and state variables."""
    from ..nmodl import neuron_unit

    return {name: neuron_unit(item.unit) for table in (model.parameters, model.state) for name, item in table.items()}


def _si(unit: Unit) -> Unit:
    return Unit(unit.dim, 1.0, "SI")


class _Reference:
    """What pyNN.neuron reads ``_ref_g`` of for ``gsyn_exc``/``gsyn_inh``: the point process's conductance."""

    def __init__(self, reference):
        self._ref_g = reference


def cell_class(model: Model, mechanism: str):
    """The Python class PyNN builds per neuron (see the module docstring)."""
    from neuron import h, nrn

    from ..nmodl import membrane, section_capacitance_nF

    units = _nmodl_names(model)
    membrane_name = membrane(model).variable
    parameters = tuple(model.parameters)
    states = tuple(x for x in model.state if x != membrane_name)
    to_si = {name: unit.factor_to(_si(unit)) for name, unit in units.items()}
    receptors = [r for r in pynn_names(model).receptors.values()]
    own = frozenset(parameters)
    by_pynn = {n.pynn: n.spec for n in pynn_names(model).state}
    conductance_refs = {attribute: by_pynn[pynn] for attribute, pynn in (("esyn", "gsyn_exc"), ("isyn", "gsyn_inh"))
                        if pynn in by_pynn}

    class Cell(nrn.Section):
        __doc__ = f"One neuron of lifbridge's {model.name}: a section with the point process {mechanism}."

        def __init__(self, **values):
            nrn.Section.__init__(self)
            LIVE_CELLS.add(self)
            self.L = SECTION_LENGTH_UM
            self(0.5).diam = SECTION_DIAMETER_UM
            self.seg = self(0.5)
            self.pp = getattr(h, mechanism)(0.5, sec=self)
            self.source = self.pp
            self.source_section = self
            for receptor in receptors:
                nrn.Section.__setattr__(self, receptor, self.pp)
            self.rec = h.NetCon(self.pp, None)
            # pyNN.neuron records gsyn_exc/gsyn_inh from cell.esyn._ref_g / cell.isyn._ref_g
            for attribute, state in conductance_refs.items():
                nrn.Section.__setattr__(self, attribute, _Reference(getattr(self.pp, f"_ref_{state}")))
            self.spike_times = h.Vector(0)
            self.traces = defaultdict(list)
            self.recording_time = 0
            self.initial_values = {}
            for name, value in values.items():
                setattr(self, name, value)
            self._update_capacitance()
            self._state_handler = h.FInitializeHandler(1, self._initialize_states)

        def __setattr__(self, name, value):
            if name in own:
                setattr(self.pp, name, float(value))
                self._update_capacitance()
            else:
                nrn.Section.__setattr__(self, name, value)

        def __getattr__(self, name):
            if name in own:
                return getattr(self.pp, name)
            raise AttributeError(name)

        def _update_capacitance(self):
            if "pp" not in self.__dict__ and not hasattr(self, "pp"):
                return
            si = {n: getattr(self.pp, n) * to_si[n] for n in parameters}
            self.seg.cm = section_capacitance_nF(model, si)

        def memb_init(self):
            self.seg.v = float(self.initial_values.get(membrane_name, self.seg.v))

        def _initialize_states(self):
            for name in states:
                if name in self.initial_values and self.initial_values[name] is not None:
                    setattr(self.pp, name, float(self.initial_values[name]))

        def area(self):
            return pi * self.L * self.seg.diam

    Cell.__name__ = Cell.__qualname__ = f"{class_name(model)}Cell"
    return Cell


_TYPES: dict = {}


def generated_type(model: Model, sim):
    """The pyNN.neuron cell type class of ``model``'s point process."""
    from pyNN.neuron.cells import NativeCellType
    from pyNN.standardmodels import StandardCellType, build_translations

    from ..nmodl_build import load

    key = (model.name, repr(model), tuple((n, p.value) for n, p in model.parameters.items()))
    if key in _TYPES:
        return _TYPES[key]
    names = pynn_names(model)
    mechanism = load([model])[model.name]
    units = _nmodl_names(model)
    for item in names.state:
        if item.pynn_unit.dim != units[item.spec].dim or item.pynn_unit.factor_to(units[item.spec]) != 1.0:
            raise ParameterError(f"model {model.name!r}: state variable {item.spec} is in {units[item.spec].name} "
                                 f"in NEURON but {item.pynn_unit.name} in PyNN; lifbridge cannot record it yet")
    from ..nmodl import neuron_unit

    for port, unit in names.weight_units.items():
        if unit.dim != model.inputs[port].unit.dim or unit.factor_to(neuron_unit(model.inputs[port].unit)) != 1.0:
            raise ParameterError(f"model {model.name!r}: weights of {port} are not in NEURON's unit")
    Cell = cell_class(model, mechanism)

    def __init__(self, **parameters):
        where = f"{type(self).__name__}: "
        given, resolved = names.read(parameters, where)
        StandardCellType.__init__(self, **given)
        self.default_initial_values = names.initial_values(resolved)

    def translate(self, parameters, copy=True):
        check_parameter_space(names, parameters, f"{type(self).__name__}: ")
        return StandardCellType.translate(self, parameters, copy)

    def can_record(self, variable, location=None):
        return variable in self.recordable

    attributes = dict(
        __doc__=f"lifbridge's {model.name} as the NEURON point process {mechanism} (PyNN names and units: "
                + ", ".join(f"{n.pynn} [{n.pynn_unit.name}]" for n in names.parameters) + ")",
        __init__=__init__,
        translate=translate,
        can_record=can_record,
        lifbridge_model=model,
        lifbridge_names=names,
        mechanism=mechanism,
        model=Cell,
        default_parameters=names.default_parameters(),
        default_initial_values=names.initial_values(),
        translations=build_translations(*[(n.pynn, n.spec, n.pynn_unit.factor_to(units[n.spec]))
                                          for n in names.parameters]),
        variable_map={n.pynn: n.spec for n in names.state},
        recordable=["spikes"] + [n.pynn for n in names.state],
        units=names.units(),
        receptor_types=[names.receptors[p] for p in model.spike_inputs],
        conductance_based=names.conductance_based,
        injectable=True,
        extra_parameters={},
    )
    cls = type(class_name(model), (StandardCellType, NativeCellType), attributes)
    Cell.type = cls          # PyNN writes receptor_types.index(receptor) into NetCon.weight[1]
    _TYPES[key] = cls
    return cls


def cell_type(model: Model, sim, *, standard=None):
    """The pyNN.neuron cell type of ``model`` (``standard=True``: PyNN's standard type, where verified)."""
    if standard:
        check_standard(model, "pyNN.neuron", STANDARD_TYPES, STANDARD_VERDICTS, current_setup(sim))
        return standard_class(model, sim)
    return generated_type(model, sim)


def current_setup(sim) -> dict:
    """The ``sim.setup`` values a standard type's verdict can depend on, as now in force."""
    return {"use_cvode": bool(sim.simulator.state.cvode.active())}


__all__ = ["cell_type", "generated_type", "import_pynn_neuron", "STANDARD_VERDICTS"]


def inject_light(cells, model: Model, times_ms, intensities):
    """The light input of each cell's point process (:class:`lifbridge.pynn.LightSource`), played
    from ``Vector``s as pyNN.neuron plays a ``StepCurrentSource`` into its ``IClamp``: a step
    function whose changes the variable-step solver treats as discontinuities."""
    from neuron import h

    from ..nmodl import neuron_unit

    port = model.light_input
    unit = model.inputs[port].unit
    values = np.asarray(intensities, dtype=float) * unit.factor_to(neuron_unit(unit))
    players = []
    for cell in cells:
        target = cell._cell
        times, amplitudes = h.Vector(np.asarray(times_ms, dtype=float)), h.Vector(values)
        amplitudes.play(getattr(target.pp, f"_ref_{port}"), times, 0)
        # the vectors must outlive the run: the cell keeps them
        target.light_players = getattr(target, "light_players", []) + [(times, amplitudes)]
        players.append((times, amplitudes))
    return players
