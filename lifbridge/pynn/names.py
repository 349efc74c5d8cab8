"""PyNN's side of a model's names and units, as data (imports no simulator and no PyNN).

PyNN's units are mV, ms, nA, nF and uS (:data:`PYNN_UNITS`). A model parameter or state
variable takes PyNN's name where PyNN has the same quantity (:data:`SAME_QUANTITY`,
:data:`NEURON_NAMES`: ``C_m`` -> ``cm``, ``t_ref`` -> ``tau_refrac``, ``V_m`` -> ``v``, ...)
and keeps the model's own name otherwise (``g_L`` of ``lif_cond``, ``I_syn_inh``,
Izhikevich's dimensionless ``a``); its PyNN unit is PyNN's unit of its dimension. Every
factor between the two sides comes from :mod:`lifbridge.units`, never from a literal.

:func:`pynn_names` gives a model's :class:`PyNNNames`; its :meth:`PyNNNames.check` reads
values given in PyNN units (numbers, strings with a unit, Brian2 quantities) and checks
them with :func:`lifbridge.overrides.resolve` (one-line errors naming the PyNN name, the
value and the fix).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from ..errors import ParameterError
from ..model import Model
from ..overrides import convert, resolve
from ..units import Unit, parse_unit

#: PyNN's units (PyNN's documentation, "Units"): one per dimension; a quantity of another
#: dimension keeps the model's unit.
PYNN_UNITS = ("mV", "ms", "nA", "nF", "uS", "nA/ms", "uS/ms", "mV/ms", "1/ms", "Hz")

#: lifbridge name -> (PyNN name, PyNN unit) where PyNN's standard cell types have the same
#: quantity (same meaning, same sign, same dimension; a dimension that differs keeps the
#: model's own name and unit, e.g. Izhikevich's dimensionless ``a``).
SAME_QUANTITY = MappingProxyType({
    "C_m": ("cm", "nF"),
    "tau_m": ("tau_m", "ms"),
    "E_L": ("v_rest", "mV"),
    "V_th": ("v_thresh", "mV"),
    "V_reset": ("v_reset", "mV"),
    "t_ref": ("tau_refrac", "ms"),
    "I_e": ("i_offset", "nA"),
    "tau_syn_exc": ("tau_syn_E", "ms"),
    "tau_syn_inh": ("tau_syn_I", "ms"),
    "E_exc": ("e_rev_E", "mV"),
    "E_inh": ("e_rev_I", "mV"),
    "a": ("a", "nS"),            # EIF_*_isfa_ista: subthreshold adaptation, nS
    "b": ("b", "nA"),            # EIF_*_isfa_ista: spike-triggered adaptation, nA
    "tau_w": ("tau_w", "ms"),
    "Delta_T": ("delta_T", "mV"),
    "V_peak": ("v_spike", "mV"),
    "c": ("c", "mV"),            # Izhikevich reset potential
    "V_m": ("v", "mV"),
    "w": ("w", "nA"),
    "g_exc": ("gsyn_exc", "uS"),
    "g_inh": ("gsyn_inh", "uS"),
})

#: Names that PyNN spells like one of ours but that are not the same quantity: kept as ours.
NOT_THE_SAME = MappingProxyType({
    "I_syn_exc": "PyNN has no recordable excitatory current (isyn_exc is an initial value only)",
    "I_syn_inh": "lifbridge holds the magnitude (>= 0); PyNN's isyn_inh on NEST is negative",
    "U_m": "PyNN's Izhikevich u is in mV/ms, lifbridge's U_m in mV (NEST's convention)",
    "d": "PyNN's Izhikevich d is in mV/ms, lifbridge's in mV (NEST's convention)",
})

#: Per neuron file: names that differ from :data:`SAME_QUANTITY` (PyNN's HH_cond_exp).
NEURON_NAMES = MappingProxyType({
    "hh_traub": MappingProxyType({
        "E_L": ("e_rev_leak", "mV"), "g_L": ("g_leak", "uS"), "g_Na": ("gbar_Na", "uS"),
        "g_K": ("gbar_K", "uS"), "E_Na": ("e_rev_Na", "mV"), "E_K": ("e_rev_K", "mV"),
        "V_T": ("v_offset", "mV"),
    }),
    "hh": MappingProxyType({
        "E_L": ("e_rev_leak", "mV"), "g_L": ("g_leak", "uS"), "g_Na": ("gbar_Na", "uS"),
        "g_K": ("gbar_K", "uS"), "E_Na": ("e_rev_Na", "mV"), "E_K": ("e_rev_K", "mV"),
    }),
})

#: Spike port -> PyNN receptor type (numbered ports ``rec<n>_spikes`` -> ``rec<n>``).
RECEPTOR_NAMES = MappingProxyType({"exc_spikes": "excitatory", "inh_spikes": "inhibitory"})

#: The weight unit PyNN uses for a port, by the port's dimension (PyNN: current-based nA,
#: conductance-based uS, voltage jumps mV).
WEIGHT_UNITS = ("nA", "uS", "mV")

#: lifbridge model -> PyNN standard cell type with the same equations (each backend decides
#: whether its implementation of that type is the same model: ``STANDARD_VERDICTS`` there).
STANDARD_TYPES = MappingProxyType({
    "lif": "IF_curr_exp", "lif_psc_exp": "IF_curr_exp",
    "lif_psc_alpha": "IF_curr_alpha",
    "lif_psc_delta": "IF_curr_delta",
    "lif_cond": "IF_cond_exp", "lif_cond_exp": "IF_cond_exp",
    "lif_cond_alpha": "IF_cond_alpha",
    "adex_cond_exp": "EIF_cond_exp_isfa_ista",
    "adex_cond_alpha": "EIF_cond_alpha_isfa_ista",
    "hh_traub": "HH_cond_exp", "hh_traub_cond_exp": "HH_cond_exp",
    "izhikevich": "Izhikevich", "izhikevich_psc_delta": "Izhikevich",
})

#: PyNN standard type -> its parameter -> the expression of it in lifbridge's names, where
#: the standard type does not take lifbridge's quantity itself (``IF_cond_*`` take tau_m,
#: lifbridge g_L; PyNN's Izhikevich takes a, b per ms and d in mV/ms, NEST's and lifbridge's
#: are dimensionless and in mV, with time in ms). Evaluated with units (:func:`standard_values`).
STANDARD_COMPUTED = MappingProxyType({
    "IF_cond_exp": MappingProxyType({"tau_m": "C_m / g_L"}),
    "IF_cond_alpha": MappingProxyType({"tau_m": "C_m / g_L"}),
    "EIF_cond_exp_isfa_ista": MappingProxyType({"tau_m": "C_m / g_L"}),
    "EIF_cond_alpha_isfa_ista": MappingProxyType({"tau_m": "C_m / g_L"}),
    "Izhikevich": MappingProxyType({"a": "a / ms", "b": "b / ms", "d": "d / ms"}),
})

#: lifbridge state variable -> its name among the initial values of PyNN's standard types.
STANDARD_STATE = MappingProxyType({
    "V_m": "v", "I_syn_exc": "isyn_exc", "I_syn_inh": "isyn_inh", "g_exc": "gsyn_exc", "g_inh": "gsyn_inh",
    "w": "w", "m": "m", "h": "h", "n": "n", "U_m": "u",
})

_NEO_UNITS = {"1": "dimensionless"}


def pynn_unit_for(unit: Unit) -> Unit:
    """PyNN's unit of ``unit``'s dimension (:data:`PYNN_UNITS`), or ``unit`` itself."""
    for text in PYNN_UNITS:
        candidate = parse_unit(text)
        if candidate.dim == unit.dim:
            return candidate
    return unit


def neuron_file(model: Model) -> str:
    """The neuron file a (composed) model name starts with, among :data:`NEURON_NAMES`, or ""."""
    found = [n for n in NEURON_NAMES if model.name == n or model.name.startswith(n + "_")]
    return max(found, key=len) if found else ""


@dataclass(frozen=True)
class Name:
    """One parameter or state variable on both sides: lifbridge's name and unit, PyNN's."""

    spec: str
    pynn: str
    spec_unit: Unit
    pynn_unit: Unit

    @property
    def to_spec(self) -> float:
        """Factor from the PyNN unit to the spec's unit."""
        return self.pynn_unit.factor_to(self.spec_unit)

    @property
    def neo_unit(self) -> str:
        """The unit as neo/quantities reads it."""
        return _NEO_UNITS.get(self.pynn_unit.name, self.pynn_unit.name)


def _names(model: Model, table, extra) -> list:
    out, taken = [], set()
    for spec, source in table:
        unit = source.unit
        pynn, pynn_unit = extra.get(spec) or SAME_QUANTITY.get(spec) or (spec, None)
        pynn_unit = parse_unit(pynn_unit) if pynn_unit else pynn_unit_for(unit)
        if spec in NOT_THE_SAME or pynn_unit.dim != unit.dim:
            pynn, pynn_unit = spec, pynn_unit_for(unit)
        if pynn in taken:
            raise ParameterError(f"model {model.name!r}: two names become PyNN's {pynn!r}; rename {spec}")
        taken.add(pynn)
        out.append(Name(spec, pynn, unit, pynn_unit))
    return out


@dataclass(frozen=True)
class PyNNNames:
    """A model's names and units on PyNN's side (see the module docstring)."""

    model: Model
    parameters: tuple
    state: tuple
    receptors: MappingProxyType          # spike port -> PyNN receptor type
    weight_units: MappingProxyType       # spike port -> PyNN weight unit
    by_pynn: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    @property
    def conductance_based(self) -> bool:
        """True if the spike ports take conductances (PyNN: weights in uS, all >= 0)."""
        return any(u.name == "uS" for u in self.weight_units.values())

    @property
    def voltage_based(self) -> bool:
        """True if the spike ports move the membrane potential (weights in mV)."""
        return any(u.name == "mV" for u in self.weight_units.values())

    def port_of(self, receptor: str) -> str:
        return {r: p for p, r in self.receptors.items()}[receptor]

    def default_parameters(self) -> dict:
        """PyNN name -> default value in PyNN units."""
        return {n.pynn: self.model.parameters[n.spec].value / n.to_spec for n in self.parameters}

    def initial_values(self, resolved=None) -> dict:
        """PyNN name -> initial value in PyNN units (of ``resolved``, default the model's defaults);
        arrays for per-neuron values."""
        resolved = resolved or resolve(self.model, {})
        values = resolved.initial_values()
        return {n.pynn: (np.asarray(values[n.spec]) / n.to_spec if np.ndim(values[n.spec])
                         else float(values[n.spec]) / n.to_spec) for n in self.state}

    def units(self) -> dict:
        """PyNN name -> unit text (recordables and parameters), ``spikes`` in ms."""
        out = {n.pynn: n.neo_unit for n in self.parameters + self.state}
        out["spikes"] = "ms"
        return out

    def number(self, name: str, value, where: str):
        """``value`` for PyNN name ``name`` in PyNN units: numbers as given, strings with a unit
        and Brian2 quantities converted; anything else (a RandomDistribution, a function) as
        given, checked when PyNN evaluates it."""
        if name not in self.by_pynn:
            known = ", ".join(self.by_pynn)
            raise ParameterError(f"{where}{self.model.name} has no parameter or state variable {name!r} on PyNN's "
                                 f"side; its names: {known}")
        item = self.by_pynn[name]
        if isinstance(value, str) or hasattr(value, "dim"):   # a string with a unit, a Brian2 quantity
            default = self.default_parameters().get(name)
            try:
                return convert(value, item.pynn_unit, name, default)
            except ParameterError as error:
                raise ParameterError(f"{where}{error}") from None
        return value

    def read(self, parameters: dict, where: str = "") -> tuple:
        """(values in PyNN units, Resolved) of a cell type's keyword arguments: each value read by
        :meth:`number`, then all of them checked by :meth:`check`."""
        given = {k: self.number(k, v, where) for k, v in parameters.items()}
        return given, self.check(given, where=where)

    def check(self, values: dict, n=None, where: str = ""):
        """Check ``values`` (PyNN name -> number or array in PyNN units) with
        :func:`lifbridge.overrides.resolve`; returns the :class:`lifbridge.overrides.Resolved`.
        A value that is not a number or an array of numbers is left to PyNN."""
        spec = {}
        if n is None:
            lengths = {len(v) for v in values.values() if isinstance(v, (np.ndarray, list, tuple)) and np.ndim(v) == 1}
            n = lengths.pop() if len(lengths) == 1 else None
        for name, value in values.items():
            item = self.by_pynn[name]
            if isinstance(value, (numbers.Real, np.ndarray, list, tuple)) and not isinstance(value, bool):
                array = np.asarray(value, dtype=float)
                if array.ndim > 1 or (array.ndim == 1 and len(array) != n):
                    continue
                spec[item.spec] = array * item.to_spec if array.ndim else float(array) * item.to_spec
                try:
                    resolve(self.model, {item.spec: spec[item.spec]}, n=n)
                except ParameterError as error:
                    shown = f"{float(value):g}" if np.ndim(value) == 0 else f"[{', '.join(f'{v:g}' for v in np.ravel(value)[:3])}...]"
                    raise ParameterError(f"{where}{name} = {shown} {item.pynn_unit.name} (lifbridge's {item.spec}): "
                                         f"{error}") from None
        try:
            return resolve(self.model, spec, n=n)
        except ParameterError as error:
            raise ParameterError(f"{where}{error} (PyNN units: {', '.join(f'{k} in {self.by_pynn[k].pynn_unit.name}' for k in values)})") from None


def receptor_name(port: str) -> str:
    """PyNN's receptor type for a spike port (:data:`RECEPTOR_NAMES`; else the port without ``_spikes``)."""
    if port in RECEPTOR_NAMES:
        return RECEPTOR_NAMES[port]
    return port[: -len("_spikes")] if port.endswith("_spikes") else port


def pynn_names(model: Model) -> PyNNNames:
    """The :class:`PyNNNames` of ``model``."""
    extra = NEURON_NAMES.get(neuron_file(model), {})
    parameters = _names(model, model.parameters.items(), extra)
    state = _names(model, model.state.items(), extra)
    clash = {p.pynn for p in parameters} & {s.pynn for s in state}
    if clash:
        raise ParameterError(f"model {model.name!r}: {sorted(clash)[0]} is both a parameter and a state variable "
                             f"on PyNN's side")
    receptors, weight_units = {}, {}
    for port, inp in model.spike_inputs.items():
        receptors[port] = receptor_name(port)
        unit = next((parse_unit(u) for u in WEIGHT_UNITS if parse_unit(u).dim == inp.unit.dim), None)
        if unit is None:
            raise ParameterError(f"model {model.name!r}: spike port {port} takes weights in {inp.unit.name}, which "
                                 f"PyNN has no weight unit for (nA, uS or mV)")
        weight_units[port] = unit
    if len({u.name for u in weight_units.values()}) > 1:
        shown = ", ".join(f"{p} in {u.name}" for p, u in weight_units.items())
        raise ParameterError(f"model {model.name!r}: PyNN gives a cell type one weight unit, but its spike ports "
                             f"take {shown}; compose it with one kind of synapse")
    by_pynn = {n.pynn: n for n in parameters + state}
    return PyNNNames(model, tuple(parameters), tuple(state), MappingProxyType(receptors),
                     MappingProxyType(weight_units), MappingProxyType(by_pynn))


def check_parameter_space(names: PyNNNames, parameters, where: str = ""):
    """Check the plain numbers of a PyNN ``ParameterSpace`` (PyNN names and units) with
    :meth:`PyNNNames.check`; random distributions and functions are left to PyNN."""
    values = {}
    shape = getattr(parameters, "shape", None)
    n = shape[0] if shape else None
    for name in parameters.keys():
        lazy = parameters[name]
        base = getattr(lazy, "base_value", lazy)
        if isinstance(base, (int, float, np.ndarray, np.floating)) and not isinstance(base, bool):
            values[name] = base
    if values:
        names.check(values, n=n, where=where)


def class_name(model) -> str:
    """The PyNN cell type class name of ``model`` (``lif_psc_alpha`` -> ``LifPscAlpha``)."""
    return "".join(part.capitalize() for part in model.name.split("_")) or "Model"


def check_standard(model, simulator: str, standard_types, verdicts, setup=None):
    """Raise the one-line ParameterError of ``cell_type(..., standard=True)`` on ``simulator``
    (a PyNN module's name) unless PyNN's standard type there is verified to be ``model``
    (``standard_types``: model name -> PyNN type; ``verdicts``: PyNN type -> (same, reason)
    or (same, reason, the ``sim.setup`` values it needs); ``setup``: the values now in force)."""
    from ..errors import ParameterError

    standard_name = standard_types.get(model.name)
    if standard_name is None:
        raise ParameterError(f"cell_type({model.name!r}, {simulator}, standard=True): PyNN has no standard type "
                             f"for {model.name}; use standard=None for the generated type")
    same, reason, *needs = verdicts[standard_name]
    if not same:
        raise ParameterError(f"cell_type({model.name!r}, {simulator}, standard=True): PyNN's {standard_name} on "
                             f"{simulator} is not lifbridge's {model.name}: {reason}; use standard=None")
    wrong = {k: v for k, v in (needs[0] if needs else {}).items() if (setup or {}).get(k) != v}
    if wrong:
        asked = ", ".join(f"{k}={v!r}" for k, v in wrong.items())
        now = ", ".join(f"{k}={(setup or {}).get(k)!r}" for k in wrong)
        raise ParameterError(f"cell_type({model.name!r}, {simulator}, standard=True): PyNN's {standard_name} is "
                             f"lifbridge's {model.name} only after sim.setup({asked}) (now {now}): {reason}")


def standard_class(model, sim):
    """PyNN's standard cell type class for ``model`` on the PyNN backend module ``sim``
    (:data:`STANDARD_TYPES`), whether or not it is verified to be the same model there."""
    from ..errors import BackendUnavailable

    standard_name = STANDARD_TYPES.get(model.name)
    if standard_name is None:
        raise ParameterError(f"PyNN has no standard type for {model.name}; use standard=None for the generated type")
    cls = getattr(sim, standard_name, None)
    if cls is None:
        raise BackendUnavailable(f"{getattr(sim, '__name__', sim)} has no {standard_name}")
    return cls


def standard_values(model: Model, cls, parameters: dict, initial: dict) -> tuple:
    """lifbridge's parameter and initial values (spec names and units; numbers or per-neuron
    arrays) as the parameters and initial values of PyNN's standard type ``cls`` (its names,
    PyNN's units): names shared through :func:`pynn_names`, the rest from
    :data:`STANDARD_COMPUTED`, evaluated with units. A lifbridge quantity the standard type
    does not take must be at the standard type's fixed behaviour: it is returned in
    ``dropped`` (name -> value) for the caller to judge. Returns (parameters, initial, dropped)."""
    from .. import expr as ex

    names = pynn_names(model)
    standard_name = cls.__name__
    computed = STANDARD_COMPUTED.get(standard_name, {})
    takes = set(cls.default_parameters)
    by_spec = {n.spec: n for n in names.parameters}
    spec_units = {k: model.parameters[k].unit for k in model.parameters}
    out, used = {}, set()
    for pynn_name, text in computed.items():
        tree = ex.parse_expression(text, set(spec_units))
        dim = ex.dimension_of(tree, {k: u.dim for k, u in spec_units.items()})
        si_unit = Unit(dim, 1.0, "SI")
        si = {k: np.asarray(parameters[k], dtype=float) * spec_units[k].factor_to(Unit(spec_units[k].dim, 1.0, "SI"))
              for k in ex.symbols(tree) if k in spec_units}
        value = np.asarray(ex.evaluate(tree, si), dtype=float) * si_unit.factor_to(pynn_unit_for(si_unit))
        out[pynn_name] = float(value) if value.ndim == 0 else value
        used |= set(si)
    for spec, value in parameters.items():
        item = by_spec[spec]
        if item.pynn in takes and item.pynn not in out:
            out[item.pynn] = np.asarray(value, dtype=float) / item.to_spec if np.ndim(value) else \
                float(value) / item.to_spec
            used.add(spec)
    dropped = {spec: value for spec, value in parameters.items() if spec not in used}
    state_takes = set(getattr(cls, "default_initial_values", {}))
    init = {}
    for item in names.state:
        standard = STANDARD_STATE.get(item.spec)
        value = initial[item.spec]
        if standard in state_takes:
            init[standard] = np.asarray(value, dtype=float) / item.to_spec if np.ndim(value) else float(value) / item.to_spec
        else:
            dropped[item.spec] = value
    return out, init, dropped
