"""pyNN.nest cell types: lifbridge's generated NESTML neuron (``<model>_neuron``) in PyNN.

The cell type class subclasses PyNN's ``NativeCellType`` (the model is a NEST model of
its own, with only its real parameters: no NEST archiving keys) and ``StandardCellType``
(so that pyNN.nest translates PyNN's names and units to the neuron's: ``cm`` in nF ->
``C_m`` in pF, with the factors of :mod:`lifbridge.units`). State variables are read
through ``variable_map``/``scale_factors`` in PyNN units.

The NEST module comes from the ``nest`` backend (:func:`lifbridge.nest.install`, the
same cached module as ``lifbridge run --backend nest``: one module per model set, see
:func:`lifbridge.nest.module_models`). ``sim.setup()`` resets the NEST kernel, which
unloads modules, and NEST refuses to load a module once any node exists; so this module
wraps ``pyNN.nest``'s kernel reset (``simulator.state.clear``, run by ``setup()`` and
``end()``) to load every module lifbridge loaded before again, right after the reset.
A cell type made for the first time after a node exists cannot be loaded: one-line
error naming :func:`lifbridge.pynn.setup`.

Dependency on the ``nest`` backend: this backend is built on the NEST backend's NESTML
generator and module build. Backends do not import each other's modules
(``tests/test_backends.py``), so that a missing or broken backend leaves the others
working. The dependency is therefore taken through the registry:
:func:`_nest_backend` asks ``lifbridge.backends.require("nest")`` (its reason becomes
ours when NEST's backend is missing) and loads only modules that backend declares.

Weights: PyNN multiplies every weight by 1000 (nA -> pA, uS -> nS) and negates an
inhibitory conductance (NEST's sign convention, which the generated neuron follows);
a port taking a voltage jump (mV) gets ``receptor_scale`` from the unit table.
"""

from __future__ import annotations

import importlib
from types import MappingProxyType

import numpy as np

from .. import backends as registry
from ..errors import BackendUnavailable, ParameterError
from ..model import Model
from ..units import parse_unit
from .names import (STANDARD_TYPES, PyNNNames, check_parameter_space, check_standard, class_name, pynn_names,
                    standard_class)

#: PyNN's pyNN.nest StaticSynapse multiplies weights by 1000, taking nA to pA and uS to nS.
PYNN_NEST_WEIGHT_FACTOR = parse_unit("nA").factor_to(parse_unit("pA"))
#: ... and current source amplitudes (nA) by the same factor, to pA.
PYNN_NEST_CURRENT_UNIT = parse_unit("pA")

#: PyNN standard type -> (same model as lifbridge's on pyNN.nest?, why[, the sim.setup values
#: it needs]). Each verdict is measured by tests/test_pynn_standard.py: "same" means spike
#: for spike with lifbridge's generated neuron on pyNN.nest (to one time step) under a
#: current sweep, a step, frozen noise, spikes through both receptors and a non-resting
#: initial v; "not the same" means that measurement finds a larger difference.
STANDARD_VERDICTS = MappingProxyType({
    "IF_curr_exp": (True, "NEST's iaf_psc_exp: the same equations and exact update, spike for spike",
                    MappingProxyType({"spike_precision": "on_grid"})),
    "IF_curr_alpha": (True, "NEST's iaf_psc_alpha: the same equations and exact update, spike for spike"),
    "IF_curr_delta": (False, "PyNN 0.13 does not pass initialize(v=...) to iaf_psc_delta (the type has no "
                             "variable map), so every neuron starts at v_rest"),
    "IF_cond_exp": (True, "NEST's iaf_cond_exp: the same equations and GSL solver, spike for spike"),
    "IF_cond_alpha": (True, "NEST's iaf_cond_alpha: the same equations and GSL solver, spike for spike"),
    "EIF_cond_exp_isfa_ista": (False, "aeif_cond_exp resets inside its RKF45 substeps, lifbridge at the end of "
                                      "each step: spikes up to 2 ms apart under noise"),
    "EIF_cond_alpha_isfa_ista": (False, "aeif_cond_alpha resets inside its RKF45 substeps, lifbridge at the end "
                                        "of each step: spikes up to 2 ms apart under noise"),
    "HH_cond_exp": (True, "NEST's hh_cond_exp_traub: the same equations and GSL solver; it detects a spike in "
                          "the step V_m starts to fall, lifbridge at the end of it: spikes within one time step"),
    "Izhikevich": (False, "NEST's izhikevich takes one forward-Euler step per time step, lifbridge RKF45: "
                          "spikes up to 2 ms apart"),
})


def _nest_backend(module: str):
    """A module of the ``nest`` backend (``lifbridge.nest``, ``lifbridge.nestml``), through the registry."""
    backend = registry.require("nest")
    if module not in backend.modules:
        raise BackendUnavailable(f"the nest backend no longer declares {module}; pynn.nest needs it")
    return importlib.import_module(module)


def import_nest():
    """``import nest`` without the banner."""
    import os

    os.environ.setdefault("PYNEST_QUIET", "1")
    import nest

    return nest


# ---------------------------------------------------------------------------- loading the module
#: .so paths lifbridge loaded into this process's kernel, loaded again after every kernel reset.
_LOADED_PATHS: list = []
_HOOKED = "_lifbridge_reinstalls_modules"


def _reinstall(nest):
    models = set(nest.node_models)
    for path in _LOADED_PATHS:
        if path not in list(nest.GetKernelStatus("modules") or []):
            try:
                nest.Install(path)
            except Exception as error:  # noqa: BLE001 - a clash is reported when the model is used
                if path not in str(error):
                    continue
        models = set(nest.node_models)
    return models


def hook_kernel_reset(sim):
    """Make ``sim`` (pyNN.nest) load lifbridge's modules again after each kernel reset."""
    state = sim.simulator.state
    if getattr(state, _HOOKED, False):
        return
    clear = state.clear

    def clear_and_reinstall(*args, **kwargs):
        result = clear(*args, **kwargs)
        _reinstall(import_nest())
        return result

    state.clear = clear_and_reinstall
    setattr(state, _HOOKED, True)
    _scale_initial_values(sim)


def _scale_initial_values(sim):
    """pyNN.nest 0.13 sets initial values without ``scale_factors`` (``initialize(gsyn_exc=0.01)``
    would set 0.01 nS): for lifbridge's types, set them in the neuron's units."""
    population = sim.Population
    if getattr(population, _HOOKED, False):
        return
    original = population._set_initial_value_array

    def set_in_neuron_units(self, variable, value):
        names = getattr(self.celltype, "lifbridge_names", None)
        if names is not None and variable in names.by_pynn:
            factor = names.by_pynn[variable].to_spec
            if factor != 1.0:
                value = value * factor
        return original(self, variable, value)

    population._set_initial_value_array = set_in_neuron_units
    setattr(population, _HOOKED, True)


def ensure_installed(model: Model):
    """Load the NEST module holding ``<model>_neuron`` into the kernel (once per kernel)."""
    nest = import_nest()
    name = _nest_backend("lifbridge.nestml").neuron_name(model)
    if name in nest.node_models:
        return
    if nest.GetKernelStatus("network_size") > 0:
        raise ParameterError(f"pyNN.nest: {name} must be loaded before the first node (population, current source) "
                             f"exists; make the cell type before creating any, or call "
                             f"lifbridge.pynn.setup(sim, models=[{model.name!r}], ...) instead of sim.setup(...)")
    lnest = _nest_backend("lifbridge.nest")
    path = lnest.install(lnest.module_models(model))
    if path not in _LOADED_PATHS:
        _LOADED_PATHS.append(path)


# ---------------------------------------------------------------------------- the generated type
_TYPES: dict = {}


def _spike_receptors(model: Model) -> dict:
    nestml = _nest_backend("lifbridge.nestml")
    if hasattr(nestml, "spike_receptors"):
        return dict(nestml.spike_receptors(model))
    return {port: 0 for port in model.spike_inputs}


def _receptor_scale(names: PyNNNames, model: Model):
    """The factor pyNN.nest applies after its own x1000 so that a weight in PyNN's unit reaches the port
    in the port's unit (None if 1)."""
    scales = {p: names.weight_units[p].factor_to(model.inputs[p].unit) / PYNN_NEST_WEIGHT_FACTOR
              for p in model.spike_inputs}
    values = set(scales.values())
    if len(values) > 1:
        raise ParameterError(f"model {model.name!r}: its ports need different weight scales on pyNN.nest")
    scale = values.pop() if values else 1.0
    return None if scale == 1.0 else scale


def _injectable(model: Model) -> bool:
    """True if PyNN's current sources (NEST receptor 0, amplitudes x1000 nA -> pA) reach the current input."""
    current = model.input_current
    if current is None:
        return False
    receptors = _nest_backend("lifbridge.nestml").continuous_receptors(model)
    return receptors[current] == 0 and model.inputs[current].unit.dim == PYNN_NEST_CURRENT_UNIT.dim and \
        parse_unit("nA").factor_to(model.inputs[current].unit) == PYNN_NEST_WEIGHT_FACTOR


def generated_type(model: Model, sim):
    """The pyNN.nest cell type class of ``model``'s generated NESTML neuron."""
    from pyNN.nest.cells import NativeCellType
    from pyNN.standardmodels import StandardCellType, build_translations

    hook_kernel_reset(sim)
    key = (model.name, repr(model))
    if key in _TYPES:
        cls = _TYPES[key]
        ensure_installed(model)
        return cls
    names = pynn_names(model)
    nest_model = _nest_backend("lifbridge.nestml").neuron_name(model)
    receptors = _spike_receptors(model)
    by_sign = all(r == 0 for r in receptors.values())
    receptor_numbers = {names.receptors[p]: r for p, r in receptors.items()}
    ensure_installed(model)

    def __init__(self, **parameters):
        where = f"{type(self).__name__}: "
        given, resolved = names.read(parameters, where)
        StandardCellType.__init__(self, **given)
        # initial values that follow parameters (V_m = E_L) follow the given ones
        self.default_initial_values = names.initial_values(resolved)
        ensure_installed(model)

    def translate(self, parameters, copy=True):
        check_parameter_space(names, parameters, f"{type(self).__name__}: ")
        return StandardCellType.translate(self, parameters, copy)

    def get_receptor_type(self, name):
        if name not in receptor_numbers:
            raise ParameterError(f"{type(self).__name__}: no receptor type {name!r}; receptor types: "
                                 f"{', '.join(receptor_numbers)}")
        return receptor_numbers[name]

    attributes = dict(
        __doc__=f"lifbridge's {model.name} as NEST's {nest_model} (PyNN names and units: "
                + ", ".join(f"{n.pynn} [{n.pynn_unit.name}]" for n in names.parameters) + ")",
        __init__=__init__,
        translate=translate,
        get_receptor_type=get_receptor_type,
        lifbridge_model=model,
        lifbridge_names=names,
        nest_model=nest_model,
        nest_name={"on_grid": nest_model, "off_grid": nest_model},
        default_parameters=names.default_parameters(),
        default_initial_values=names.initial_values(),
        translations=build_translations(*[(n.pynn, n.spec, n.to_spec) for n in names.parameters]),
        variable_map={n.pynn: n.spec for n in names.state},
        scale_factors={n.pynn: n.spec_unit.factor_to(n.pynn_unit) for n in names.state},
        recordable=["spikes"] + [n.pynn for n in names.state],
        units=names.units(),
        receptor_types=list(names.receptors.values()),
        standard_receptor_type=by_sign,
        conductance_based=names.conductance_based,
        injectable=_injectable(model),
        always_local=False,
        uses_parrot=False,
        extra_parameters={},
    )
    scale = _receptor_scale(names, model)
    if scale is not None:
        attributes["receptor_scale"] = scale
    cls = type(class_name(model), (StandardCellType, NativeCellType), attributes)
    _TYPES[key] = cls
    return cls


def grid_spike_sources():
    """Make NEST's spike generators grid-based again (for those made from now on).

    pyNN.nest's ``setup()`` makes them precise (``precise_times``), and PyNN sends each
    ``SpikeSourceArray`` time ``min_delay`` early, computed in floating point: 64.4 - 0.1 =
    64.30000000000001 ms, a precise time just after the grid point, which a grid-based neuron
    receives one step late (measured: a spike sent at 64.4 ms over a 1 ms delay acts from
    65.5 ms instead of 65.4 ms, while one sent at 64.6 ms acts on time). lifbridge's neurons are
    grid-based (the same NEST model for PyNN's ``spike_precision`` "off_grid" and "on_grid"),
    so a precise source gives them nothing but this error. With grid-based generators NEST puts
    each time on its step, and refuses a time that is not on the grid instead of moving it.
    This applies to every ``SpikeSourceArray`` made after a lifbridge cell type.
    """
    nest = import_nest()
    if nest.GetDefaults("spike_generator", "precise_times"):
        nest.SetDefaults("spike_generator", {"precise_times": False})


def cell_type(model: Model, sim, *, standard=None):
    """The pyNN.nest cell type of ``model`` (``standard=True``: PyNN's standard type, where verified)."""
    if standard:
        check_standard(model, "pyNN.nest", STANDARD_TYPES, STANDARD_VERDICTS, current_setup(sim))
        return standard_class(model, sim)
    grid_spike_sources()
    return generated_type(model, sim)


def current_setup(sim) -> dict:
    """The ``sim.setup`` values a standard type's verdict can depend on, as now in force."""
    return {"spike_precision": sim.simulator.state.spike_precision}


def inject_light(cells, model: Model, times_ms, intensities):
    """A ``step_current_generator`` on the light receptor of ``cells`` (:class:`lifbridge.pynn.LightSource`):
    its "amplitude" is the intensity in the light input's unit. As PyNN's current sources on
    NEST, a change is sent ``min_delay`` early and reaches the neurons after ``min_delay``; NEST's
    generators change only at positive times, so a change due before ``min_delay + dt`` acts then."""
    import warnings

    from pyNN.nest import simulator

    nest = import_nest()
    receptor = _nest_backend("lifbridge.nestml").continuous_receptors(model)[model.light_input]
    min_delay, dt = float(simulator.state.min_delay), float(simulator.state.dt)
    sent = np.round(np.asarray(times_ms, dtype=float) - min_delay, 10)
    early = sent < dt - 1e-9
    if early.any():
        warnings.warn(f"LightSource on pyNN.nest: a change at {times_ms[early][0]:g} ms acts at "
                      f"{min_delay + dt:g} ms, the first step a NEST device reaches after min_delay", stacklevel=3)
        last = np.flatnonzero(early)[-1]      # the latest early change is the one in force then
        keep = ~early
        keep[last] = True
        sent, intensities = np.where(early, dt, sent)[keep], np.asarray(intensities)[keep]
    generator = nest.Create("step_current_generator", params={
        "amplitude_times": sent.tolist(), "amplitude_values": np.asarray(intensities, dtype=float).tolist()})
    nodes = nest.NodeCollection(sorted({int(cell) for cell in cells}))
    nest.Connect(generator, nodes, syn_spec={"delay": min_delay, "receptor_type": int(receptor)})
    return generator


def import_simulator():
    """pyNN.nest (:func:`lifbridge.pynn.import_simulator`)."""
    import pyNN.nest as sim

    return sim
