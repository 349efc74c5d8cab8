"""pyNN.brian2 cell types: lifbridge's Brian2 equations as a PyNN ``StandardCellType``.

pyNN.brian2 has no native cell types: a custom type subclasses ``StandardCellType``
with ``eqs`` (Brian2 equations that contain ``i_inj : amp``, written by PyNN's current
sources), ``translations`` (PyNN name -> group variable, with a Brian2 unit),
``state_variable_translations``, ``post_synaptic_variables`` and ``brian2_model`` (the
``NeuronGroup`` subclass with threshold, reset and refractoriness).

Everything comes from :func:`lifbridge.brian2.to_brian2` with every parameter a
per-neuron variable (PyNN sets them) and the current input ``I_stim`` driven by
``i_inj``: the same equations, threshold, reset, refractory condition (released at the
grid point t_spike + t_ref, NEST's convention), integration method and exact updates of
the linear synaptic variables (:meth:`lifbridge.brian2.Brian2Code.attach`) as lifbridge's
Brian2 backend.

Synapses: PyNN's Brian2 ``StaticSynapse`` runs ``<post_synaptic_variable> += weight``.
Each receptor's "variable" here is lifbridge's own ``on_pre`` code for that port
(:func:`lifbridge.brian2.on_pre`, NEST's sign convention) on a temporary holding the
weight with NEST's sign, followed by that temporary: the final ``+= weight`` changes only
the temporary. So an inhibitory current (PyNN: weight <= 0) and an inhibitory
conductance (PyNN: weight >= 0) both act as in lifbridge, where ``I_syn_inh`` and
``g_inh`` hold magnitudes.

Spike times: pyNN.brian2 reports Brian2's stamp, the start of the step in which the
threshold is crossed, one step before the grid point at which lifbridge (and NEST)
report the spike; :mod:`lifbridge.runners.pynn_brian2` adds that step.

Dependency on the ``brian2`` backend: this backend is built on the Brian2 backend's
code generator. Backends do not import each other's modules (``tests/test_backends.py``),
so a missing or broken backend leaves the others working; the generator is therefore
taken through the registry (:func:`_brian2_backend`: ``lifbridge.backends.require("brian2")``
and only modules that backend declares).
"""

from __future__ import annotations

import importlib
from types import MappingProxyType

from .. import backends as registry
from ..errors import BackendUnavailable
from ..model import Model
from .names import (STANDARD_TYPES, PyNNNames, check_parameter_space, check_standard, class_name, pynn_names,
                    standard_class)

#: Name of the temporary that holds a weight with NEST's sign in the synapses' code.
WEIGHT_TEMPORARY = "pynn_weight"

#: PyNN standard type -> (same model as lifbridge's on pyNN.brian2?, why), each measured by
#: tests/test_pynn_standard.py (see lifbridge.pynn.nest.STANDARD_VERDICTS).
STANDARD_VERDICTS = MappingProxyType({
    "IF_curr_exp": (False, "pyNN.brian2's ThresholdNeuronGroup releases the refractory clamp at Brian2's own "
                           "spike stamp + tau_refrac, one step before lifbridge (NEST's convention)"),
    "IF_curr_alpha": (False, "pyNN.brian2 0.13 integrates the inhibitory alpha current with tau_syn_E "
                             "(receptors.py:47-48)"),
    "IF_curr_delta": (False, "pyNN.brian2's refractory release differs from lifbridge's by one step"),
    "IF_cond_exp": (False, "pyNN.brian2's refractory release differs from lifbridge's by one step"),
    "IF_cond_alpha": (False, "pyNN.brian2's refractory release differs from lifbridge's by one step"),
    "EIF_cond_exp_isfa_ista": (False, "pyNN.brian2 cuts spikes at v_thresh + 5 delta_T (not v_spike) and takes "
                                      "v_reset, b, tau_refrac from neuron 0 only"),
    "EIF_cond_alpha_isfa_ista": (False, "pyNN.brian2 cuts spikes at v_thresh + 5 delta_T (not v_spike) and takes "
                                        "v_reset, b, tau_refrac from neuron 0 only"),
    "HH_cond_exp": (False, "pyNN.brian2 0.13 integrates HH_cond_exp with forward Euler and counts every step above "
                           "-40 mV as a spike (NaN at dt = 0.1 ms)"),
    "Izhikevich": (False, "pyNN.brian2 integrates Izhikevich with Brian2's default method (euler), lifbridge RK4"),
})


def _brian2_backend(module: str):
    """A module of the ``brian2`` backend (``lifbridge.brian2``), through the registry."""
    backend = registry.require("brian2")
    if module not in backend.modules:
        raise BackendUnavailable(f"the brian2 backend no longer declares {module}; pynn.brian2 needs it")
    return importlib.import_module(module)


def _synaptic_code(lb2, model: Model, names: PyNNNames) -> dict:
    """PyNN receptor -> the text PyNN puts before ``+= weight`` (see the module docstring)."""
    out = {}
    for port, receptor in names.receptors.items():
        sign = model.inputs[port].sign
        # PyNN's sign: conductances >= 0 on every port; NEST's (lifbridge's): <= 0 on an inhibitory one
        flip = sign == "inhibitory" and names.conductance_based
        code = lb2.on_pre(model, port, WEIGHT_TEMPORARY)
        out[receptor] = (f"{WEIGHT_TEMPORARY} = {'-' if flip else ''}weight\n{code}\n{WEIGHT_TEMPORARY}")
    return out


_TYPES: dict = {}


def generated_type(model: Model, sim):
    """The pyNN.brian2 cell type class of ``model`` (lifbridge's Brian2 equations)."""
    import brian2
    from pyNN.brian2.cells import BaseNeuronGroup
    from pyNN.standardmodels import StandardCellType, build_translations

    key = (model.name, repr(model))
    if key in _TYPES:
        return _TYPES[key]
    lb2 = _brian2_backend("lifbridge.brian2")
    names = pynn_names(model)
    inputs = {model.input_current: "i_inj"} if model.input_current else {}
    code = lb2.to_brian2(model, per_neuron=tuple(model.parameters), inputs=inputs)
    equations = code.equations + "\ni_inj : amp  # PyNN's current sources"
    threshold, reset, refractory, method = code.threshold, code.reset, code.refractory or False, code.method

    class Group(BaseNeuronGroup):
        """A NeuronGroup with the model's threshold, reset, refractory condition, method and exact updates."""

        def __init__(self, n, eqs, **parameters):
            super().__init__(n, eqs, threshold=threshold, reset=reset, refractory=refractory, method=method,
                             **parameters)
            code.attach(self)

    def unit_of(name):
        return lb2.quantity(1.0, name.pynn_unit)

    def __init__(self, **parameters):
        where = f"{type(self).__name__}: "
        given, resolved = names.read(parameters, where)
        StandardCellType.__init__(self, **given)
        self.default_initial_values = names.initial_values(resolved)

    def translate(self, parameters, copy=True):
        check_parameter_space(names, parameters, f"{type(self).__name__}: ")
        return StandardCellType.translate(self, parameters, copy)

    attributes = dict(
        __doc__=f"lifbridge's {model.name} on Brian2 (PyNN names and units: "
                + ", ".join(f"{n.pynn} [{n.pynn_unit.name}]" for n in names.parameters) + ")",
        __init__=__init__,
        translate=translate,
        lifbridge_model=model,
        lifbridge_names=names,
        lifbridge_code=code,
        eqs=brian2.Equations(equations),
        default_parameters=names.default_parameters(),
        default_initial_values=names.initial_values(),
        translations=build_translations(*[(n.pynn, n.spec, unit_of(n)) for n in names.parameters]),
        state_variable_translations=build_translations(*[(n.pynn, n.spec, unit_of(n)) for n in names.state]),
        post_synaptic_variables=_synaptic_code(lb2, model, names),
        brian2_model=Group,
        recordable=["spikes"] + [n.pynn for n in names.state],
        units=names.units(),
        receptor_types=tuple(names.receptors.values()),
        conductance_based=names.conductance_based,
        voltage_based_synapses=names.voltage_based,
        injectable=model.input_current is not None,
        extra_parameters={},
    )
    cls = type(class_name(model), (StandardCellType,), attributes)
    _TYPES[key] = cls
    return cls


def align_default_clock(sim):
    """Give Brian2's default clock the time step of ``sim.setup``. pyNN.brian2 0.13 makes a
    ``SpikeSourceArray``'s ``SpikeGeneratorGroup`` without a clock, so it runs on Brian2's
    default clock (0.1 ms) whatever the time step: at dt = 0.01 ms its spikes would be
    delivered on a 0.1 ms grid, and two spikes within 0.1 ms stop the run."""
    import brian2

    brian2.defaultclock.dt = sim.simulator.state.network.clock.dt


def cell_type(model: Model, sim, *, standard=None):
    """The pyNN.brian2 cell type of ``model`` (``standard=True``: PyNN's standard type, where verified)."""
    align_default_clock(sim)
    if standard:
        check_standard(model, "pyNN.brian2", STANDARD_TYPES, STANDARD_VERDICTS)
        return standard_class(model, sim)
    return generated_type(model, sim)


class _StepUpdate:
    """Sets a per-neuron variable of some cells at the start of the steps where it changes, where
    pyNN.brian2 updates its current sources (it calls ``_update_current`` of each source every
    step). ``values[k]`` (a quantity, one per target index or one for all) holds from ``steps[k]``."""

    def __init__(self, targets, steps, values, additive=False):
        self.targets, self.steps, self.values, self.additive = targets, steps, values, additive
        self.next = 0
        self.previous = None

    def _update_current(self):
        from pyNN.brian2 import simulator

        step = int(round(float(simulator.state.t) / float(simulator.state.dt)))
        if self.next < len(self.steps) and self.steps[self.next] <= step:
            while self.next + 1 < len(self.steps) and self.steps[self.next + 1] <= step:
                self.next += 1
            value = self.values[self.next]
            for group, variable, indices in self.targets:
                if self.additive:        # other sources add to the same variable: change it by the difference
                    getattr(group, variable)[indices] += value - (0 * value if self.previous is None else self.previous)
                else:
                    getattr(group, variable)[indices] = value
            self.previous = value
            self.next += 1

    def _reset(self):
        self.next = 0
        self.previous = None


def _targets(cells, variable):
    """(group, variable, indices) per Brian2 group of ``cells``."""
    import numpy as np

    by_group = {}
    for cell in cells:
        group = cell.parent.brian2_group
        by_group.setdefault(id(group), (group, []))[1].append(int(cell.parent.id_to_index(cell)))
    return [(group, variable, np.asarray(indices)) for group, indices in by_group.values()]


def inject_sampled_current(cells, samples_nA, signal_dt_ms):
    """A current sampled every ``signal_dt_ms`` (nA, one column per cell of ``cells``, one
    Population) into PyNN's current input ``i_inj``, updated once per change for all cells
    together where pyNN.brian2 updates its current sources. One ``StepCurrentSource`` per cell
    costs a Python call per cell and step: for a signal that changes at every step (white
    noise) this is the same input, in one call per step."""
    import brian2
    import numpy as np
    from pyNN.brian2 import simulator

    samples = np.asarray(samples_nA, dtype=float)
    steps = np.round(np.arange(len(samples)) * signal_dt_ms / float(simulator.state.dt)).astype(int)
    targets = _targets(cells, "i_inj")
    if len(targets) != 1:
        raise ValueError("inject_sampled_current: the cells must belong to one population")
    update = _StepUpdate(targets, steps, [row * brian2.nA for row in samples], additive=True)
    simulator.state.current_sources.append(update)
    return update


def inject_light(cells, model: Model, times_ms, intensities):
    """The per-neuron light input of ``cells`` (:class:`lifbridge.pynn.LightSource`), set at the
    start of the step of each time, as pyNN.brian2 sets ``i_inj`` for a ``StepCurrentSource``."""
    import numpy as np
    from pyNN.brian2 import simulator

    lb2 = _brian2_backend("lifbridge.brian2")
    port = model.light_input
    steps = np.round(np.asarray(times_ms, dtype=float) / float(simulator.state.dt)).astype(int)
    values = [lb2.quantity(float(v), model.inputs[port].unit) for v in intensities]
    update = _StepUpdate(_targets(cells, port), steps, values)
    simulator.state.current_sources.append(update)
    return update


def import_simulator():
    """pyNN.brian2 (:func:`lifbridge.pynn.import_simulator`)."""
    import pyNN.brian2 as sim

    return sim
