"""NEST backend: generate NESTML, compile it into a NEST extension module, load it.

>>> import lifbridge.nest, nest
>>> path = lifbridge.nest.install()               # doctest: +SKIP
>>> path                                          # doctest: +SKIP
'/root/.cache/lifbridge/nest/3f2a.../lifbridge_3f2a...module.so'
>>> nest.Create("lif_neuron")                     # doctest: +SKIP

``install()`` with no argument builds one module holding every bundled model (the
module the tests, the runner and the benchmark share); ``install(["lif", "adex"])``
builds a module with just those. Modules are cached by content hash (see
:mod:`lifbridge.nest_build`): a second ``install`` of the same models takes well under a
second. ``nest.ResetKernel()`` unloads modules; afterwards call ``install`` again, or
``nest.Install(path)`` with the absolute path of the module that ``install`` returned
(in this or any later process, as long as the cache entry exists).

Two modules that define the same neuron cannot be loaded into one kernel; use
:func:`module_models` to pick the module for a model (the all-models module whenever
the model's generated code is that of its bundled namesake, whatever its parameter
values, which are set through ``SetStatus``).

:data:`BUILTIN_EQUIVALENTS` is the one table of NEST built-in models equivalent to
bundled models and compositions (``lif_psc_alpha`` -> ``iaf_psc_alpha``, ...), with the
parameter and state names (and units, signs, what NEST can set or record) on both sides.
It is derived, on first use, from a translation table per neuron file, rules per synapse
kinetics and a few facts per built-in (checked against NEST by tests/test_nest.py);
:func:`builtin_equivalent` derives it for any composed Model too, including NEST's
``*_multisynapse`` models (``lifbridge.load("lif", receptors=[(1, "psc_exp"), (2,
"psc_exp"), (3, "psc_exp", {}, "inhibitory")])`` -> ``iaf_psc_exp_multisynapse``, whose
per-receptor parameters are arrays: ``{"tau_syn": [...]}``; :meth:`BuiltinEquivalent.syn_spec`
gives the receptor type and weight of a spike onto a port). The generated neurons keep
the spec's names (NESTML's ``tau_syn_exc``, ``E_exc``, ...), not NEST's (``tau_syn_ex``,
``E_ex``, ...); NEST rejects a key a neuron does not have, so
``nest.Create("lif_neuron", params={"tau_syn_ex": 5.0})`` raises
``UnaccessedDictionaryEntry`` instead of being ignored. :func:`names_table` lists both sides.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .errors import LifbridgeError
from .model import Model
from .nestml import neuron_name, to_nestml
from .spec import bundled_models, load
from .units import parse_unit

# Module-level code generator options, part of the cache key. "rk45" is GSL's adaptive
# Runge-Kutta-Fehlberg 4(5) (gsl_odeiv_step_rkf45), as used by NEST's own
# conductance-based, AdEx and Hodgkin-Huxley models; linear systems (lif, pif) are
# integrated exactly with propagators whatever this option says. The NEST templates
# are NESTML's own with the input-buffer changes of :mod:`lifbridge.nest_templates`
# (see :func:`codegen_options`).
CODEGEN_OPTS = {"numeric_solver": "rk45"}


def codegen_options(cache_dir=None) -> dict:
    """The NESTML code generator options of every build: :data:`CODEGEN_OPTS` plus the
    patched NEST templates (:func:`lifbridge.nest_templates.templates_option`), whose
    path names their content hash, so the module cache key changes with the templates.
    NESTML's stock templates are used if the patches do not apply to the installed NESTML.
    """
    from .nest_templates import templates_option

    opts = dict(CODEGEN_OPTS)
    templates = templates_option(cache_dir)
    if templates is not None:
        opts["templates"] = templates
    return opts


def _as_models(models):
    if models is None:
        models = bundled_models()
    if isinstance(models, (str, Model)):
        models = [models]
    return [m if isinstance(m, Model) else load(m) for m in models]


def nestml_sources(models=None) -> dict:
    """NEST model name -> NESTML source, for the given models (default: every bundled model)."""
    sources = {}
    for model in _as_models(models):
        sources[neuron_name(model)] = to_nestml(model)
    return sources


def build(models=None, *, verbose=False, cache_dir=None):
    """Compile (or find in the cache) the NEST module holding ``models``; returns a BuiltModule.

    ``models``: bundled names, model files or Model objects; default every bundled model.
    Raises :class:`lifbridge.nest_build.NestBuildError` (a LifbridgeError) with one message
    naming what to install when the compiler, cmake, Boost or GSL headers are missing.
    """
    from .nest_build import build_nest_module

    return build_nest_module(nestml_sources(models), cache_dir=cache_dir, verbose=verbose,
                             codegen_opts=codegen_options(cache_dir))


def install(models=None, *, verbose=False, cache_dir=None) -> str:
    """Build (cached) and load the module with ``models`` into the running NEST kernel.

    ``models``: bundled names, model files or Model objects (default: every bundled
    model). Returns the absolute path of the module's ``.so``; afterwards
    ``nest.Create("<model>_neuron")`` works. Idempotent: a module this kernel has loaded
    is not loaded again. ``nest.ResetKernel()`` unloads every module; afterwards call
    ``install`` again or ``nest.Install(path)`` with the path it returned.
    """
    from .nest_build import install_nest_module

    return install_nest_module(build(models, verbose=verbose, cache_dir=cache_dir))


def module_models(model: Model):
    """What to pass to :func:`install` so that ``<model>_neuron`` is the code of ``model``.

    ``None`` (the all-models module) if ``model`` is a bundled model, possibly with
    other parameter values (``with_parameters``, presets): parameters only set
    defaults, and the runner sets them with ``SetStatus``. Otherwise ``[model]``, a
    module of its own.
    """
    if model.name in bundled_models():
        bundled = load(model.name)
        same_code = dataclasses.replace(model, parameters=bundled.parameters, source=bundled.source)
        if to_nestml(same_code) == to_nestml(bundled):
            return None
    return [model]


def parameter_status(model: Model) -> dict:
    """The model's parameters as NEST status values (NESTML keeps the spec's units and names)."""
    return {name: float(p.value) for name, p in model.parameters.items()}


# ---------------------------------------------------------------------------- built-in equivalents
@dataclass(frozen=True)
class BuiltinEquivalent:
    """A NEST built-in model that implements the same equations as a bundled model.

    ``parameters`` and ``state`` map our name -> (NEST name, NEST unit); every spec
    parameter and state variable is mapped. A state variable NEST keeps to itself (no
    status key, not recordable) has the NEST name None; ``record_only`` are the state
    variables NEST lets one record but not set, ``unrecorded`` those it lets one set (a
    status key) but not record; ``negated`` those NEST keeps with the opposite sign (an
    inhibitory current that NEST keeps negative, ours is its magnitude). ``elements``:
    parameters NEST keeps in an array (a ``*_multisynapse`` model's ``tau_syn``, ``E_rev``):
    our name -> index in the array named in ``parameters``. ``receptor_types``: our spike
    port -> NEST's ``receptor_type``; ``inhibitory_ports`` take weights <= 0;
    ``positive_weights``: NEST takes only weights >= 0 (``aeif_cond_alpha_multisynapse``:
    the reversal potential sets the sign), so a weight onto an inhibitory port is given to
    NEST as its magnitude (see :meth:`syn_spec`).
    ``settings`` are NEST-only options (left at NEST's defaults unless given). ``note``
    says where the two implementations differ numerically.
    """

    builtin: str
    parameters: MappingProxyType
    state: MappingProxyType
    settings: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    note: str = ""
    record_only: frozenset = frozenset()
    negated: frozenset = frozenset()
    unrecorded: frozenset = frozenset()
    elements: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    receptor_types: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    inhibitory_ports: frozenset = frozenset()
    positive_weights: bool = False

    def builtin_parameters(self, model: Model) -> dict:
        """``model``'s parameter values as a NEST status dict of the built-in (NEST names and units;
        an array parameter as a list, ``{"tau_syn": [3.0, 5.0, 10.0]}``)."""
        status, arrays = {}, {}
        for ours, (theirs, unit) in self.parameters.items():
            p = model.parameters[ours]
            value = p.value * p.unit.factor_to(parse_unit(unit))
            if ours in self.elements:
                arrays.setdefault(theirs, {})[self.elements[ours]] = value
            else:
                status[theirs] = value
        for theirs, values in arrays.items():
            status[theirs] = [values[i] for i in range(len(values))]
        status.update(self.settings)
        return status

    def settable(self, ours: str) -> bool:
        """True if the built-in's status dict takes the state variable ``ours``."""
        return self.state[ours][0] is not None and ours not in self.record_only

    def recordable(self, ours: str) -> bool:
        """True if a multimeter records the state variable ``ours`` from the built-in."""
        return self.state[ours][0] is not None and ours not in self.unrecorded

    def builtin_state(self, model: Model, values: dict) -> dict:
        """State values (our names, spec units) as a NEST status dict of the built-in (NEST's
        names, units and signs).

        A state variable the built-in cannot set is left out if its value is the model's
        initial value (the built-in starts there too); any other value raises ValueError.
        """
        status = {}
        initial = None
        for ours, value in values.items():
            theirs, unit = self.state[ours]
            if not self.settable(ours):
                if initial is None:
                    initial = model.initial_values_si()
                if value == initial[ours] / model.state[ours].unit.scale:
                    continue
                raise ValueError(f"NEST's {self.builtin} cannot set the initial value of {ours} "
                                 f"({theirs or 'internal'}); only {neuron_name(model)} can")
            status[theirs] = self.state_sign(ours) * value * model.state[ours].unit.factor_to(parse_unit(unit))
        return status

    def state_sign(self, ours: str) -> float:
        """-1.0 if NEST keeps the state variable ``ours`` with the opposite sign, else 1.0."""
        return -1.0 if ours in self.negated else 1.0

    def syn_spec(self, port: str, weight: float) -> dict:
        """NEST's ``syn_spec`` (``weight``, ``receptor_type``) that gives the built-in the spike a
        weight ``weight`` onto our ``port`` gives the generated neuron (NEST's sign convention:
        <= 0 onto an inhibitory port). Without ``positive_weights`` the weight is NEST's as it
        is; with it, an inhibitory port's weight is given as its magnitude."""
        if port not in self.receptor_types:
            raise ValueError(f"{port!r} is no spike input of this model; spike inputs: "
                             f"{', '.join(self.receptor_types) or 'none'}")
        flip = self.positive_weights and port in self.inhibitory_ports
        return {"weight": -weight if flip else weight, "receptor_type": self.receptor_types[port]}


def _table(*entries) -> MappingProxyType:
    """``"C_m pF"`` (same name on both sides) or ``"m=Act_m 1"`` (ours=NEST's) -> {ours: (NEST's, unit)}."""
    table = {}
    for entry in entries:
        names, unit = entry.split(" ")
        ours, _, theirs = names.partition("=")
        table[ours] = (theirs or ours, unit)
    return MappingProxyType(table)


#: The neuron part of each bundled neuron file that has NEST built-ins (parameters and state
#: variables, our name -> (NEST name, NEST unit)); the synapses come from :data:`_KINETICS`.
_NEURONS = MappingProxyType({
    "lif": _table("C_m pF", "tau_m ms", "E_L mV", "V_th mV", "V_reset mV", "t_ref ms", "I_e pA", "V_m mV"),
    "lif_cond": _table("C_m pF", "g_L nS", "E_L mV", "V_th mV", "V_reset mV", "t_ref ms", "I_e pA", "V_m mV"),
    "adex": _table("C_m pF", "g_L nS", "E_L mV", "V_th mV", "Delta_T mV", "V_peak mV", "V_reset mV", "t_ref ms",
                   "a nS", "b pA", "tau_w ms", "I_e pA", "V_m mV", "w pA"),
    "izhikevich": _table("a 1", "b 1", "c mV", "d mV", "V_th mV", "I_e pA", "V_m mV", "U_m mV"),
    "hh": _table("C_m pF", "g_Na nS", "g_K nS", "g_L nS", "E_Na mV", "E_K mV", "E_L mV", "t_ref ms", "I_e pA",
                 "V_m mV", "m=Act_m 1", "h=Inact_h 1", "n=Act_n 1"),
    "hh_traub": _table("g_Na nS", "g_K nS", "g_L nS", "C_m pF", "E_Na mV", "E_K mV", "E_L mV", "V_T mV", "t_ref ms",
                       "I_e pA", "V_m mV", "m=Act_m 1", "h=Inact_h 1", "n=Act_n 1"),
})

#: Per kinetics: its names (without receptor suffix) -> NEST unit. NEST spells a name of the
#: standard receptors with ``_ex``/``_in`` (``tau_syn_exc`` -> ``tau_syn_ex``); a
#: ``*_multisynapse`` model keeps receptor n's parameters in arrays (element n - 1 of
#: :data:`_ARRAYS`) and records its state as ``<name>_<n>``.
_KINETICS = MappingProxyType({
    "psc_delta": MappingProxyType({}),
    "psc_exp": MappingProxyType({"tau_syn": "ms", "I_syn": "pA"}),
    "psc_alpha": MappingProxyType({"tau_syn": "ms", "I_syn": "pA", "dI_syn": "pA/ms"}),
    "cond_exp": MappingProxyType({"E": "mV", "tau_syn": "ms", "g": "nS"}),
    "cond_alpha": MappingProxyType({"E": "mV", "tau_syn": "ms", "g": "nS", "dg": "nS/ms"}),
})
_ARRAYS = MappingProxyType({"tau_syn": "tau_syn", "E": "E_rev"})
_NEST_SUFFIX = MappingProxyType({"exc": "ex", "inh": "in"})


@dataclass(frozen=True)
class _Facts:
    """What a NEST built-in does with the synaptic names (kinetics names without suffix);
    each checked against NEST 3.10 (tests/test_nest.py)."""

    note: str
    record_only: frozenset = frozenset()     # recordable, no status key
    internal: frozenset = frozenset()        # neither
    unrecorded: frozenset = frozenset()      # a status key, not recordable
    signed: frozenset = frozenset()          # kept with the weight's sign: negative on an inhibitory receptor
    positive_weights: bool = False
    settings: tuple = ()


_EXACT = "same exact (propagator) integration and update order: spike for spike"
_CURRENT_SIGN = "NEST keeps an inhibitory receptor's current negative (the weight's sign), ours its magnitude"
_RKF45_COND = ("both GSL RKF45; NEST controls the error with abs 1e-3, rel 0 (fixed), NESTML with "
               "gsl_abs_error_tol/gsl_rel_error_tol (default 1e-6, settable)")
_AEIF = ("NEST detects and resets spikes inside its RKF45 substeps, the generated model at the end "
         "of each time step")
_HH = ("both GSL RKF45 (NEST abs 1e-3, rel 0); NEST detects a spike when V_m >= 0 and V_m fell "
       "during the step, the spec when V_m >= 0 and dV_m/dt < 0 at the end of the step")

#: NEST built-in -> what it does with the synaptic state; ``_builtin_sources`` finds which
#: neuron file and kinetics it belongs to (the ``nest``/``nest_multisynapse`` tables).
_BUILTINS = MappingProxyType({
    "iaf_psc_exp": _Facts(_EXACT, record_only=frozenset({"I_syn"}), signed=frozenset({"I_syn"})),
    "iaf_psc_alpha": _Facts(_EXACT, record_only=frozenset({"I_syn"}), internal=frozenset({"dI_syn"}),
                            signed=frozenset({"I_syn"})),
    "iaf_psc_delta": _Facts(_EXACT + "; a spike arriving while refractory is dropped on both sides "
                            "(refractory_input = false)", settings=(("refractory_input", False),)),
    "iaf_cond_exp": _Facts(_RKF45_COND),
    "iaf_cond_alpha": _Facts(_RKF45_COND, unrecorded=frozenset({"dg"})),
    "aeif_psc_exp": _Facts(_AEIF),
    "aeif_psc_alpha": _Facts(_AEIF, unrecorded=frozenset({"dI_syn"})),
    "aeif_psc_delta": _Facts(_AEIF + "; a spike arriving while refractory is dropped on both sides "
                             "(refractory_input = false)", settings=(("refractory_input", False),)),
    "aeif_cond_exp": _Facts(_AEIF),
    "aeif_cond_alpha": _Facts(_AEIF, unrecorded=frozenset({"dg"})),
    "izhikevich": _Facts("NEST integrates with one forward-Euler step per time step, the generated model "
                         "with RKF45"),
    "hh_psc_alpha": _Facts(_HH, record_only=frozenset({"I_syn"}), internal=frozenset({"dI_syn"}),
                           signed=frozenset({"I_syn"})),
    "hh_cond_exp_traub": _Facts("both GSL RKF45 (NEST abs 1e-3, rel 0); NEST detects a spike when V_m >= "
                                "V_T + 30 mV and V_m fell during the step, the spec when dV_m/dt < 0 at the "
                                "end of the step", record_only=frozenset({"g"})),
    "iaf_psc_exp_multisynapse": _Facts(_EXACT + "; " + _CURRENT_SIGN, record_only=frozenset({"I_syn"}),
                                       signed=frozenset({"I_syn"})),
    "iaf_psc_alpha_multisynapse": _Facts(_EXACT + "; " + _CURRENT_SIGN, record_only=frozenset({"I_syn"}),
                                         internal=frozenset({"dI_syn"}), signed=frozenset({"I_syn"})),
    "aeif_cond_alpha_multisynapse": _Facts(_AEIF + "; NEST takes only weights >= 0 (E_rev sets the sign): an "
                                           "inhibitory port's weight w <= 0 is |w| there",
                                           record_only=frozenset({"g"}), internal=frozenset({"dg"}),
                                           positive_weights=True),
})

_SOURCES: dict = {}


def _builtin_sources() -> dict:
    """NEST built-in -> (neuron file, kinetics, multisynapse?), from the bundled neuron files'
    ``[synaptic_input]`` tables ``nest`` and ``nest_multisynapse``."""
    from .spec import models_dir, read_toml

    key = str(models_dir())
    if key not in _SOURCES:
        found = {}
        for path in sorted(models_dir().glob("*.toml")):
            syn = read_toml(path).get("synaptic_input", {})
            for table, multi in (("nest", False), ("nest_multisynapse", True)):
                for kinetics, builtin in syn.get(table, {}).items():
                    found[builtin] = (path.stem, kinetics, multi)
        _SOURCES[key] = found
    return _SOURCES[key]


def _receptor_suffix(port: str, multi: bool):
    stem = port[:-len("_spikes")] if port.endswith("_spikes") else None
    if multi:
        return int(stem[3:]) if stem and stem.startswith("rec") and stem[3:].isdigit() else None
    return stem


def derive_equivalent(model: Model) -> BuiltinEquivalent | None:
    """The :class:`BuiltinEquivalent` of a composed model (the built-in its hints name), derived
    from its neuron's translation table, its kinetics' rules and the built-in's facts; None if
    the model has no built-in or its names are not those of that composition."""
    builtin = model.hints.get("nest_builtin")
    source = _builtin_sources().get(builtin)
    if source is None or builtin not in _BUILTINS or source[0] not in _NEURONS:
        return None
    neuron, kinetics, multi = source
    facts, own, rules = _BUILTINS[builtin], _NEURONS[neuron], _KINETICS[kinetics]
    ports = {port: (_receptor_suffix(port, multi), inp.sign) for port, inp in model.spike_inputs.items()}
    suffixes = [suffix for suffix, _ in ports.values()]
    if multi and suffixes != list(range(1, len(suffixes) + 1)) or \
            not multi and [(s, sign) for s, sign in ports.values()] != [("exc", "excitatory"), ("inh", "inhibitory")]:
        return None
    names = dict(own)
    elements, record_only, negated, unrecorded = {}, set(), set(), set()
    for port, (suffix, sign) in ports.items():
        for name, unit in rules.items():
            ours = f"{name}_{suffix}"
            is_parameter = name in _ARRAYS and ours in model.parameters
            if name in facts.internal:
                theirs = None
            elif multi and is_parameter:
                theirs = _ARRAYS[name]
                elements[ours] = suffix - 1
            else:
                theirs = f"{name}_{suffix}" if multi else f"{name}_{_NEST_SUFFIX[suffix]}"
            names[ours] = (theirs, unit)
            if name in facts.record_only:
                record_only.add(ours)
            if name in facts.unrecorded:
                unrecorded.add(ours)
            if name in facts.signed and sign == "inhibitory":
                negated.add(ours)
    if set(names) != set(model.parameters) | set(model.state):
        return None
    equivalent = BuiltinEquivalent(
        builtin, MappingProxyType({n: names[n] for n in model.parameters}),
        MappingProxyType({n: names[n] for n in model.state}), MappingProxyType(dict(facts.settings)), facts.note,
        frozenset(record_only), frozenset(negated), frozenset(unrecorded), MappingProxyType(elements),
        MappingProxyType({port: (suffix if multi else 0) for port, (suffix, _) in ports.items()}),
        frozenset(port for port, (_, sign) in ports.items() if sign == "inhibitory"), facts.positive_weights)
    return equivalent


class _Equivalents(Mapping):
    """Read-only mapping model name -> :class:`BuiltinEquivalent`, derived on first use (it
    loads every composition with a built-in, so importing :mod:`lifbridge.nest` stays cheap)."""

    def __init__(self):
        self._table = None

    def _load(self) -> MappingProxyType:
        if self._table is None:
            from .compose import compositions
            from .spec import bundled_models

            table = {}
            for name in sorted(set(compositions()) | set(bundled_models())):
                model = load(name)
                if not model.hints.get("nest_builtin"):
                    continue
                equivalent = derive_equivalent(model)
                if equivalent is None:
                    raise LifbridgeError(f"{name}: no translation to NEST's {model.hints['nest_builtin']} "
                                         f"(see lifbridge.nest._NEURONS, _KINETICS, _BUILTINS)")
                table[name] = equivalent
            self._table = MappingProxyType(table)
        return self._table

    def __getitem__(self, name):
        return self._load()[name]

    def __iter__(self):
        return iter(self._load())

    def __len__(self):
        return len(self._load())

    def __repr__(self):
        return f"BUILTIN_EQUIVALENTS({', '.join(self._load())})"


#: model name -> its NEST built-in equivalent, for every composition with a built-in and
#: today's names (``lif`` = ``lif_psc_exp`` -> ``iaf_psc_exp``, ...). Derived (on first use)
#: from :data:`_NEURONS`, :data:`_KINETICS` and :data:`_BUILTINS`: our names differ from
#: NEST's only for the synapses (``*_exc``/``*_inh`` for NEST's ``*_ex``/``*_in``) and HH's
#: gating variables. Units are the same on both sides. A ``*_multisynapse`` model is not
#: named by its name alone (receptors, signs): :func:`builtin_equivalent` derives it.
BUILTIN_EQUIVALENTS = _Equivalents()


def builtin_equivalent(model) -> BuiltinEquivalent | None:
    """The :class:`BuiltinEquivalent` of a model (name or Model), or None.

    A name is looked up in :data:`BUILTIN_EQUIVALENTS`; a Model is derived from its hints
    (so a ``*_multisynapse`` composition, ``lifbridge.load("lif", receptors=[(1, "psc_exp"),
    (2, "psc_exp")])``, gets its own), or None if it has no NEST built-in.
    """
    if isinstance(model, Model):
        return derive_equivalent(model)
    return BUILTIN_EQUIVALENTS.get(str(model))


def names_table() -> list:
    """Rows ``(model, generated neuron, NEST built-in, kind, our name, NEST name, unit, note)``
    for every parameter and state variable of every model with a NEST built-in (from
    :data:`BUILTIN_EQUIVALENTS`); ``note`` is "" or says where NEST's side cannot be set
    or has the opposite sign."""
    rows = []
    for name, eq in BUILTIN_EQUIVALENTS.items():
        for kind, table in (("parameter", eq.parameters), ("state", eq.state)):
            for ours, (theirs, unit) in table.items():
                notes = []
                if kind == "state" and theirs is None:
                    notes.append("internal in NEST")
                elif kind == "state" and ours in eq.record_only:
                    notes.append("recordable, not settable in NEST")
                elif kind == "state" and ours in eq.unrecorded:
                    notes.append("settable, not recordable in NEST")
                if kind == "state" and ours in eq.negated:
                    notes.append("NEST's is negative, ours the magnitude")
                note = "; ".join(notes)
                rows.append((name, f"{name}_neuron", eq.builtin, kind, ours, theirs, unit, note))
    return rows
