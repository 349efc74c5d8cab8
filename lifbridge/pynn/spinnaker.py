"""pyNN.spiNNaker (sPyNNaker 7.4.1) cell types: the sPyNNaker cell type that is lifbridge's model.

>>> from lifbridge.pynn.spinnaker import use_virtual_board     # doctest: +SKIP
>>> use_virtual_board()                # before sim.setup(): maps without hardware
>>> import pyNN.spiNNaker as sim                                 # doctest: +SKIP
>>> sim.setup(timestep=1.0)                                      # doctest: +SKIP
>>> cells = sim.Population(10, cell_type("lif", sim)(i_offset=0.5))  # doctest: +SKIP

``cell_type(model, sim)`` returns a class that takes lifbridge's PyNN names and units (the
same call and values as on pyNN.nest, pyNN.brian2 and pyNN.neuron, with the model's own
defaults, not sPyNNaker's) and returns sPyNNaker's own cell type instance
(``IF_curr_exp``, ``IF_cond_exp``, ``IF_curr_delta``, ``Izhikevich``,
``extra_models.Izhikevich_cond``), with the values translated by the ``spinnaker.emulated``
backend's table (:mod:`lifbridge.spinnaker.mapping`, taken through the registry) and checked
as the chip will see them: sPyNNaker itself only rejects |value| > 65536, and only at
``sim.run()``. Each value is put through the emulation's initialisation at the time step of
``sim.setup`` (:func:`lifbridge.spinnaker.emulate.initialise`, strict: a value that rounds to 0 is an error), so a value out of the s16.15
range, a derived quantity that would wrap (R = tau_m/cm), a time constant shorter than the
time step or a decay that rounds to nothing is a one-line error naming the parameter, the value
and the fix, at ``cell_type(...)(...)``.

Where the model has no sPyNNaker cell type, ``cell_type`` raises "not available on
spinnaker: <reason>; nearest: <alternative>".

Weights: sPyNNaker takes ``abs()`` of every weight (the receptor type gives the sign), so a
negative excitatory weight acts as a positive one. Exponential current synapses take nA,
conductances uS, as PyNN's; a delta synapse's weight is a charge (nA ms) and an alpha
synapse's too: ``Type.native_weight(receptor, w)`` converts the model's weight in PyNN's
units (mV for a jump, nA for a peak current) to sPyNNaker's at the time step of ``sim.setup``.

Configuration: sPyNNaker needs a user configuration file before ``sim.setup()``
(``~/.spynnaker.cfg``; with none it writes one and stops). :func:`use_virtual_board` makes one
in lifbridge's cache for a virtual board (maps and generates everything, runs nothing: no
spikes, no traces) unless the user has their own, which is then used unchanged (a
``spynnaker.cfg`` in the working directory overrides it, as sPyNNaker reads that last).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import numpy as np

from .. import backends as registry
from ..errors import BackendUnavailable, ParameterError
from ..model import Model
from .names import class_name, pynn_names

#: What the virtual-board configuration says (sPyNNaker 7.4.1 option names).
VIRTUAL_BOARD_CONFIG = """\
# Written by lifbridge: a virtual SpiNN-5 board (48 chips). sPyNNaker maps networks onto it
# and generates their data without hardware; nothing runs, so recordings come back empty.
[Machine]
virtual_board = True
version = 5

[Reports]
default_report_file_path = {reports}
max_reports_kept = 2

[Mode]
mode = Production
"""

_CONFIG_NAME = ".spynnaker.cfg"


def user_config_files() -> list:
    """The sPyNNaker user configuration files that exist, in the places sPyNNaker looks
    (spinn_utilities/config_holder.py: the first of ``XDG_CONFIG_DIRS``, the user config
    directory, the home directory)."""
    import appdirs

    places = [Path(appdirs.site_config_dir()) / _CONFIG_NAME, Path(appdirs.user_config_dir()) / _CONFIG_NAME,
              Path(os.path.expanduser("~")) / _CONFIG_NAME]
    return [p for p in dict.fromkeys(places) if p.is_file()]


def use_virtual_board() -> Path | None:
    """Before ``sim.setup()``: let sPyNNaker run on a virtual board, with its reports in
    lifbridge's cache, unless the user has a configuration of their own (then returns None
    and changes nothing). Returns the configuration file used."""
    if user_config_files():
        return None
    from ..cache import cache_root

    root = cache_root() / "spinnaker"
    config_dir = root / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    (root / "reports").mkdir(parents=True, exist_ok=True)
    path = config_dir / _CONFIG_NAME
    text = VIRTUAL_BOARD_CONFIG.format(reports=root / "reports")
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    # sPyNNaker looks for the user file in the first directory of XDG_CONFIG_DIRS
    os.environ["XDG_CONFIG_DIRS"] = str(config_dir)
    return path


def import_simulator():
    """pyNN.spiNNaker, with a virtual board when no sPyNNaker configuration exists (:func:`use_virtual_board`)."""
    use_virtual_board()
    import pyNN.spiNNaker as sim

    return sim


def produces_data() -> bool:
    """False on a virtual board (after ``sim.setup()``): it maps and generates, nothing runs."""
    return not is_virtual_board()


def is_virtual_board() -> bool:
    """True if the sPyNNaker configuration now loaded is a virtual board (after ``sim.setup()``)."""
    from spinn_utilities.config_holder import get_config_bool

    return bool(get_config_bool("Machine", "virtual_board"))


def _emulation(module: str):
    """A module of the ``spinnaker.emulated`` backend (its table and initialisation), through the registry."""
    backend = registry.require("spinnaker.emulated")
    if module not in backend.modules:
        raise BackendUnavailable(f"the spinnaker.emulated backend no longer declares {module}; pynn.spinnaker "
                                 f"needs it")
    return importlib.import_module(module)


def not_shipped(model: Model) -> str:
    """"" if sPyNNaker ships a cell type for ``model``, else "not available on spinnaker: <reason>;
    nearest: <alternative>" (a model the emulation runs as a custom sPyNNaker build is not shipped:
    a shipped cell type's name is one word)."""
    mapping = _emulation("lifbridge.spinnaker.mapping")
    row = mapping.cell_type(model)
    if not row.available:
        return mapping.not_available(model)
    if " " in row.cell_type:
        family, _ = mapping.family_and_kinetics(model)
        shipped = [name for name in mapping_names(mapping) if name.startswith(family)]
        return (f"not available on spinnaker: sPyNNaker 7.4.1 ships no cell type for {model.name} (it would be "
                f"{row.cell_type}); nearest: {', '.join(shipped) or 'lif_psc_exp'}")
    return ""


def mapping_names(mapping) -> list:
    """The lifbridge compositions that map to a shipped sPyNNaker cell type."""
    return [f"{family}_{kinetics}" for (family, kinetics), row in mapping.TABLE.items()
            if row.available and " " not in row.cell_type]


def time_step_ms() -> float:
    """The time step of the current ``sim.setup()`` (ms)."""
    from spynnaker.pyNN.data import SpynnakerDataView

    try:
        return float(SpynnakerDataView.get_simulation_time_step_ms())
    except Exception:  # noqa: BLE001 - sPyNNaker's "not set up" has several types
        raise ParameterError("pyNN.spiNNaker: call sim.setup(timestep=...) before making cells; lifbridge checks "
                             "each value at that time step") from None


def checked_values(model: Model, parameters: dict, dt_ms: float, where: str):
    """sPyNNaker's values (:func:`lifbridge.spinnaker.mapping.translate`) for a cell of ``model``
    made with ``parameters`` (PyNN names and units), after the model's own checks and the chip's
    initialisation at ``dt_ms`` (strict: a value that rounds to 0 is an error)."""
    mapping = _emulation("lifbridge.spinnaker.mapping")
    _, resolved = pynn_names(model).read(parameters, where)
    translated = mapping.translate(model, resolved.parameter_values(), resolved.initial_values())
    _emulation("lifbridge.spinnaker.emulate").initialise(model, translated, dt_ms, strict=True, where=where)
    return translated


def _spinnaker_class(sim, name: str):
    target = sim
    for part in name.split("."):
        target = getattr(target, part)
    return target


class _quiet:
    """Silence ``logger`` below ERROR while in the block (sPyNNaker stores every warning of its
    loggers and repeats them at the end as a sign that "results may be invalid")."""

    def __init__(self, logger: str):
        import logging

        self.logger = logging.getLogger(logger)
        self.level = None

    def __enter__(self):
        import logging

        self.level = self.logger.level
        self.logger.setLevel(logging.ERROR)

    def __exit__(self, *exc):
        self.logger.setLevel(self.level)


_TYPES: dict = {}


def generated_type(model: Model, sim):
    """The class whose instances are sPyNNaker's cell type for ``model`` (see the module docstring)."""
    key = (model.name, repr(model))
    if key in _TYPES:
        return _TYPES[key]
    mapping = _emulation("lifbridge.spinnaker.mapping")
    row = mapping.cell_type(model)
    reason = not_shipped(model)
    if reason:
        raise BackendUnavailable(f"{model.name}: {reason}")
    names = pynn_names(model)
    spinnaker_class = _spinnaker_class(sim, row.cell_type)

    def translated_values(parameters: dict, where: str):
        return checked_values(model, parameters, time_step_ms(), where)

    def __new__(cls, **parameters):
        where = f"{cls.__name__} on pyNN.spiNNaker: "
        translated = translated_values(parameters, where)
        plain = {k: (np.asarray(v, dtype=float).tolist() if np.ndim(v) else float(v))
                 for k, v in {**translated.parameters, **translated.initial}.items()}
        # sPyNNaker takes a cell type's own initial values only as constructor arguments, and warns
        # for each ("Formal PyNN specifies that v should be set using initial_values"): these are
        # the model's initial values, given on purpose
        with _quiet("spynnaker.pyNN.models.defaults"):
            cell = spinnaker_class(**plain)
        cell.lifbridge_model = model
        return cell

    @classmethod
    def native_weight(cls, receptor: str, weight, **parameters):
        """sPyNNaker's weight for ``weight`` (PyNN units: nA, uS, or mV for a jump) on ``receptor``,
        for a cell made with ``parameters``."""
        port = names.port_of(receptor)
        translated = translated_values(parameters, f"{cls.__name__}.native_weight: ")
        to_model = names.weight_units[port].factor_to(model.inputs[port].unit)
        factor = mapping.weight_factor(model, port, time_step_ms(), translated)
        return abs(float(weight) * to_model * np.asarray(factor, dtype=float))

    attributes = dict(
        __doc__=f"lifbridge's {model.name} as sPyNNaker's {row.cell_type} ({row.relation}: {row.note})",
        __new__=__new__,
        native_weight=native_weight,
        lifbridge_model=model,
        lifbridge_names=names,
        spinnaker_type=row.cell_type,
        relation=row.relation,
        note=row.note,
        default_parameters=names.default_parameters(),
        default_initial_values=names.initial_values(),
        receptor_types=tuple(names.receptors.values()),
        units=names.units(),
    )
    cls = type(class_name(model), (), attributes)
    _TYPES[key] = cls
    return cls


def cell_type(model: Model, sim, *, standard=None):
    """The pyNN.spiNNaker cell type of ``model``: sPyNNaker's own type, translated and checked."""
    if standard is False:
        raise BackendUnavailable("cell_type(..., standard=False) on pyNN.spiNNaker: sPyNNaker runs only its own "
                                 "cell types (no generated code reaches the chip)")
    return generated_type(model, sim)


def generate_script(model: Model, dt_ms: float = 1.0) -> str:
    """``lifbridge generate MODEL --target spinnaker``: the PyNN example script
    (:func:`lifbridge.pynn.script.generate_script`) run on pyNN.spiNNaker by default, after
    checking that the model maps and that its values are what the chip can hold at ``dt_ms``
    (the same checks as ``cell_type(...)(...)``)."""
    from .script import generate_script as pynn_script

    reason = not_shipped(model)
    if reason:
        raise BackendUnavailable(f"generate {model.name} --target spinnaker: {reason}")
    checked_values(model, {}, float(dt_ms), f"generate {model.name} --target spinnaker: ")
    return pynn_script(model, dt_ms=dt_ms, default_backend="spiNNaker")


# ---------------------------------------------------------------------------- the opsin, approximated
#: Where the approximation's photocurrent takes its driving force, between E_L and V_th.
HOLDING_FRACTION = 0.5


def approximate_optogenetic(model, sim, *, holding_mV=None):
    """Explicit opt-in for a model with a light input on SpiNNaker, which has no opsin: returns
    ``(Type, PhotocurrentSource)``.

    ``Type`` is the cell type of the model's LIF without the opsin (``lif`` with the model's
    values, sPyNNaker's ``IF_curr_exp``). ``PhotocurrentSource(times, intensities)`` is a light
    source for it: ``inject_into(cells)`` precomputes the photocurrent
    ``g_ChR O(t) (E_ChR - V_hold)`` at every time step, with O(t) the three-state opsin's exact
    open fraction under the piecewise-constant light
    (:func:`lifbridge.analytic.three_state_opsin_fractions`), and plays it as a
    ``StepCurrentSource``. Approximate: the driving force is held at ``V_hold`` (default halfway
    between E_L and V_th), so the photocurrent is off by ``|V - V_hold| / |E_ChR - V_hold|`` of
    itself while V moves between reset and threshold (12% for optogenetic_lif's defaults)."""
    from ..analytic import three_state_opsin_fractions
    from ..spec import load
    from ..units import parse_unit

    model = model if isinstance(model, Model) else load(model)
    if model.light_input is None:
        raise ParameterError(f"approximate_optogenetic: {model.name} has no light input")
    lif = load("lif")
    shared = {name: model.parameters[name].value * model.parameters[name].unit.factor_to(lif.parameters[name].unit)
              for name in lif.parameters if name in model.parameters}
    from ..overrides import resolve

    base = resolve(lif, shared).model
    Type = cell_type(base, sim)
    values = {name: model.parameters[name].value * model.parameters[name].unit.factor_to(parse_unit(unit))
              for name, unit in (("g_ChR", "uS"), ("E_ChR", "mV"), ("E_L", "mV"), ("V_th", "mV"), ("k_a", "1/(ms*mW/mm**2)"),
                                 ("tau_d", "ms"), ("tau_r", "ms"))}
    hold = float(holding_mV) if holding_mV is not None else \
        values["E_L"] + HOLDING_FRACTION * (values["V_th"] - values["E_L"])
    light_unit = model.inputs[model.light_input].unit
    rates = dict(k_a=values["k_a"], tau_d=values["tau_d"], tau_r=values["tau_r"])

    class PhotocurrentSource:
        __doc__ = (f"{model.name}'s photocurrent at V = {hold:g} mV, precomputed and played as a StepCurrentSource "
                   f"(approximate: the driving force is held)")
        relation = "approximate"
        holding_mV = hold

        def __init__(self, times, intensities, unit=None):
            from .light import LightSource

            self.light = LightSource(times, intensities, unit)

        def currents_nA(self, dt_ms: float, duration_ms: float):
            """(times ms, photocurrent nA): one value per step from the first change to ``duration_ms``."""
            phi = self.light.intensities_in(light_unit)
            times = np.round(np.arange(int(round(self.light.times[0] / dt_ms)), int(round(duration_ms / dt_ms)))
                             * dt_ms, 10)
            state, current, at = (0.0, 0.0), [], self.light.times[0]
            changes = list(self.light.times) + [np.inf]
            k = 0
            for t in times:
                while changes[k + 1] <= t + 1e-9:
                    state = three_state_opsin_fractions(phi[k], changes[k + 1] - at, start=state, **rates)
                    at, k = changes[k + 1], k + 1
                # the current held over [t, t + dt): the opsin at the step's middle
                O, _ = three_state_opsin_fractions(phi[k], t + 0.5 * dt_ms - at, start=state, **rates)
                current.append(values["g_ChR"] * O * (values["E_ChR"] - hold))
            return times, np.asarray(current)

        def inject_into(self, cells, duration_ms=None):
            """Precompute up to ``duration_ms`` (default: 1 s after the last change) and inject."""
            dt = time_step_ms()
            end = float(duration_ms) if duration_ms is not None else float(self.light.times[-1]) + 1000.0
            times, current = self.currents_nA(dt, end)
            source = sim.StepCurrentSource(times=times.tolist(), amplitudes=current.tolist())
            source.inject_into(cells)
            return source

    PhotocurrentSource.__name__ = f"{class_name(model)}Photocurrent"
    return Type, PhotocurrentSource
