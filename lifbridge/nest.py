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
bundled models, with the parameter and state names (and units) on both sides. The
generated neurons keep the spec's names (NESTML's ``tau_syn_exc``, ``E_exc``, ...), not
NEST's (``tau_syn_ex``, ``E_ex``, ...); NEST rejects a key a neuron does not have, so
``nest.Create("lif_neuron", params={"tau_syn_ex": 5.0})`` raises
``UnaccessedDictionaryEntry`` instead of being ignored. :func:`names_table` lists both sides.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from types import MappingProxyType

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
    variables NEST lets one record but not set; ``negated`` those NEST keeps with the
    opposite sign (an inhibitory current that NEST keeps negative, ours is its magnitude).
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

    def builtin_parameters(self, model: Model) -> dict:
        """``model``'s parameter values as a NEST status dict of the built-in (NEST names and units)."""
        status = {}
        for ours, (theirs, unit) in self.parameters.items():
            p = model.parameters[ours]
            status[theirs] = p.value * p.unit.factor_to(parse_unit(unit))
        status.update(self.settings)
        return status

    def settable(self, ours: str) -> bool:
        """True if the built-in's status dict takes the state variable ``ours``."""
        return self.state[ours][0] is not None and ours not in self.record_only

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


def _equivalent(builtin, parameters, state, note="", settings=None, record_only=(), negated=()):
    return BuiltinEquivalent(builtin, MappingProxyType(parameters), MappingProxyType(state),
                             MappingProxyType(settings or {}), note, frozenset(record_only), frozenset(negated))


#: bundled model -> its NEST built-in equivalent. Our names differ from NEST's only for
#: the synapses (``*_exc``/``*_inh`` for NEST's ``*_ex``/``*_in``) and HH's gating variables.
#: Units are the same on both sides.
BUILTIN_EQUIVALENTS = MappingProxyType({
    "lif": _equivalent("iaf_psc_exp", {
        "C_m": ("C_m", "pF"), "tau_m": ("tau_m", "ms"), "E_L": ("E_L", "mV"), "V_th": ("V_th", "mV"),
        "V_reset": ("V_reset", "mV"), "t_ref": ("t_ref", "ms"), "tau_syn_exc": ("tau_syn_ex", "ms"),
        "tau_syn_inh": ("tau_syn_in", "ms"), "I_e": ("I_e", "pA"),
    }, {"V_m": ("V_m", "mV"), "I_syn_exc": ("I_syn_ex", "pA"), "I_syn_inh": ("I_syn_in", "pA")},
        "same exact (propagator) integration and update order: spike for spike",
        record_only=("I_syn_exc", "I_syn_inh"), negated=("I_syn_inh",)),
    "lif_cond": _equivalent("iaf_cond_exp", {
        "C_m": ("C_m", "pF"), "g_L": ("g_L", "nS"), "E_L": ("E_L", "mV"), "V_th": ("V_th", "mV"),
        "V_reset": ("V_reset", "mV"), "t_ref": ("t_ref", "ms"), "E_exc": ("E_ex", "mV"), "E_inh": ("E_in", "mV"),
        "tau_syn_exc": ("tau_syn_ex", "ms"), "tau_syn_inh": ("tau_syn_in", "ms"), "I_e": ("I_e", "pA"),
    }, {"V_m": ("V_m", "mV"), "g_exc": ("g_ex", "nS"), "g_inh": ("g_in", "nS")},
        "both GSL RKF45; NEST controls the error with abs 1e-3, rel 0 (fixed), NESTML with "
        "gsl_abs_error_tol/gsl_rel_error_tol (default 1e-6, settable)"),
    "adex": _equivalent("aeif_psc_exp", {
        "C_m": ("C_m", "pF"), "g_L": ("g_L", "nS"), "E_L": ("E_L", "mV"), "V_th": ("V_th", "mV"),
        "Delta_T": ("Delta_T", "mV"), "V_peak": ("V_peak", "mV"), "V_reset": ("V_reset", "mV"),
        "t_ref": ("t_ref", "ms"), "a": ("a", "nS"), "b": ("b", "pA"), "tau_w": ("tau_w", "ms"),
        "tau_syn_exc": ("tau_syn_ex", "ms"), "tau_syn_inh": ("tau_syn_in", "ms"), "I_e": ("I_e", "pA"),
    }, {"V_m": ("V_m", "mV"), "w": ("w", "pA"), "I_syn_exc": ("I_syn_ex", "pA"), "I_syn_inh": ("I_syn_in", "pA")},
        "NEST detects and resets spikes inside its RKF45 substeps, the generated model at the end "
        "of each time step"),
    "izhikevich": _equivalent("izhikevich", {
        "a": ("a", "1"), "b": ("b", "1"), "c": ("c", "mV"), "d": ("d", "mV"), "V_th": ("V_th", "mV"),
        "I_e": ("I_e", "pA"),
    }, {"V_m": ("V_m", "mV"), "U_m": ("U_m", "mV")},
        "NEST integrates with one forward-Euler step per time step, the generated model with RKF45"),
    "hh": _equivalent("hh_psc_alpha", {
        "C_m": ("C_m", "pF"), "g_Na": ("g_Na", "nS"), "g_K": ("g_K", "nS"), "g_L": ("g_L", "nS"),
        "E_Na": ("E_Na", "mV"), "E_K": ("E_K", "mV"), "E_L": ("E_L", "mV"), "t_ref": ("t_ref", "ms"),
        "tau_syn_exc": ("tau_syn_ex", "ms"), "tau_syn_inh": ("tau_syn_in", "ms"), "I_e": ("I_e", "pA"),
    }, {"V_m": ("V_m", "mV"), "m": ("Act_m", "1"), "h": ("Inact_h", "1"), "n": ("Act_n", "1"),
        "I_syn_exc": ("I_syn_ex", "pA"), "I_syn_inh": ("I_syn_in", "pA"),
        "dI_syn_exc": (None, "pA/ms"), "dI_syn_inh": (None, "pA/ms")},
        "both GSL RKF45 (NEST abs 1e-3, rel 0); NEST detects a spike when V_m >= 0 and V_m fell "
        "during the step, the spec when V_m >= 0 and dV_m/dt < 0 at the end of the step",
        record_only=("I_syn_exc", "I_syn_inh"), negated=("I_syn_inh",)),
    "hh_traub": _equivalent("hh_cond_exp_traub", {
        "g_Na": ("g_Na", "nS"), "g_K": ("g_K", "nS"), "g_L": ("g_L", "nS"), "C_m": ("C_m", "pF"),
        "E_Na": ("E_Na", "mV"), "E_K": ("E_K", "mV"), "E_L": ("E_L", "mV"), "V_T": ("V_T", "mV"),
        "t_ref": ("t_ref", "ms"), "E_exc": ("E_ex", "mV"), "E_inh": ("E_in", "mV"),
        "tau_syn_exc": ("tau_syn_ex", "ms"), "tau_syn_inh": ("tau_syn_in", "ms"), "I_e": ("I_e", "pA"),
    }, {"V_m": ("V_m", "mV"), "m": ("Act_m", "1"), "h": ("Inact_h", "1"), "n": ("Act_n", "1"),
        "g_exc": ("g_ex", "nS"), "g_inh": ("g_in", "nS")},
        "both GSL RKF45 (NEST abs 1e-3, rel 0); NEST detects a spike when V_m >= V_T + 30 mV and V_m fell "
        "during the step, the spec when dV_m/dt < 0 at the end of the step",
        record_only=("g_exc", "g_inh")),
})


def builtin_equivalent(model) -> BuiltinEquivalent | None:
    """The :class:`BuiltinEquivalent` of a bundled model (name or Model), or None."""
    name = model.name if isinstance(model, Model) else str(model)
    return BUILTIN_EQUIVALENTS.get(name)


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
                if kind == "state" and ours in eq.negated:
                    notes.append("NEST's is negative, ours the magnitude")
                note = "; ".join(notes)
                rows.append((name, f"{name}_neuron", eq.builtin, kind, ours, theirs, unit, note))
    return rows
