"""Composition: a neuron spec plus one synapse kinetics spec per receptor, built into one :class:`Model`.

Both are model files in the same spec language (``models/<neuron>.toml``,
``models/synapses/<kinetics>.toml``); nothing here knows a particular synapse type.

A **neuron file** is a model file without spike inputs and with a table::

    [synaptic_input]
    current = "I_syn"          # the total synaptic current (pA), a name the equations use
    voltage = "V_m"            # what delta synapses move; conductances' driving potential
    driving_potential = "V_b"  # optional: the driving potential of conductances, if not `voltage`
    default = "psc_exp"        # kinetics of `load("<neuron>")` (the model of that name)
    neuron_description = "Leaky integrate-and-fire neuron"   # for the other compositions
    nest = { psc_exp = "iaf_psc_exp", psc_alpha = "iaf_psc_alpha" }   # NEST built-in per kinetics
    nest_multisynapse = { psc_exp = "iaf_psc_exp_multisynapse" }      # ... with receptors 1..n
    defaults = { tau_syn_exc = 0.2 }   # this neuron's defaults of receptor parameters (NEST's)

A **kinetics file** (``models/synapses/*.toml``) declares, for ONE receptor, its
``[parameters]``, ``[state]`` and ``[equations]`` (linear), and in ``[synapse]``:
``type`` (``current``, ``conductance`` or ``jump``), ``weight_unit``, ``on_spike``
(``weight`` is the magnitude of the weight, NEST's sign convention selecting the port),
``current`` (what it adds to the membrane current; ``V_m`` there is the neuron's driving
potential) or, for ``jump``, statements on ``V_m`` (the neuron's voltage), and
``input_description``. ``[receptors.exc]``/``[receptors.inh]`` give NEST's defaults
for the standard receptors.

Rules:

* **Names**: every name of a kinetics file gets the receptor's suffix, ``<name>_<receptor>``
  (``tau_syn`` -> ``tau_syn_exc``, ``g`` -> ``g_inh``, ``E`` -> ``E_exc``, ``I_syn`` ->
  ``I_syn_2``); the port is ``<receptor>_spikes`` (``exc_spikes``), or ``rec<n>_spikes`` for
  a numbered receptor ``n`` (NEST's receptor type of a ``*_multisynapse`` model).
* **Sign**: the excitatory port of a ``current`` kinetics adds its current, the inhibitory
  port subtracts it (the state holds the magnitude); ``conductance`` adds ``g (E - V)``
  whatever the port (E sets the sign); ``jump`` turns ``+=`` into ``-=`` on an
  inhibitory port.
* **Membrane**: ``current`` is replaced by the sum of the receptors' currents, term by
  term (``a + I_syn + b`` becomes ``a + I_syn_exc - I_syn_inh + b``); with delta synapses
  only, the name drops out.
* **Order**: receptor parameters come before the neuron's ``I_e`` (else at the end),
  grouped by kinetics parameter (``E_exc, E_inh, tau_syn_exc, tau_syn_inh``); receptor
  state variables and equations follow the neuron's, receptor by receptor; spike ports
  come before the continuous inputs.
* **Defaults**: the kinetics parameter's ``value``, then ``[receptors.<name>]`` of the
  kinetics file, then the neuron's ``defaults``, then the values the caller gives.
* **Refractoriness**: a clamped variable does not move while refractory, so a jump that
  targets it is dropped (NEST's ``refractory_input = false``).
* **NEST's parameterisations**: ``<neuron>_cond_<k>`` uses the neuron file
  ``<neuron>_cond`` when there is one (NEST's ``iaf_cond_*`` take ``g_L`` and other
  defaults than ``iaf_psc_*``, which take ``tau_m``): ``lif_cond_alpha`` is ``lif_cond``
  with ``cond_alpha``.
* **Brian2 method**: a neuron whose hint is ``exact`` gets ``rk4`` with conductance
  synapses (``g V`` is not linear with constant coefficients; the conductances themselves
  are still updated exactly, and RK4 lets the membrane see them decay within a step,
  where exponential Euler would hold them at their start-of-step value).
* **NEST built-in** (``hints["nest_builtin"]``): ``nest[<kinetics>]`` for NEST's two
  receptors ``exc``, ``inh`` of one kinetics; ``nest_multisynapse[<kinetics>]`` for the
  numbered receptors 1, 2, ..., n (n >= 2, in this order, one kinetics, any signs), NEST's
  receptor types of a ``*_multisynapse`` model, whose per-receptor parameters are arrays
  (``tau_syn_2`` is element 1 of its ``tau_syn``); none otherwise. Both tables map a
  kinetics name to the name of a NEST model; :data:`lifbridge.nest.BUILTIN_EQUIVALENTS`
  translates names, units and signs.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

from . import expr as ex
from .errors import LifbridgeError, ParameterError, SpecError

KINETICS_TYPES = ("current", "conductance", "jump")
SYNAPSE_KEYS = ("name", "description", "reference", "type", "weight_unit", "on_spike", "current",
                "input_description", "notes")
KINETICS_TABLES = ("synapse", "parameters", "state", "equations", "receptors")
SYNAPTIC_INPUT_KEYS = ("current", "voltage", "driving_potential", "default", "neuron_description", "nest",
                       "nest_multisynapse", "defaults")
#: Receptor names whose port and sign are fixed: NEST's two receptors of receptor type 0.
STANDARD_RECEPTORS = {"exc": "excitatory", "inh": "inhibitory"}
#: The suffix NEST gives a name of the standard receptors (tau_syn_exc -> tau_syn_ex).
_NEST_SUFFIX = {"exc": "ex", "inh": "in"}
_VOLTAGE = "V_m"          # the neuron's voltage / driving potential inside a kinetics file
_RECEPTOR_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")


# ---------------------------------------------------------------------------- receptors
@dataclass(frozen=True)
class Receptor:
    """One spike port with its kinetics.

    ``name``: ``"exc"``, ``"inh"``, another identifier (letters and digits), or a
    receptor number n >= 1 (NEST's ``receptor_type`` of a ``*_multisynapse`` model).
    ``kinetics``: a kinetics name (``"psc_exp"``) or the path of a kinetics file.
    ``parameters``: values by the kinetics' own names (``{"tau_syn": "5 ms", "E": -80}``,
    numbers in the kinetics parameter's unit). ``sign``: ``"excitatory"`` or
    ``"inhibitory"`` (default: inhibitory for ``inh``, excitatory otherwise) - which sign
    of weight the port takes, NEST's convention.
    """

    name: object
    kinetics: str
    parameters: dict = field(default_factory=dict)
    sign: str = ""

    @property
    def suffix(self) -> str:
        return str(self.name)

    @property
    def port(self) -> str:
        return f"rec{self.name}_spikes" if isinstance(self.name, int) else f"{self.name}_spikes"


def receptor(item, where="receptors") -> Receptor:
    """A :class:`Receptor` from a Receptor or a tuple ``(name, kinetics[, parameters[, sign]])``."""
    if isinstance(item, Receptor):
        rec = item
    elif isinstance(item, (tuple, list)) and 2 <= len(item) <= 4:
        rec = Receptor(item[0], item[1], dict(item[2]) if len(item) > 2 and item[2] else {},
                       item[3] if len(item) > 3 else "")
    else:
        raise LifbridgeError(f"{where}: {item!r} is not a receptor; give (name, kinetics), (name, kinetics, "
                             f"{{parameter: value}}) or (name, kinetics, parameters, sign), e.g. ('exc', 'psc_exp')")
    name = rec.name
    if isinstance(name, bool) or not (isinstance(name, int) and name >= 1
                                      or isinstance(name, str) and _RECEPTOR_NAME.fullmatch(name)
                                      and len(name) <= 20):
        raise LifbridgeError(f"{where}: receptor name {name!r} is neither a receptor number >= 1 nor a name of "
                             f"letters and digits (such as 'exc', 'inh', 'ampa'); rename it")
    if not isinstance(rec.kinetics, str):
        raise LifbridgeError(f"{where}: receptor {name!r}: kinetics must be a name such as 'psc_exp', "
                             f"got {rec.kinetics!r}")
    if not isinstance(rec.parameters, dict):
        raise LifbridgeError(f"{where}: receptor {name!r}: parameters must be a dict such as "
                             f"{{'tau_syn': '2 ms'}}, got {rec.parameters!r}")
    sign = rec.sign or STANDARD_RECEPTORS.get(name, "excitatory")
    if sign not in ("excitatory", "inhibitory"):
        raise LifbridgeError(f"{where}: receptor {name!r}: sign {rec.sign!r} is not allowed; "
                             f"use 'excitatory' or 'inhibitory'")
    if name in STANDARD_RECEPTORS and sign != STANDARD_RECEPTORS[name]:
        raise LifbridgeError(f"{where}: receptor {name!r} is {STANDARD_RECEPTORS[name]} by name; "
                             f"drop the sign or rename the receptor")
    return replace(rec, sign=sign)


# ---------------------------------------------------------------------------- kinetics
@dataclass(frozen=True)
class Kinetics:
    """A checked synapse kinetics file (one receptor, names without suffix)."""

    name: str
    type: str
    description: str
    reference: str
    weight_unit: str
    data: MappingProxyType
    source: str
    notes: str = ""
    path: str = ""           # the file, resolved

    @property
    def names(self):
        return tuple(self.data.get("parameters", {})) + tuple(self.data.get("state", {}))


def kinetics_dir() -> Path:
    """The directory of the bundled synapse kinetics files (``<models>/synapses``)."""
    from .spec import models_dir

    return models_dir() / "synapses"


def kinetics_names() -> list[str]:
    """Names of the bundled synapse kinetics, sorted (``cond_alpha``, ``cond_exp``, ``psc_alpha`` ...)."""
    return sorted(p.stem for p in kinetics_dir().glob("*.toml"))


_KINETICS_CACHE: dict = {}


def load_kinetics(name_or_path) -> Kinetics:
    """A bundled kinetics by name (``"psc_alpha"``) or a kinetics file by path, checked."""
    from .spec import _display_path, _exists, read_toml

    text = str(name_or_path)
    if text.endswith(".toml") or "/" in text:
        path = Path(text)
        if not _exists(path):
            raise SpecError(text, "", "no such synapse kinetics file")
    else:
        path = kinetics_dir() / f"{text}.toml"
        if not (_RECEPTOR_NAME.fullmatch(text.replace("_", "a")) and _exists(path)):
            raise LifbridgeError(f"unknown synapse kinetics {text!r}; bundled kinetics: "
                                 f"{', '.join(kinetics_names())} (or give the path of a kinetics .toml file)")
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = None
    key = (str(path.resolve()), stamp)
    if key not in _KINETICS_CACHE:
        data = read_toml(path)
        _KINETICS_CACHE[key] = replace(_check_kinetics(data, _display_path(path)), path=key[0])
    return _KINETICS_CACHE[key]


def _check_kinetics(data, source) -> Kinetics:
    """Check a kinetics file on its own: its [synapse] table here, its expressions and units by
    building it as a stand-alone model (one excitatory receptor without suffix)."""
    from .spec import _did_you_mean, build_model

    def fail(where, problem):
        raise SpecError(source, where, problem)

    for table in data:
        if table not in KINETICS_TABLES:
            fail(f"[{table}]", f"unknown table{_did_you_mean(table, KINETICS_TABLES)}; a synapse kinetics file "
                               f"has the tables {', '.join(KINETICS_TABLES)}")
    syn = data.get("synapse")
    if not isinstance(syn, dict):
        fail("[synapse]", "missing table: name, description, reference, type, weight_unit, on_spike, "
                          "current (see models/synapses/psc_exp.toml)")
    for key in syn:
        if key not in SYNAPSE_KEYS:
            fail(f"[synapse].{key}", f"unknown key{_did_you_mean(key, SYNAPSE_KEYS)}; allowed keys: "
                                     f"{', '.join(SYNAPSE_KEYS)}")
    for key in ("name", "description", "reference", "type", "weight_unit", "on_spike", "input_description"):
        if key not in syn:
            fail(f"[synapse].{key}", "missing required key")
    for key in ("name", "description", "reference", "type", "weight_unit", "input_description", "current",
                "notes"):
        if key in syn and not isinstance(syn[key], str):
            fail(f"[synapse].{key}", f"must be a string, got {syn[key]!r}")
    kind = syn["type"]
    if kind not in KINETICS_TYPES:
        fail("[synapse].type", f"{kind!r} is not a kinetics type; use one of: {', '.join(KINETICS_TYPES)}")
    if kind == "jump" and "current" in syn:
        fail("[synapse].current", "a 'jump' kinetics moves the voltage in on_spike and adds no current; "
                                  "remove current, or make the type 'current'")
    if kind != "jump" and "current" not in syn:
        fail("[synapse].current", f"a {kind!r} kinetics must say what it adds to the membrane current, "
                                  f"e.g. current = \"I_syn\" or \"-g*(V_m - E)\"")
    names = list(data.get("parameters", {})) + list(data.get("state", {}))
    if _VOLTAGE in names:
        fail(f"[state].{_VOLTAGE}", f"{_VOLTAGE} stands for the neuron's voltage in a kinetics file; "
                                    f"name the synaptic variable otherwise")
    receptors = data.get("receptors", {})
    if not isinstance(receptors, dict):
        fail("[receptors]", "must be tables [receptors.exc], [receptors.inh] of parameter defaults")
    for rec, values in receptors.items():
        if rec not in STANDARD_RECEPTORS or not isinstance(values, dict):
            fail(f"[receptors.{rec}]", "only [receptors.exc] and [receptors.inh], each a table of parameter "
                                       "defaults, are allowed")
        for pname, value in values.items():
            if pname not in data.get("parameters", {}):
                fail(f"[receptors.{rec}].{pname}", f"{pname!r} is not a parameter of this kinetics"
                                                   f"{_did_you_mean(pname, data.get('parameters', {}))}")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                fail(f"[receptors.{rec}].{pname}", f"must be a number, got {value!r}")
    # expressions and units: build it alone, as one excitatory receptor with a voltage V_m
    state = dict(data.get("state", {}))
    equations = dict(data.get("equations", {}))
    if _uses(syn, _VOLTAGE) or kind == "jump":
        state[_VOLTAGE] = {"unit": "mV", "initial": 0.0}
        equations[_VOLTAGE] = "0*mV/ms"
    stand_in = {
        "model": {"name": "kinetics", "description": "synapse kinetics", "reference": "-"},
        "parameters": data.get("parameters", {}), "state": state, "equations": equations,
        "inputs": {"spikes": {"kind": "spike", "sign": "excitatory", "unit": syn["weight_unit"],
                              "on_spike": syn["on_spike"]}},
    }
    if "current" in syn:
        stand_in["expressions"] = {"synaptic_current": {"expr": syn["current"], "unit": "pA"}}
    if not state:
        fail("[synapse]", "a kinetics without state variables must be of type 'jump'")
    renamed = {"[inputs].spikes.on_spike": "[synapse].on_spike", "[inputs].spikes.unit": "[synapse].weight_unit",
               "[inputs].spikes": "[synapse]", "[expressions].synaptic_current.expr": "[synapse].current"}
    try:
        model = build_model(stand_in, source)
    except SpecError as error:
        where = error.field
        for old, new in renamed.items():
            if where.startswith(old):
                where = new + where[len(old):]
                break
        problem = error.problem.replace("expression synaptic_current must be in pA (its declared unit)",
                                        "the synaptic current must be a current (pA)")
        raise SpecError(source, where, problem) from None
    targets = {a.target for a in model.inputs["spikes"].on_spike}
    if kind == "jump" and targets != {_VOLTAGE}:
        fail("[synapse].on_spike", f"a 'jump' kinetics changes only {_VOLTAGE} (the neuron's voltage)")
    if kind != "jump" and _VOLTAGE in targets:
        fail("[synapse].on_spike", f"a {kind!r} kinetics changes only its own state; a jump of {_VOLTAGE} is "
                                   f"type 'jump'")
    if kind == "conductance" and not _uses(syn, _VOLTAGE, only="current"):
        fail("[synapse].current", f"a conductance kinetics drives a current through the driving potential "
                                  f"{_VOLTAGE}, e.g. \"-g*(V_m - E)\"")
    if kind == "jump" and model.inputs["spikes"].unit.name and \
            model.inputs["spikes"].unit.dim != model.state[_VOLTAGE].unit.dim:
        fail("[synapse].weight_unit", f"a jump of the voltage takes weights in a voltage unit such as mV, "
                                      f"got {syn['weight_unit']}")
    for table in ("parameters", "state"):
        for name in data.get(table, {}):
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name) or name.endswith("_"):
                fail(f"[{table}].{name}", "a kinetics name must be letters, digits and _, not ending in _")
    if syn["name"] != Path(source).stem:
        fail("[synapse].name", f"{syn['name']!r} differs from the file name {Path(source).stem!r}; "
                               f"make them equal")
    return Kinetics(syn["name"], kind, syn["description"], syn["reference"], syn["weight_unit"],
                    MappingProxyType(data), source, syn.get("notes", ""))


def _uses(syn, name, only=None):
    texts = [syn.get("current", "")] if only == "current" else \
        [syn.get("current", "")] + list(syn.get("on_spike", []) if isinstance(syn.get("on_spike"), list) else [])
    pattern = re.compile(rf"(?<![A-Za-z0-9_.]){re.escape(name)}(?![A-Za-z0-9_])")
    return any(isinstance(t, str) and pattern.search(t) for t in texts)


def _rename_text(text, mapping):
    """``text`` with every whole name in ``mapping`` replaced (names are identifiers of the spec language)."""
    if not mapping:
        return text
    pattern = re.compile(r"(?<![A-Za-z0-9_.])(" + "|".join(re.escape(n) for n in
                                                          sorted(mapping, key=len, reverse=True)) + r")(?![A-Za-z0-9_])")
    return pattern.sub(lambda m: mapping[m.group(1)], text)


# ---------------------------------------------------------------------------- neuron files
def is_neuron(data) -> bool:
    """True if the data of a model file is a neuron spec (it has [synaptic_input])."""
    return isinstance(data, dict) and "synaptic_input" in data


def neuron_and_kinetics(model) -> tuple:
    """(neuron, synapse kinetics) of a model by its name: ``lif_psc_exp`` -> ("lif", "psc_exp"),
    ``lif_cond_exp`` -> ("lif_cond", "cond_exp"); a model of its own: (its name, its synapses'
    kinetics if they are all one, else "")."""
    split = split_name(model.name)
    neuron = split[0] if split else model.name
    kinds = sorted({s.kinetics for s in model.synapses.values()})
    kinetics = split[1] if split else (kinds[0] if len(kinds) == 1 else "")
    return neuron, kinetics


def split_name(name: str):
    """``(neuron, kinetics)`` of a composed name (``"lif_psc_alpha"`` -> ``("lif", "psc_alpha")``,
    ``"lif_cond_alpha"`` -> ``("lif_cond", "cond_alpha")``), or None."""
    from .spec import models_dir

    for kinetics in sorted(kinetics_names(), key=len, reverse=True):
        if name.endswith("_" + kinetics) and len(name) > len(kinetics) + 1:
            neuron = name[:-len(kinetics) - 1]
            if kinetics.startswith("cond_") and (models_dir() / f"{neuron}_cond.toml").is_file():
                neuron = f"{neuron}_cond"
            if (models_dir() / f"{neuron}.toml").is_file():
                return neuron, kinetics
    return None


def neurons() -> list[str]:
    """Names of the bundled neuron files (every bundled model is one)."""
    from .spec import models_dir, read_toml

    return sorted(p.stem for p in models_dir().glob("*.toml") if is_neuron(read_toml(p)))


def compositions() -> list[str]:
    """Every ``<neuron>_<kinetics>`` name that loads: ``lif_psc_alpha``, ``lif_cond_alpha``, ``adex_cond_exp`` ...

    A neuron ``<n>_cond`` (NEST's conductance-based parameterisation of ``<n>``) gives the
    ``<n>_cond_<k>`` names; names that refuse to compose (delta synapses into a neuron
    without a voltage, currents into one without a current) are left out.
    """
    from .spec import models_dir, read_toml

    names = []
    all_neurons = neurons()
    for neuron in all_neurons:
        family = neuron[:-5] if neuron.endswith("_cond") and neuron[:-5] in all_neurons else neuron
        inputs = read_toml(models_dir() / f"{neuron}.toml").get("synaptic_input", {})
        for kinetics in kinetics_names():
            is_cond = kinetics.startswith("cond_")
            if family != neuron and not is_cond:
                continue           # lif_cond takes the conductance kinetics of the lif family
            if family == neuron and is_cond and f"{neuron}_cond" in all_neurons:
                continue           # ... and lif leaves them to lif_cond
            kind = load_kinetics(kinetics).type
            if kind == "jump" and "voltage" not in inputs:
                continue
            if kind != "jump" and "current" not in inputs:
                continue
            if kind == "conductance" and "voltage" not in inputs:
                continue
            names.append(f"{family}_{kinetics}")
    return sorted(names)


def synapse_table() -> dict:
    """Bundled neuron -> (its default kinetics, every kinetics it composes with, by name), for
    ``lifbridge models``: ``{"lif": ("psc_exp", ["psc_alpha", "psc_delta", "psc_exp"]),
    "lif_cond": ("cond_exp", ["cond_alpha", "cond_exp"]), ...}``."""
    from .spec import models_dir, read_toml

    table = {}
    for neuron in neurons():
        default = read_toml(models_dir() / f"{neuron}.toml").get("synaptic_input", {}).get("default")
        table[neuron] = (default, [])
    for name in compositions():
        neuron, kinetics = split_name(name)
        table[neuron][1].append(kinetics)
    return table


def default_receptors(kinetics: str) -> list:
    """NEST's two receptors, ``exc`` and ``inh``, with ``kinetics``."""
    return [Receptor("exc", kinetics, {}, "excitatory"), Receptor("inh", kinetics, {}, "inhibitory")]


def compose(data, source, *, name=None, synapses=None, receptors=None) -> "Model":
    """The model of the neuron file ``data`` (read from ``source``) with its synapses.

    ``synapses``: one kinetics for NEST's two receptors (default: the neuron's
    ``default``); ``receptors``: a list of :class:`Receptor` (or tuples) instead.
    ``name``: the model's name (default: the neuron's, with ``_<kinetics>`` when not the default).
    """
    from .spec import _did_you_mean, build_model

    def fail(where, problem):
        raise SpecError(source, where, problem)

    tables = ("model", "parameters", "state", "equations", "expressions", "inputs", "hints")
    if any(t in data and not isinstance(data[t], dict) for t in tables) or not isinstance(data.get("model"), dict):
        # a malformed neuron file: the model reader says what is wrong with it
        build_model({k: v for k, v in data.items() if k != "synaptic_input"}, source)
    syn = data.get("synaptic_input")
    if not isinstance(syn, dict):
        fail("[synaptic_input]", "must be a table: current = \"I_syn\", voltage = \"V_m\", default = \"psc_exp\"")
    for key in syn:
        if key not in SYNAPTIC_INPUT_KEYS:
            fail(f"[synaptic_input].{key}", f"unknown key{_did_you_mean(key, SYNAPTIC_INPUT_KEYS)}; allowed keys: "
                                            f"{', '.join(SYNAPTIC_INPUT_KEYS)}")
    for key in ("current", "voltage", "driving_potential", "default", "neuron_description"):
        if key in syn and not isinstance(syn[key], str):
            fail(f"[synaptic_input].{key}", f"must be a string, got {syn[key]!r}")
    for key in ("nest", "nest_multisynapse", "defaults"):
        if key in syn and not isinstance(syn[key], dict):
            fail(f"[synaptic_input].{key}", f"must be an inline table, got {syn[key]!r}")
    _check_nest_tables(syn, fail)
    for pname, value in syn.get("defaults", {}).items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail(f"[synaptic_input].defaults.{pname}", f"must be a number, got {value!r}")
    if "inputs" in data and any(isinstance(v, dict) and v.get("kind") == "spike"
                                for v in data["inputs"].values()):
        fail("[inputs]", "a neuron file gets its spike inputs from its synapse kinetics; remove the spike "
                         "inputs or the [synaptic_input] table")
    model_info = data.get("model", {}) if isinstance(data.get("model"), dict) else {}
    neuron_name = model_info.get("name", Path(source).stem)
    current, voltage = syn.get("current"), syn.get("voltage")
    driving = syn.get("driving_potential", voltage)
    if "driving_potential" in syn and voltage is None:
        fail("[synaptic_input].driving_potential", "needs voltage = \"V_m\" as well")
    default = syn.get("default")
    if receptors is not None and synapses is not None:
        raise LifbridgeError("give either synapses= (one kinetics for both receptors) or receptors=, not both")
    if receptors is not None:
        if isinstance(receptors, (str, bytes)) or not hasattr(receptors, "__iter__"):
            raise LifbridgeError(f"receptors must be a list of (name, kinetics[, parameters[, sign]]), "
                                 f"got {receptors!r}")
        recs = [receptor(r) for r in receptors]
        if not recs:
            raise LifbridgeError("receptors: give at least one receptor, e.g. [('exc', 'psc_exp')]")
    else:
        chosen = synapses or default
        if chosen is None:
            fail("[synaptic_input].default", "no default kinetics; give synapses=\"psc_exp\" (or add "
                                             "default = \"psc_exp\" to the file)")
        if synapses is None:    # the file's own default: a wrong one is the file's error, located
            try:
                load_kinetics(chosen)
            except SpecError:
                raise
            except LifbridgeError as error:
                fail("[synaptic_input].default", str(error))
        recs = default_receptors(chosen)
    seen = set()
    for rec in recs:
        if rec.suffix in seen:
            raise LifbridgeError(f"receptors: receptor {rec.name!r} is given twice; each receptor once")
        seen.add(rec.suffix)
    kinetics = {rec.suffix: load_kinetics(rec.kinetics) for rec in recs}
    kinds = {k.name for k in kinetics.values()}
    uniform = kinds.pop() if len(kinds) == 1 else None
    standard = [r.suffix for r in recs] == ["exc", "inh"]
    is_default = standard and uniform == default and synapses is None and receptors is None
    if name is None:
        if is_default:
            name = neuron_name
        elif standard:
            name = f"{neuron_name[:-5] if neuron_name.endswith('_cond') and uniform.startswith('cond_') else neuron_name}_{uniform}"
        elif uniform:
            name = f"{neuron_name}_{uniform}_multisynapse"
        else:
            name = f"{neuron_name}_multisynapse"
    neuron_field = f"{source} [synaptic_input]"

    # refusals: what the neuron offers against what the kinetics need
    for rec in recs:
        k = kinetics[rec.suffix]
        if k.type == "jump" and voltage is None:
            raise SpecError(source, "[synaptic_input]", f"{k.name} moves the membrane potential, but {neuron_name} "
                                                        f"declares no voltage; add voltage = \"V_m\" or choose "
                                                        f"current synapses such as psc_exp")
        if k.type != "jump" and current is None:
            raise SpecError(source, "[synaptic_input]", f"{k.name} adds a synaptic current, but {neuron_name} "
                                                        f"declares none; add current = \"I_syn\" (used in its "
                                                        f"membrane equation) or choose psc_delta")
        if k.type == "conductance" and driving is None:
            raise SpecError(source, "[synaptic_input]", f"{k.name} needs a driving potential, but {neuron_name} "
                                                        f"declares no voltage; add voltage = \"V_m\" or choose "
                                                        f"current synapses such as {k.name.replace('cond', 'psc')}")

    # the voltage and the driving potential: declared, and in a voltage unit
    from .units import VOLT, parse_unit
    from .errors import UnitError

    for key, var in (("voltage", voltage), ("driving_potential", driving)):
        if var is None:
            continue
        tables = ("state",) if key == "voltage" else ("state", "expressions")
        entry = next((data[t][var] for t in tables if isinstance(data.get(t), dict) and var in data[t]), None)
        if entry is None:
            what = "a state variable" if key == "voltage" else "a state variable or an expression"
            fail(f"[synaptic_input].{key}", f"{var!r} is not {what} of {neuron_name}; name the membrane "
                                            f"potential, e.g. \"V_m\"")
        try:
            unit = parse_unit(entry.get("unit")) if isinstance(entry, dict) and isinstance(entry.get("unit"), str) \
                else None
        except UnitError:
            unit = None
        if unit is not None and unit.dim != VOLT:
            fail(f"[synaptic_input].{key}", f"{var!r} is in {unit.name}; synapses need a voltage (such as mV) "
                                            f"to jump or to drive a conductance")

    # the parameters, state, equations and ports of every receptor, renamed
    suffixed = {}                    # receptor suffix -> {kinetics name: model name}
    for rec in recs:
        k = kinetics[rec.suffix]
        mapping = {n: f"{n}_{rec.suffix}" for n in k.names}
        suffixed[rec.suffix] = mapping
        unknown = set(rec.parameters) - set(k.data.get("parameters", {}))
        if unknown:
            bad = sorted(unknown)[0]
            raise LifbridgeError(f"receptor {rec.name!r} ({k.name}): {bad!r} is not a parameter of {k.name}"
                                 f"{_did_you_mean(bad, list(k.data.get('parameters', {})))}; its parameters: "
                                 f"{', '.join(k.data.get('parameters', {})) or 'none'}")
    own_names = set(data.get("parameters", {})) | set(data.get("state", {})) | \
        set(data.get("expressions", {})) | set(data.get("inputs", {}))
    for rec in recs:
        for kname, mname in suffixed[rec.suffix].items():
            if mname in own_names:
                raise SpecError(source, "[synaptic_input]", f"receptor {rec.name!r} of {kinetics[rec.suffix].name} "
                                                            f"names {mname!r}, which {neuron_name} declares "
                                                            f"itself; rename one of them")
        if rec.port in own_names:
            raise SpecError(source, "[synaptic_input]", f"the port {rec.port!r} clashes with a name of "
                                                        f"{neuron_name}; rename the receptor")
    composed_names = {m for mapping in suffixed.values() for m in mapping.values()}
    for pname in syn.get("defaults", {}):
        possible = {f"{p}_{r}" for kn in kinetics_names() for p in load_kinetics(kn).data.get("parameters", {})
                    for r in list(STANDARD_RECEPTORS) + [s for s in suffixed]}
        if pname not in possible:
            fail(f"[synaptic_input].defaults.{pname}", f"{pname!r} is no receptor parameter of any kinetics"
                                                       f"{_did_you_mean(pname, sorted(possible))}")

    from .model import to_unit
    from .units import parse_unit

    parameters = {}
    for kname in dict.fromkeys(p for rec in recs for p in kinetics[rec.suffix].data.get("parameters", {})):
        for rec in recs:
            k = kinetics[rec.suffix]
            if kname not in k.data.get("parameters", {}):
                continue
            entry = dict(k.data["parameters"][kname])
            mname = suffixed[rec.suffix][kname]
            value = k.data.get("receptors", {}).get(rec.suffix, {}).get(kname, entry.get("value"))
            value = syn.get("defaults", {}).get(mname, value)
            if kname in rec.parameters:
                unit = parse_unit(entry["unit"]) if isinstance(entry.get("unit"), str) else None
                try:
                    value = to_unit(rec.parameters[kname], unit, f"receptor {rec.name!r} parameter {kname}")
                except LifbridgeError as error:
                    raise ParameterError(str(error)) from None
            entry["value"] = value
            entry["description"] = _describe(entry.get("description", ""), rec, kname)
            parameters[mname] = entry
    neuron_parameters = dict(data.get("parameters", {}))
    merged_parameters = {}
    inserted = False
    for pname, entry in neuron_parameters.items():
        if pname == "I_e" and not inserted:
            merged_parameters.update(parameters)
            inserted = True
        merged_parameters[pname] = entry
    if not inserted:
        merged_parameters.update(parameters)

    state = dict(data.get("state", {}))
    equations = dict(data.get("equations", {}))
    ports = {}
    terms = []                       # (sign, text) of the synaptic current
    for rec in recs:
        k = kinetics[rec.suffix]
        mapping = dict(suffixed[rec.suffix])
        for sname, entry in k.data.get("state", {}).items():
            entry = dict(entry)
            if isinstance(entry.get("initial"), str):
                entry["initial"] = _rename_text(entry["initial"], mapping)
            entry["description"] = _describe(entry.get("description", ""), rec, sname)
            state[mapping[sname]] = entry
        for sname, text in k.data.get("equations", {}).items():
            equations[mapping[sname]] = _rename_text(text, mapping)
        statements = []
        for text in k.data["synapse"]["on_spike"]:
            text = _rename_text(text, dict(mapping, **{_VOLTAGE: voltage or _VOLTAGE}))
            if k.type == "jump" and rec.sign == "inhibitory":
                text = re.sub(r"^(\s*[A-Za-z_][A-Za-z0-9_]*\s*)([+-])=", lambda m: m.group(1) +
                              ("-" if m.group(2) == "+" else "+") + "=", text)
            statements.append(text)
        ports[rec.port] = {"kind": "spike", "sign": rec.sign, "unit": k.weight_unit, "on_spike": statements,
                           "description": _describe(k.data["synapse"]["input_description"], rec, "")}
        if k.type != "jump":
            text = _rename_text(k.data["synapse"]["current"], dict(mapping, **{_VOLTAGE: driving or _VOLTAGE}))
            sign = -1 if (k.type == "current" and rec.sign == "inhibitory") else 1
            terms.append((sign, text))
    inputs = dict(ports)
    inputs.update(data.get("inputs", {}))
    merged = {key: value for key, value in data.items() if key != "synaptic_input"}
    merged["parameters"] = merged_parameters
    merged["state"] = state
    merged["equations"] = equations
    merged["inputs"] = inputs
    expressions = dict(data.get("expressions", {}))
    if current is not None:
        if current in expressions or current in state or current in merged_parameters:
            fail("[synaptic_input].current", f"{current!r} is declared in the file; the synaptic current is a "
                                             f"name the composition defines, so use it without declaring it")
        total = " + ".join(f"({t})" if s > 0 else f"-({t})" for s, t in terms) or "0*pA"
        expressions = {current: {"expr": total, "unit": "pA", "description": "total synaptic current"},
                       **expressions}
    merged["expressions"] = expressions
    info = dict(model_info)
    info["name"] = name
    builtin = _nest_builtin(syn, recs, uniform)
    if not is_default:
        stem = syn.get("neuron_description") or model_info.get("description", neuron_name)
        joiner = " and " if " with " in stem else " with "
        texts = dict.fromkeys(kinetics[r.suffix].description for r in recs)
        described = (f"{stem}{joiner}{' and '.join(texts)}" if standard or uniform else
                     f"{stem}{joiner}{len(recs)} receptors ({', '.join(f'{r.suffix}: {kinetics[r.suffix].name}' for r in recs)})")
        info["description"] = described + (f" (NEST {builtin})" if builtin else "")
        references = "; ".join(dict.fromkeys(kinetics[r.suffix].reference for r in recs))
        info["reference"] = f"{model_info.get('reference', '')}; {references}".strip("; ")
    merged["model"] = info
    hints = dict(data.get("hints", {}))
    hints.pop("nest_builtin", None)
    if builtin:
        hints["nest_builtin"] = builtin
    if hints.get("brian2_method") in ("exact", "linear") and any(kinetics[r.suffix].type == "conductance"
                                                                 for r in recs):
        hints["brian2_method"] = "rk4"
    if not is_default and "notes" in hints:
        extra = " ".join(dict.fromkeys(kinetics[r.suffix].notes for r in recs if kinetics[r.suffix].notes))
        if extra:
            hints["notes"] = f"{hints['notes']} {extra}"
    if hints:
        merged["hints"] = hints
    model = build_model(merged, source)
    if current is not None:
        model = _inline_current(model, current, terms, source)
    from .model import Synapse

    bundled_dir = kinetics_dir().resolve()
    described = {rec.port: Synapse(rec.port, kinetics[rec.suffix].name,
                                   Path(kinetics[rec.suffix].path).parent == bundled_dir,
                                   kinetics[rec.suffix].type, MappingProxyType(dict(suffixed[rec.suffix])), rec.name)
                 for rec in recs}
    return replace(model, source=str(source), synapses=MappingProxyType(described))


def _nest_builtin(syn, recs, uniform):
    """The NEST built-in of these receptors (see the module's rules), or None."""
    if not uniform:
        return None
    if [r.suffix for r in recs] == ["exc", "inh"]:
        return syn.get("nest", {}).get(uniform)
    if len(recs) >= 2 and [r.name for r in recs] == list(range(1, len(recs) + 1)):
        return syn.get("nest_multisynapse", {}).get(uniform)
    return None


_NEST_MODEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_nest_tables(syn, fail):
    """``nest`` and ``nest_multisynapse``: kinetics name -> NEST model name."""
    from .spec import MAX_NAME_CHARS, _did_you_mean

    known = kinetics_names()
    for key in ("nest", "nest_multisynapse"):
        for kinetics, builtin in syn.get(key, {}).items():
            where = f"[synaptic_input].{key}.{kinetics}"
            if kinetics not in known:
                fail(where, f"{kinetics!r} is no bundled synapse kinetics{_did_you_mean(kinetics, known)}; "
                            f"bundled: {', '.join(known)}")
            if not isinstance(builtin, str) or len(builtin) > MAX_NAME_CHARS or \
                    not _NEST_MODEL_NAME.fullmatch(builtin):
                fail(where, f"must be the name of a NEST model such as \"iaf_psc_exp\", got {builtin!r}")


def _describe(text, rec: Receptor, name: str) -> str:
    """A kinetics description for one receptor: {receptor}, {weight}, {magnitude}, {jump}, {nest}."""
    inhibitory = rec.sign == "inhibitory"
    who = {"exc": "excitatory", "inh": "inhibitory"}.get(rec.suffix,
                                                          f"receptor {rec.name}" if isinstance(rec.name, int)
                                                          else f"{rec.name}")
    nest = ""
    if rec.suffix in _NEST_SUFFIX and name:
        nest = f" (NEST: {name}_{_NEST_SUFFIX[rec.suffix]})"
    values = {"receptor": who, "weight": "|weight|" if inhibitory else "weight",
              "magnitude": " (magnitude)" if inhibitory else "", "jump": "drop" if inhibitory else "jump",
              "nest": nest}
    return re.sub(r"\{(receptor|weight|magnitude|jump|nest)\}", lambda m: values[m.group(1)], text)


# ---------------------------------------------------------------------------- the current, term by term
def _signed(tree):
    """(sign, tree) with a leading minus taken out: -x, (-a)*b and (-a)/b give -1."""
    if isinstance(tree, ex.Neg):
        return -1, tree.operand
    if isinstance(tree, ex.BinOp) and tree.op in ("*", "/") and isinstance(tree.left, ex.Neg):
        return -1, ex.BinOp(tree.op, tree.left.operand, tree.right)
    return 1, tree


def _sum(terms):
    """The terms as one tree: a - b + c (the first with a unary minus if negative)."""
    if not terms:
        return None
    sign, tree = terms[0]
    out = tree if sign > 0 else ex.Neg(tree)
    for sign, tree in terms[1:]:
        out = ex.BinOp("+" if sign > 0 else "-", out, tree)
    return out


def _splice(tree, name, terms, zero):
    """``tree`` with the symbol ``name`` replaced by the signed ``terms``, spliced into a
    surrounding sum so that ``a + I + b`` reads ``a + t1 - t2 + b``; no terms: the symbol drops out."""
    def rec(node):
        if isinstance(node, ex.Sym):
            if node.name == name:
                return _sum(terms) if terms else zero
            return node
        if isinstance(node, ex.BinOp):
            if node.op in ("+", "-") and isinstance(node.right, ex.Sym) and node.right.name == name:
                left = rec(node.left)
                flip = -1 if node.op == "-" else 1
                for sign, term in terms:
                    left = ex.BinOp("+" if sign * flip > 0 else "-", left, term)
                return left
            if node.op == "+" and isinstance(node.left, ex.Sym) and node.left.name == name and not terms:
                return rec(node.right)
            return ex.BinOp(node.op, rec(node.left), rec(node.right))
        if isinstance(node, ex.Neg):
            return ex.Neg(rec(node.operand))
        if isinstance(node, ex.Not):
            return ex.Not(rec(node.operand))
        if isinstance(node, ex.Compare):
            return ex.Compare(node.op, rec(node.left), rec(node.right))
        if isinstance(node, ex.Call):
            return ex.Call(node.func, tuple(rec(a) for a in node.args))
        if isinstance(node, ex.BoolOp):
            return ex.BoolOp(node.op, tuple(rec(a) for a in node.operands))
        return node

    return rec(tree)


def _inline_current(model, current, terms_text, source):
    """Replace the alias ``current`` by its terms in every expression of ``model`` and drop it."""
    from .model import Alias, Assignment, Refractory, Spike

    names = frozenset(set(model.parameters) | set(model.state) | set(model.aliases) | set(model.inputs) | {"t"})
    terms = [(s * sign, tree) for s, text in terms_text
             for sign, tree in [_signed(ex.parse_expression(text, names))]]
    zero = ex.BinOp("*", ex.Num(0.0), ex.UnitLit("pA"))
    used = any(current in ex.symbols(tree) for tree in list(model.equations.values()) +
               [a.expr for n, a in model.aliases.items() if n != current] +
               ([model.spike.condition] if model.spike else []))
    if not used:
        raise SpecError(source, "[synaptic_input].current", f"{current!r} is used in no equation or expression; "
                                                            f"add it to the membrane equation, e.g. "
                                                            f"\"(... + {current} + I_e)/C_m\"")

    def splice(tree):
        return _splice(tree, current, terms, zero)

    aliases = {n: Alias(n, splice(a.expr), a.unit, a.description) for n, a in model.aliases.items() if n != current}
    equations = {n: splice(rhs) for n, rhs in model.equations.items()}
    spike = model.spike
    if spike is not None:
        spike = Spike(splice(spike.condition), tuple(Assignment(a.target, a.op, splice(a.value)) for a in spike.reset))
    return replace(model, aliases=MappingProxyType(aliases), equations=MappingProxyType(equations), spike=spike)
