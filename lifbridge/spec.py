"""Reading model files (TOML) into :class:`lifbridge.model.Model`.

Every problem is reported as one :class:`SpecError` naming the file, the field and
the problem. Expressions go through :func:`lifbridge.expr.parse_expression`, so a
model file never executes code.

File layout (see ``models/lif.toml`` for a complete example)::

    [model]        name, description, reference
    [parameters]   NAME = { value, unit, description, min, max, above }
    [state]        NAME = { unit, initial, description }
    [expressions]  NAME = { expr, unit, description }
    [equations]    STATE = "right-hand side of d STATE / dt"
    [spike]        condition = "...", reset = ["V_m = V_reset", "w += b"]
    [refractory]   period = "t_ref", clamp = ["V_m"]
    [inputs]       NAME = { kind = "spike" | "current" | "light", unit, sign, on_spike, description }
    [[constraints]] check = "V_reset < V_th", reason = "..."
    [presets.NAME] PARAM = value
    [hints]        brian2_method, nestml_solver, analytic, nest_builtin, ...

Free text (``description``, ``reference``, a constraint's ``reason``, ``[hints].notes``)
is one line of at most MAX_TEXT_CHARS characters. A line break in it (a multi-line
TOML string wraps a long text) is read as a space; every other control or format
character (``\r``, ``\x0b``, ``\x0c``, ``\x1c``-``\x1e``, ``\x85``, ``\u2028``,
``\u2029``, NUL, bidirectional overrides ...) is an error, because free text is printed
into comments of generated code.

Limits (each exceeded limit is a one-line SpecError naming the file and the field):
MAX_FILE_BYTES, MAX_PARAMETERS, MAX_STATE, MAX_EXPRESSIONS, MAX_INPUTS,
MAX_CONSTRAINTS, MAX_PRESETS, MAX_STATEMENTS, MAX_NAME_CHARS, MAX_TEXT_CHARS,
MAX_EXPRESSION_CHAIN, and, for every expression, :data:`lifbridge.expr.MAX_LENGTH`
characters and :data:`lifbridge.expr.MAX_DEPTH` levels of nesting.
"""

from __future__ import annotations

import difflib
import keyword
import math
import os
from dataclasses import replace
import re
import tomllib
from pathlib import Path
from types import MappingProxyType

from . import expr as ex
from .errors import ExpressionError, LifbridgeError, ParameterError, SpecError, UnitError
from .text import first_unsafe_char, one_line, show
from .model import (Alias, Assignment, Constraint, InputPort, Model, Parameter, Refractory,
                    Spike, StateVariable)
from .units import _LONG_NAMES as _LONG_UNIT_NAMES
from .units import AMP, DIMENSIONLESS, FARAD, SECOND, SIEMENS, VOLT, describe_dimension, parse_unit

TABLES = {"model", "parameters", "state", "expressions", "equations", "spike", "refractory",
          "inputs", "constraints", "presets", "hints"}
REQUIRED_TABLES = ("model", "parameters", "state", "equations")
RESERVED_NAMES = {"t", "dt", "weight", "i", "N", "xi", "lastspike", "not_refractory", "and", "or", "not",
                  "True", "False", "inf", "pi", "e"} | set(ex.FUNCTIONS)
HINT_KEYS = {"brian2_method", "nestml_solver", "analytic", "nest_builtin", "reference_rtol",
             "spike_variable", "reference_max_step_ms", "fi_current_range_pA", "validation_dt_ms", "notes",
             "role", "opsin_states", "runaway_bounds"}
#: [hints].role: what a model is for in validation (the biophysical reference is the model the
#: integrate-and-fire equivalents of lifbridge.judge are measured on).
ROLES = ("biophysical_reference",)
#: [hints].opsin_states: which state variables hold the opsin's fractions (light-pulse checks).
OPSIN_STATES = ("open", "desensitized")
# Names and statements are matched with fullmatch: "$" would also match before a final "\n".
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
# target, operator, then the rest taken whole (stripped afterwards): linear on any text.
_ASSIGN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)[ \t]*(=|\+=|-=|\*=)(?!=)(.*)", re.DOTALL)

MAX_FILE_BYTES = 1_000_000
MAX_PARAMETERS = 1000
MAX_STATE = 200
MAX_EXPRESSIONS = 500
MAX_INPUTS = 50
MAX_CONSTRAINTS = 200
MAX_PRESETS = 50
MAX_STATEMENTS = 50        # reset statements, on_spike statements of one input
MAX_NAME_CHARS = 64
MAX_TEXT_CHARS = 2000      # description, reference, reason, notes
MAX_EXPRESSION_CHAIN = 50  # [expressions] that use [expressions] that use ...
#: Allowed values of the [hints] that name a method, solver or closed form.
BRIAN2_METHODS = ("exact", "linear", "exponential_euler", "rk4", "rk2", "heun", "euler", "milstein")
NESTML_SOLVERS = ("rk45", "forward-Euler")          # NESTML's numeric_solver option
#: Closed-form f-I curves a model may name with [hints].analytic, and the parameters each
#: reads (besides C_m, E_L, V_th, V_reset, t_ref and a membrane time constant: tau_m, or g_L
#: with tau_m = C_m/g_L, for every closed form but "pif").
ANALYTIC_FORMS = {
    "lif": (),
    "pif": (),
    "eif": ("g_L", "Delta_T", "V_peak"),
    "adaptive_lif": ("g_a", "E_K", "tau_a", "b"),
    "optogenetic_lif": ("g_ChR", "E_ChR", "k_a", "tau_d", "tau_r"),
}
_PARAMETER_DIMENSIONS = {"C_m": FARAD, "tau_m": SECOND, "g_L": SIEMENS, "E_L": VOLT, "V_th": VOLT, "V_reset": VOLT,
                         "t_ref": SECOND, "Delta_T": VOLT, "V_peak": VOLT, "E_K": VOLT, "E_ChR": VOLT,
                         "tau_a": SECOND, "tau_d": SECOND, "tau_r": SECOND}
_TABLE_LIMITS = {"parameters": MAX_PARAMETERS, "state": MAX_STATE, "expressions": MAX_EXPRESSIONS,
                 "inputs": MAX_INPUTS, "constraints": MAX_CONSTRAINTS, "presets": MAX_PRESETS}


def models_dir() -> Path:
    """The directory of the bundled model files (``LIFBRIDGE_MODELS`` overrides it).

    The files are the package data ``lifbridge.models`` (the repository's top-level
    ``models/``, mapped into the package by setup.py): found with importlib.resources in
    a wheel or an editable install, and next to the package in a source tree that is
    not installed.
    """
    override = os.environ.get("LIFBRIDGE_MODELS")
    if override:
        return Path(override)
    try:
        from importlib.resources import files

        found = files("lifbridge.models")
    except ModuleNotFoundError:
        found = None
    if isinstance(found, Path) and found.is_dir():
        return found
    return Path(__file__).resolve().parent.parent / "models"


def bundled_models() -> list[str]:
    """Names of the bundled models, sorted: every neuron file of ``models/`` (``lif``, ``hh_traub`` ...),
    each loading as the neuron with its default synapses. :func:`lifbridge.compose.compositions`
    lists the ``<neuron>_<kinetics>`` names."""
    return sorted(p.stem for p in models_dir().glob("*.toml"))


def load(name_or_path, synapses=None, receptors=None, *, name=None) -> Model:
    """Load a model by name or a model file by path.

    * a bundled model (``"lif"``, ``"hh_traub"``): the neuron with its default synapses;
    * a composed name, NEST's pattern ``<neuron>_<psc|cond>_<delta|exp|alpha>``
      (``"lif_psc_alpha"``, ``"adex_cond_exp"``, ``"hh_traub_cond_exp"``; see
      :func:`lifbridge.compositions`);
    * the path of a model file (``.toml``).

    ``synapses``: one synapse kinetics for NEST's two receptors ``exc`` and ``inh``
    (ports ``exc_spikes``, ``inh_spikes``): ``load("adex", synapses="cond_alpha")`` is
    ``load("adex_cond_alpha")``; a conductance kinetics on a neuron with a ``<neuron>_cond``
    file uses that file (NEST's ``iaf_cond_*`` take ``g_L``): ``load("lif", synapses="cond_alpha")``
    is ``load("lif_cond_alpha")``. ``receptors``: any number of receptors instead, each
    ``(name, kinetics[, parameters[, sign]])`` - like NEST's ``*_multisynapse`` models,
    receptor numbers 1..n give ports ``rec1_spikes`` ... and names ``tau_syn_1``, ``E_1``,
    ``g_1``, ``I_syn_1``::

        lifbridge.load("lif", receptors=[(1, "psc_exp", {"tau_syn": "2 ms"}),
                                         (2, "psc_alpha", {"tau_syn": "5 ms"}),
                                         (3, "psc_exp", {"tau_syn": "10 ms"}, "inhibitory")])

    Receptor parameters are given by the kinetics' own names (``tau_syn``, ``E``) with a
    unit or as numbers in the kinetics' unit. ``name``: the model's name (default: the
    name asked for, ``<neuron>_<kinetics>`` with ``synapses``, ``<neuron>_multisynapse``
    with ``receptors``). See :mod:`lifbridge.compose` for the rules.
    """
    from . import compose

    text = str(name_or_path)
    if text.endswith(".toml") or os.sep in text or "/" in text:
        path = Path(text)
        if not _exists(path):
            raise SpecError(text, "", "no such model file")
        return load_file(path, synapses=synapses, receptors=receptors, name=name)
    path = models_dir() / f"{text}.toml"
    valid = _NAME.fullmatch(text) and len(text) <= MAX_NAME_CHARS
    if valid and _exists(path):
        sibling = models_dir() / f"{text}_cond.toml"
        if isinstance(synapses, str) and synapses.startswith("cond_") and _exists(sibling):
            # NEST's conductance-based parameterisation (lif + cond_alpha is lif_cond_alpha)
            return load_file(sibling, synapses=synapses, name=name or f"{text}_{synapses}")
        return load_file(path, synapses=synapses, receptors=receptors, name=name)
    split = compose.split_name(text) if valid else None
    if split is None:
        raise LifbridgeError(f"unknown model {show(text)}; bundled models: {', '.join(bundled_models())}, or "
                             f"<model>_<kinetics> with kinetics {', '.join(compose.kinetics_names())} (e.g. "
                             f"lif_psc_alpha; lifbridge.compositions() lists them), or the path of a .toml "
                             f"model file")
    neuron, kinetics = split
    if synapses is not None or receptors is not None:
        raise LifbridgeError(f"{text!r} names its synapses ({kinetics}) already; load {neuron!r} with "
                             f"synapses= or receptors= instead")
    return load_file(models_dir() / f"{neuron}.toml", synapses=kinetics, name=name or text)


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):       # a name too long for the file system, a NUL byte
        return False


def load_file(path, synapses=None, receptors=None, *, name=None) -> Model:
    """Read and check one model file; every problem is a :class:`SpecError`.

    A neuron file (one with ``[synaptic_input]``) is composed with its synapses
    (:func:`lifbridge.compose.compose`); ``synapses``, ``receptors`` and ``name`` are for those.
    """
    from . import compose

    path = Path(path)
    data = read_toml(path)
    shown = _display_path(path)
    if compose.is_neuron(data):
        return compose.compose(data, shown, name=name, synapses=synapses, receptors=receptors)
    if synapses is not None or receptors is not None:
        raise SpecError(shown, "", "this model file has its synapses built in (no [synaptic_input] table); "
                                   "load it without synapses= and receptors=")
    model = build_model(data, shown)
    return replace(model, name=name) if name else model


def read_toml(path) -> dict:
    """The TOML data of a model or kinetics file; every problem is a :class:`SpecError`."""
    path = Path(path)
    shown = _display_path(path)
    try:
        if path.exists() and not path.is_file():
            # a directory, or a pipe or device that could block or never end
            raise SpecError(shown, "", "cannot read file: not a regular file")
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or one_line(error)[:100]
        raise SpecError(shown, "", f"cannot read file: {reason}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise SpecError(shown, "", f"too large for a model file (more than {MAX_FILE_BYTES} bytes)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[:error.start].count(b"\n") + 1
        raise SpecError(shown, f"line {line}", f"not a UTF-8 text file (byte 0x{raw[error.start]:02x}); "
                                               f"save it with UTF-8 encoding") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        match = re.search(r"\s*\(at line (\d+), column (\d+)\)\Z", message)
        if match:
            problem = message[:match.start()]
            problem = problem[:1].lower() + problem[1:]
            raise SpecError(shown, f"line {match.group(1)}",
                            f"not valid TOML: {problem} (column {match.group(2)})") from None
        raise SpecError(shown, "", f"not valid TOML: {message}") from None
    except (RecursionError, MemoryError):
        raise SpecError(shown, "", "not valid TOML: nested too deeply") from None
    except ValueError as error:
        # tomllib converts integers with int(), which refuses more than 4300 digits
        long_number = re.search(r"\d{4301}", text)
        if long_number is None:
            raise SpecError(shown, "", f"not valid TOML: {one_line(error)[:200]}") from None
        raise SpecError(shown, f"line {text.count(chr(10), 0, long_number.start()) + 1}",
                        "not valid TOML: an integer of more than 4300 digits; "
                        "write a number with an exponent, e.g. 2.5e3") from None
    if not data:
        raise SpecError(shown, "", "the file is empty (or only comments); a model needs the tables "
                                   "[model], [parameters], [state] and [equations], see models/lif.toml")
    return data


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except (ValueError, OSError):
        return str(path)


def _show(value) -> str:
    """A TOML-ish rendering of a value for messages: "fast", true, 3.0, a table, a list (bounded length)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value if len(value) <= 50 else value[:50]
        text = one_line(text.replace("\\", "\\\\").replace('"', '\\"'))
        return '"' + text + '"' + ("…" if len(value) > 50 else "")
    if isinstance(value, int):
        if abs(value) >= 10 ** 30:
            return f"an integer of {_digits(value)} digits"
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _list(values) -> str:
    shown = ", ".join(_show(v) for v in values[:4]) + (", …" if len(values) > 4 else "")
    return f"[{shown}]"


def _digits(value: int) -> str:
    value = abs(value)
    return str(len(str(value))) if value < 10 ** 4000 else "thousands of"


def _did_you_mean(word, choices):
    if not isinstance(word, str) or len(word) > 100:
        return ""
    same = [c for c in choices if isinstance(c, str) and c.lower() == word.lower()]
    close = same or difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _number(value):
    """A finite float from a TOML number, or None (huge integers, inf, nan, non-numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


_KIND_NAMES = {"parameters": "a parameter", "state": "a state variable", "expressions": "an expression",
               "inputs": "an input", "time": "time"}


class _Builder:
    """Turns the TOML data of one file into a Model, checking as it goes."""

    def __init__(self, data, source):
        self.data = data
        self.source = source
        self.dims: dict = {"t": SECOND}
        self.units_text: dict = {}
        self.declared: dict = {"t": "time"}    # name -> table that declares it
        self._pending_spike_inputs = {}
        self._spike_statements = {}
        self._names = None                    # frozenset of self.dims, rebuilt after a declaration

    def fail(self, field, problem):
        raise SpecError(self.source, field, problem)

    def kind_of(self, name):
        return _KIND_NAMES.get(self.declared.get(name), "not declared")

    def table(self, name, required=False):
        if name not in self.data:
            if required:
                self.fail(f"[{name}]", "missing required table")
            return [] if name == "constraints" else {}
        value = self.data[name]
        if name == "constraints":
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                self.fail("[[constraints]]", "must be an array of tables: [[constraints]] check = \"...\"")
        elif not isinstance(value, dict):
            self.fail(f"[{name}]", f"must be a table, got {_show(value)}")
        limit = _TABLE_LIMITS.get(name)
        if limit is not None and len(value) > limit:
            where = "[[constraints]]" if name == "constraints" else f"[{name}]"
            self.fail(where, f"{len(value)} entries; a model file may have at most {limit} "
                             f"(the limit keeps loading fast; split the model if it really needs more)")
        return value

    def text(self, field, value, required=False):
        """Free text: a string of one line (line breaks read as spaces), no control characters."""
        if not isinstance(value, str):
            self.fail(field, f"must be a string, got {_show(value)}")
        if len(value) > MAX_TEXT_CHARS:
            self.fail(field, f"text of {len(value)} characters; at most {MAX_TEXT_CHARS}")
        if "\n" in value:      # a multi-line TOML string: its lines joined by single spaces
            folded = " ".join(line.strip() for line in value.replace("\r\n", "\n").split("\n") if line.strip())
        else:
            folded = value
        bad = first_unsafe_char(folded)
        if bad is not None:
            self.fail(field, f"contains the control character {ascii(bad)} at position {folded.index(bad) + 1}; "
                             f"free text is printed into comments of generated code, so write it on one line "
                             f"without control characters")
        if required and not folded.strip():
            self.fail(field, f"must be a non-empty string, got {_show(value)}")
        return folded

    def entry(self, table, name, value, allowed, required):
        field = f"[{table}].{name}"
        if not isinstance(value, dict):
            example = ", ".join(f"{k} = ..." for k in required)
            self.fail(field, f"must be an inline table such as {{ {example} }}, got {_show(value)}")
        for key in value:
            if key not in allowed:
                self.fail(f"{field}.{key}", f"unknown key{_did_you_mean(key, allowed)}; "
                                            f"allowed keys: {', '.join(allowed)}")
        for key in required:
            if key not in value:
                self.fail(field, f"missing required key '{key}'")
        return field

    def unit(self, field, text):
        try:
            return parse_unit(text)
        except UnitError as error:
            self.fail(field + ".unit", str(error))

    def names(self):
        if self._names is None or len(self._names) != len(self.dims):
            self._names = frozenset(self.dims)
        return self._names

    def expression(self, field, text, allowed=None, what=None):
        """Parse ``text`` with every declared name; names outside ``allowed`` are explained."""
        try:
            tree = ex.parse_expression(text, self.names())
        except ExpressionError as error:
            self.fail(field, str(error))
        if allowed is not None:
            for name in sorted(ex.symbols(tree)):
                if name not in allowed:
                    self.fail(field, f"{what} may only use {_allowed_description(allowed, self)}, "
                                     f"but {name!r} is {self.kind_of(name)}")
        return tree

    def dimension(self, field, tree):
        try:
            return ex.dimension_of(tree, self.dims, self.units_text)
        except ExpressionError as error:
            self.fail(field, str(error))

    def check_name(self, field, name, table):
        if isinstance(name, str) and len(name) > MAX_NAME_CHARS:
            self.fail(field, f"the name {show(name)} is {len(name)} characters long; at most {MAX_NAME_CHARS}")
        if isinstance(name, str) and keyword.iskeyword(name):
            self.fail(field, f"{name!r} is a Python keyword and cannot be a name; choose another")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            self.fail(field, f"{show(name)} is not a valid name (letters, digits and _, starting with a letter)")
        if name == "t":
            self.fail(field, "the name 't' is reserved: it means time in every expression; choose another name")
        if name in RESERVED_NAMES:
            self.fail(field, f"the name {name!r} is reserved (used by lifbridge or the simulators); choose another")
        if name in ex.EXPRESSION_UNITS and name not in _LONG_UNIT_NAMES:
            self.fail(field, f"the name {name!r} is a unit (as in 10*{name}); choose another name")
        if name in self.declared:
            self.fail(field, f"duplicate name {name!r}: already declared in [{self.declared[name]}]; "
                             f"names must be unique across [parameters], [state], [expressions] and [inputs]")
        self.declared[name] = table

    def declare(self, field, name, unit, table):
        self.check_name(field, name, table)
        self.dims[name] = unit.dim
        self.units_text[name] = unit.name

    def show_dimension(self, tree, dim):
        if dim == ex.BOOLEAN:
            return "a condition"
        return ex.unit_text_of(tree, self.units_text) or describe_dimension(dim)

    def expect(self, field, tree, dim, what, want_text=None):
        got = self.dimension(field, tree)
        if got != dim:
            shown = self.show_dimension(tree, got)
            if dim == ex.BOOLEAN:
                self.fail(field, f"{what} must be a comparison such as 'V_m >= V_th', but {show(ex.to_text(tree))} "
                                 f"is {'a value in ' + shown if got != DIMENSIONLESS else 'a number'}")
            self.fail(field, f"{what} must be in {want_text or describe_dimension(dim)}, "
                             f"but {show(ex.to_text(tree))} is {shown}")
        return got

    # ------------------------------------------------------------------ sections
    def build(self) -> Model:
        if not isinstance(self.data, dict):
            self.fail("", "not a model file")
        for name in self.data:
            if name not in TABLES:
                self.fail(f"[{name}]", f"unknown table{_did_you_mean(name, TABLES)}; "
                                       f"allowed tables: {', '.join(sorted(TABLES))}")
        for name in REQUIRED_TABLES:
            self.table(name, required=True)
        info = self.model_info()
        parameters = self.parameters()
        parameter_names = set(parameters)
        state_units = self.state_units()
        inputs = self.inputs()
        aliases = self.aliases()
        state = self.state_initial(state_units, parameters)
        equations = self.equations(state_units)
        spike = self.spike(state_units)
        refractory = self.refractory(state_units, parameters)
        constraints = self.constraints(parameter_names)
        presets = self.presets(parameters)
        hints = self.hints(list(state))
        model = Model(
            name=info["name"], description=info["description"], reference=info["reference"],
            parameters=MappingProxyType(parameters), state=MappingProxyType(state),
            aliases=MappingProxyType(aliases), equations=MappingProxyType(equations),
            spike=spike, refractory=refractory, inputs=MappingProxyType(inputs),
            constraints=tuple(constraints), presets=MappingProxyType(presets),
            hints=MappingProxyType(hints), source=self.source,
        )
        values_si = model.parameter_values_si()
        # ex.evaluate reads only the names a constraint uses: linear in the size of the file
        for index, constraint in enumerate(model.constraints):
            try:
                holds = bool(ex.evaluate(constraint.check, values_si))
            except LifbridgeError as error:
                self.fail(f"[[constraints]][{index}].check", str(error))
            if not holds:
                names = sorted(ex.symbols(constraint.check))
                shown = ", ".join(f"{n} = {parameters[n].value:g} {parameters[n].unit}" for n in names[:6])
                shown += ", …" if len(names) > 6 else ""
                self.fail(f"[[constraints]][{index}].check",
                          f"{show(constraint.text)} does not hold for the default parameters ({shown})"
                          + (f": {constraint.reason}" if constraint.reason else ""))
        for preset in model.presets:
            try:
                model.with_preset(preset)
            except LifbridgeError as error:
                self.fail(f"[presets.{preset}]", str(error))
        self.check_analytic(model)
        self.check_runaway_bounds(model)
        return model

    def model_info(self):
        info = self.table("model", required=True)
        allowed = ("name", "description", "reference")
        for key in info:
            if key not in allowed:
                self.fail(f"[model].{key}", f"unknown key{_did_you_mean(key, allowed)}; allowed: {', '.join(allowed)}")
        for key in allowed:
            if key not in info:
                self.fail(f"[model].{key}", "missing required field")
            if not isinstance(info[key], str) or not info[key].strip():
                self.fail(f"[model].{key}", f"must be a non-empty string, got {_show(info[key])}")
        if len(info["name"]) > MAX_NAME_CHARS or not _NAME.fullmatch(info["name"]) \
                or keyword.iskeyword(info["name"]):
            self.fail("[model].name", f"{_show(info['name'])} is not a valid model name "
                                      f"(letters, digits and _, starting with a letter, at most "
                                      f"{MAX_NAME_CHARS} characters, not a Python keyword)")
        return {"name": info["name"], "description": self.text("[model].description", info["description"], True),
                "reference": self.text("[model].reference", info["reference"], True)}

    def parameters(self):
        result = {}
        for name, value in self.table("parameters", required=True).items():
            field = self.entry("parameters", name, value, ("value", "unit", "description", "min", "max", "above"),
                               ("value", "unit"))
            unit = self.unit(field, value["unit"])
            self.declare(field, name, unit, "parameters")
            numbers = {}
            for key in ("value", "min", "max", "above"):
                if key in value:
                    v = value[key]
                    if isinstance(v, bool) or not isinstance(v, (int, float)):
                        hint = " (write the number without quotes; the unit goes in 'unit')" if isinstance(v, str) else ""
                        self.fail(f"{field}.{key}", f"must be a number (in {unit.name}), got {_show(v)}{hint}")
                    number = _number(v)
                    if number is None:
                        self.fail(f"{field}.{key}", f"must be a finite number (at most about 1.8e308), got {_show(v)}")
                    numbers[key] = number
            if "min" in numbers and "above" in numbers:
                self.fail(field, "give either 'min' (inclusive) or 'above' (exclusive), not both")
            param = Parameter(name, numbers["value"], unit, self.text(f"{field}.description", value.get("description", "")),
                              numbers.get("min", numbers.get("above")), numbers.get("max"),
                              exclusive_minimum="above" in numbers)
            try:
                param.check(param.value)
            except ParameterError as error:
                self.fail(f"{field}.value", str(error))
            result[name] = param
        return result

    def state_units(self):
        units = {}
        table = self.table("state", required=True)
        if not table:
            self.fail("[state]", "a model needs at least one state variable")
        for name, value in table.items():
            field = self.entry("state", name, value, ("unit", "initial", "description"), ("unit", "initial"))
            unit = self.unit(field, value["unit"])
            self.declare(field, name, unit, "state")
            units[name] = unit
        return units

    def inputs(self):
        result = {}
        spike_inputs = {}
        for name, value in self.table("inputs").items():
            field = self.entry("inputs", name, value, ("kind", "unit", "sign", "on_spike", "description"),
                               ("kind", "unit"))
            kind = value["kind"]
            if not isinstance(kind, str) or kind not in ("spike", "current", "light"):
                self.fail(f"{field}.kind", f"unknown input kind {_show(kind)}; use \"spike\", \"current\" or \"light\"")
            unit = self.unit(field, value["unit"])
            if kind == "current" and unit.dim != AMP:
                self.fail(f"{field}.unit", f"a current input needs a current unit such as pA, got {unit.name}")
            sign = value.get("sign", "")
            if not isinstance(sign, str):
                self.fail(f"{field}.sign", f"must be \"excitatory\" or \"inhibitory\", got {_show(sign)}")
            if kind == "spike":
                if sign not in ("excitatory", "inhibitory"):
                    self.fail(f"{field}.sign", "a spike input needs sign = \"excitatory\" or \"inhibitory\"")
                if "on_spike" not in value:
                    self.fail(f"{field}.on_spike", "a spike input needs on_spike = [\"I_syn_exc += weight\"]")
                # spike inputs are not symbols of the equations, but their names must still be unique
                self.check_name(field, name, "inputs")
                spike_inputs[name] = (field, value["on_spike"], unit)
            else:
                if "on_spike" in value or sign:
                    self.fail(field, f"'on_spike' and 'sign' are for spike inputs only, not {kind} inputs")
                self.declare(field, name, unit, "inputs")
            result[name] = InputPort(name, kind, unit, sign, (), self.text(f"{field}.description",
                                                                           value.get("description", "")))
        self._pending_spike_inputs = spike_inputs
        return result

    def aliases(self):
        table = self.table("expressions")
        units = {}
        for name, value in table.items():
            field = self.entry("expressions", name, value, ("expr", "unit", "description"), ("expr", "unit"))
            units[name] = self.unit(field, value["unit"])
            self.declare(field, name, units[name], "expressions")
        parsed = {name: self.expression(f"[expressions].{name}.expr", value["expr"]) for name, value in table.items()}
        # reject cycles before checking units, so that the message names the cycle
        self.check_expression_graph({name: sorted(d for d in ex.symbols(tree) if d in parsed)
                                     for name, tree in parsed.items()})
        result = {}
        for name, value in table.items():
            unit = units[name]
            self.expect(f"[expressions].{name}.expr", parsed[name], unit.dim, f"expression {name}",
                        f"{unit.name} (its declared unit)")
            result[name] = Alias(name, parsed[name], unit, self.text(f"[expressions].{name}.description",
                                                                     value.get("description", "")))
        return result

    def check_expression_graph(self, uses):
        """Reject a cycle of [expressions] (naming it) and chains deeper than MAX_EXPRESSION_CHAIN.

        ``uses``: expression name -> the expressions it uses. Depth-first search with an
        explicit stack, so that no chain, however long, exhausts Python's recursion.
        """
        depth = {}                      # name -> length of the longest chain starting there
        for root in uses:
            if root in depth:
                continue
            path, on_path = [root], {root}
            stack = [iter(uses[root])]
            while stack:
                dep = next(stack[-1], None)
                if dep is None:
                    name = path.pop()
                    on_path.discard(name)
                    stack.pop()
                    depth[name] = 1 + max((depth[d] for d in uses[name]), default=0)
                    if depth[name] > MAX_EXPRESSION_CHAIN:
                        self.fail(f"[expressions].{name}.expr",
                                  f"a chain of more than {MAX_EXPRESSION_CHAIN} expressions that each use the "
                                  f"next ({name} -> ...); write some of them out")
                    continue
                if dep in depth:
                    continue
                if dep in on_path:
                    cycle = path[path.index(dep):] + [dep]
                    shown = " -> ".join(cycle) if len(cycle) <= 8 else \
                        " -> ".join(cycle[:4] + ["…"] + cycle[-3:]) + f" ({len(cycle) - 1} expressions)"
                    self.fail(f"[expressions].{cycle[0]}.expr", f"circular definition: {shown}")
                path.append(dep)
                on_path.add(dep)
                stack.append(iter(uses[dep]))

    def state_initial(self, units, parameters):
        result = {}
        values_si = {n: p.value * p.unit.scale for n, p in parameters.items()}
        parameter_names = frozenset(parameters)
        for name, value in self.data["state"].items():
            field = f"[state].{name}.initial"
            initial = value["initial"]
            if isinstance(initial, bool) or not isinstance(initial, (int, float, str)):
                self.fail(field, f"must be a number (in {units[name].name}) or an expression of parameters, "
                                 f"got {_show(initial)}")
            if isinstance(initial, str):
                tree = self.expression(field, initial, parameter_names, "an initial value")
                self.expect(field, tree, units[name].dim, f"the initial value of {name}", units[name].name)
                try:
                    number = float(ex.evaluate(tree, values_si))
                except (LifbridgeError, TypeError, ValueError):
                    number = math.nan
                if not math.isfinite(number):
                    self.fail(field, f"{show(ex.to_text(tree))} is not a finite number with the default parameters")
            else:
                tree = _number(initial)
                if tree is None:
                    self.fail(field, f"must be a finite number (at most about 1.8e308), got {_show(initial)}")
            result[name] = StateVariable(name, units[name], tree, self.text(f"[state].{name}.description",
                                                                            value.get("description", "")))
        return result

    def equations(self, units):
        table = self.table("equations", required=True)
        result = {}
        for name, text in table.items():
            field = f"[equations].{name}"
            if name not in units:
                kind = self.kind_of(name)
                what = f"{name!r} is {kind}" if kind != "not declared" else f"{name!r} is not declared in [state]"
                self.fail(field, f"{what}; [equations] gives d/dt of the variables in [state] "
                                 f"({', '.join(units)}), so declare {name} in [state] or remove this line")
            tree = self.expression(field, text)
            unit = units[name]
            got = self.dimension(field, tree)
            if got != unit.dim / SECOND:
                shown = self.show_dimension(tree, got)
                hint = " (divide by a time constant)" if got == unit.dim else ""
                self.fail(field, f"d{name}/dt must have units of {unit.name} per time (e.g. {_per_ms(unit)}), "
                                 f"but {show(ex.to_text(tree))} is {shown}{hint}")
            result[name] = tree
        for name in units:
            if name not in result:
                self.fail(f"[equations].{name}", f"missing equation for state variable {name!r} "
                                                 f"(write {name} = \"0\" if it only changes at events)")
        # spike inputs can be checked now that every symbol is known
        ports = {}
        for port, (field, statements, unit) in self._pending_spike_inputs.items():
            dims = dict(self.dims, weight=unit.dim)
            ports[port] = self.statements(f"{field}.on_spike", statements, units, dims,
                                          {**self.units_text, "weight": unit.name})
        self._spike_statements = ports
        return result

    def statements(self, field, statements, units, dims=None, units_text=None):
        if isinstance(statements, str):
            statements = [statements]
        if not isinstance(statements, list) or not statements:
            self.fail(field, "must be a list of statements such as [\"V_m = V_reset\"]")
        if len(statements) > MAX_STATEMENTS:
            self.fail(field, f"{len(statements)} statements; at most {MAX_STATEMENTS}")
        result = []
        dims = dims or self.dims
        units_text = units_text or self.units_text
        for index, text in enumerate(statements):
            where = f"{field}[{index}]"
            if not isinstance(text, str):
                self.fail(where, f"must be a string such as \"V_m = V_reset\", got {_show(text)}")
            # the length limit comes before any pattern looks at the text
            if len(text) > ex.MAX_LENGTH:
                self.fail(where, f"the statement is too long ({len(text)} characters; at most {ex.MAX_LENGTH})")
            match = _ASSIGN.fullmatch(text.strip())
            if not match:
                hint = " ('==' compares; use '=' to assign)" if "==" in text else ""
                self.fail(where, f"cannot read {_show(text)}; write 'variable = expression' (or +=, -=, *=){hint}")
            target, op, value_text = match.groups()
            value_text = value_text.strip()
            if target not in units:
                kind = self.kind_of(target)
                what = "it is not declared" if kind == "not declared" else f"it is {kind}"
                self.fail(where, f"cannot assign to {target!r}: {what}; only state variables "
                                 f"({', '.join(units)}) can be changed")
            try:
                tree = ex.parse_expression(value_text, self.names() if dims is self.dims else frozenset(dims))
                got = ex.dimension_of(tree, dims, units_text)
            except ExpressionError as error:
                self.fail(where, str(error))
            want = DIMENSIONLESS if op == "*=" else units[target].dim
            if got != want:
                shown = "a condition" if got == ex.BOOLEAN else (ex.unit_text_of(tree, units_text)
                                                                  or describe_dimension(got))
                need = "a dimensionless factor" if op == "*=" else units[target].name
                self.fail(where, f"{show(text.strip())} assigns {shown} to {target}, which needs {need}")
            result.append(Assignment(target, op, tree))
        return tuple(result)

    def spike(self, units):
        table = self.table("spike")
        if not table:
            return None
        for key in table:
            if key not in ("condition", "reset"):
                self.fail(f"[spike].{key}", f"unknown key{_did_you_mean(key, ('condition', 'reset'))}; "
                                            f"allowed: condition, reset")
        if "condition" not in table:
            self.fail("[spike].condition", "missing spike condition, e.g. \"V_m >= V_th\"")
        condition = self.expression("[spike].condition", table["condition"])
        self.expect("[spike].condition", condition, ex.BOOLEAN, "the spike condition")
        reset = self.statements("[spike].reset", table["reset"], units) if "reset" in table else ()
        return Spike(condition, reset)

    def refractory(self, units, parameters):
        table = self.table("refractory")
        if not table:
            return None
        for key in table:
            if key not in ("period", "clamp"):
                self.fail(f"[refractory].{key}", f"unknown key{_did_you_mean(key, ('period', 'clamp'))}; "
                                                 f"allowed: period, clamp")
        if "period" not in table:
            self.fail("[refractory].period", "missing refractory period, e.g. \"t_ref\"")
        period = self.expression("[refractory].period", table["period"], set(parameters), "the refractory period")
        got = self.dimension("[refractory].period", period)
        if got != SECOND:
            self.fail("[refractory].period", f"the refractory period must be a time (e.g. in ms), but "
                                             f"{show(ex.to_text(period))} is {self.show_dimension(period, got)}")
        values_si = {n: p.value * p.unit.scale for n, p in parameters.items()}
        try:
            seconds = float(ex.evaluate(period, values_si))
        except (LifbridgeError, TypeError, ValueError):
            seconds = math.nan
        if not (seconds >= 0 and math.isfinite(seconds)):
            self.fail("[refractory].period", f"{show(ex.to_text(period))} must be a finite time >= 0 with the "
                                             f"default parameters, got {seconds * 1e3:g} ms")
        clamp = table.get("clamp", [])
        if not isinstance(clamp, list) or not all(isinstance(c, str) and c in units for c in clamp):
            bad = clamp if not isinstance(clamp, list) else next(c for c in clamp if not (isinstance(c, str) and c in units))
            self.fail("[refractory].clamp", f"must be a list of state variables ({', '.join(units)}), "
                                            f"but {_show(bad)} is not one")
        if not self.data.get("spike"):
            self.fail("[refractory]", "a refractory period needs a [spike] table")
        return Refractory(period, tuple(clamp))

    def constraints(self, parameter_names):
        result = []
        for index, item in enumerate(self.table("constraints")):
            field = f"[[constraints]][{index}]"
            for key in item:
                if key not in ("check", "reason"):
                    self.fail(f"{field}.{key}", f"unknown key{_did_you_mean(key, ('check', 'reason'))}; "
                                                f"allowed: check, reason")
            if "check" not in item:
                self.fail(field, "each constraint needs check = \"...\" (and an optional reason)")
            tree = self.expression(field + ".check", item["check"], parameter_names, "a constraint")
            self.expect(field + ".check", tree, ex.BOOLEAN, "a constraint")
            written = item["check"].strip() if isinstance(item["check"], str) and "#" not in item["check"] else None
            result.append(Constraint(tree, written or ex.to_text(tree),
                                     self.text(f"{field}.reason", item.get("reason", ""))))
        return result

    def presets(self, parameters):
        result = {}
        for preset, values in self.table("presets").items():
            field = f"[presets.{preset}]"
            if len(preset) > MAX_NAME_CHARS or not _NAME.fullmatch(preset):
                self.fail(field, f"{show(preset)} is not a valid preset name (letters, digits and _, starting "
                                 f"with a letter, at most {MAX_NAME_CHARS} characters)")
            if not isinstance(values, dict):
                self.fail(field, "must be a table of parameter values")
            for name, value in values.items():
                if name not in parameters:
                    self.fail(f"{field}.{name}", f"{show(name)} is not a parameter{_did_you_mean(name, parameters)}")
                if _number(value) is None:
                    self.fail(f"{field}.{name}", f"must be a finite number in {parameters[name].unit.name}, "
                                                 f"got {_show(value)}")
                try:
                    parameters[name].check(float(value))
                except ParameterError as error:
                    self.fail(f"{field}.{name}", str(error))
            result[preset] = MappingProxyType({k: float(v) for k, v in values.items()})
        return result

    def hints(self, state_names):
        """[hints], each key checked for its type and allowed values."""
        table = self.table("hints")
        for key in table:
            if key not in HINT_KEYS:
                self.fail(f"[hints].{key}", f"unknown hint{_did_you_mean(key, HINT_KEYS)}; "
                                            f"known hints: {', '.join(sorted(HINT_KEYS))}")
        result = {}
        for key, value in table.items():
            field = f"[hints].{key}"
            if key == "notes":
                result[key] = self.text(field, value)
            elif key in ("brian2_method", "nestml_solver", "analytic"):
                allowed = {"brian2_method": BRIAN2_METHODS, "nestml_solver": NESTML_SOLVERS,
                           "analytic": tuple(ANALYTIC_FORMS)}[key]
                if not isinstance(value, str) or value not in allowed:
                    self.fail(field, f"{_show(value)} is not allowed{_did_you_mean(value, allowed)}; "
                                     f"use one of: {', '.join(allowed)}")
                result[key] = value
            elif key == "nest_builtin":
                if not isinstance(value, str) or len(value) > MAX_NAME_CHARS \
                        or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
                    self.fail(field, f"must be the name of a NEST model such as \"iaf_psc_exp\", got {_show(value)}")
                result[key] = value
            elif key == "spike_variable":
                if not isinstance(value, str) or value not in state_names:
                    self.fail(field, f"{_show(value)} is not a state variable{_did_you_mean(value, state_names)}; "
                                     f"use one of: {', '.join(state_names)}")
                result[key] = value
            elif key == "fi_current_range_pA":
                numbers = [_number(v) for v in value] if isinstance(value, list) and len(value) == 2 else None
                if numbers is None or None in numbers or not numbers[0] < numbers[1]:
                    self.fail(field, f"must be two finite numbers [lo, hi] in pA with lo < hi, such as "
                                     f"[0.0, 2000.0], got {_show(value) if not isinstance(value, list) else _list(value)}")
                result[key] = numbers
            elif key in ("validation_dt_ms", "reference_max_step_ms"):
                number = _number(value)
                if number is None or not number > 0:
                    self.fail(field, f"must be a positive finite number (in ms), got {_show(value)}")
                result[key] = number
            elif key == "role":
                if not isinstance(value, str) or value not in ROLES:
                    self.fail(field, f"{_show(value)} is not a role{_did_you_mean(value, ROLES)}; "
                                     f"use one of: {', '.join(ROLES)}")
                result[key] = value
            elif key in ("opsin_states", "runaway_bounds"):
                allowed = OPSIN_STATES if key == "opsin_states" else state_names
                example = ('{ open = "O", desensitized = "D" }' if key == "opsin_states"
                           else '{ V_m = "800 mV" }')
                if not isinstance(value, dict) or not value:
                    self.fail(field, f"must be a table such as {example}, got {_show(value)}")
                for name, item in value.items():
                    if name not in allowed:
                        self.fail(f"{field}.{name}", f"unknown key{_did_you_mean(name, allowed)}; "
                                                     f"use one of: {', '.join(allowed)}")
                    if key == "opsin_states" and (not isinstance(item, str) or item not in state_names):
                        self.fail(f"{field}.{name}", f"{_show(item)} is not a state variable"
                                                     f"{_did_you_mean(item, state_names)}; use one of: "
                                                     f"{', '.join(state_names)}")
                    if key == "runaway_bounds" and not (isinstance(item, str) or _number(item) is not None):
                        self.fail(f"{field}.{name}", f"must be a number in {name}'s unit or a string with a "
                                                     f"unit, such as \"800 mV\", got {_show(item)}")
                result[key] = dict(value)  # plain (picklable for worker processes)
            elif key == "reference_rtol":
                number = _number(value)
                if number is None or not 0 < number < 1:
                    self.fail(field, f"must be a relative tolerance between 0 and 1 (exclusive), "
                                     f"such as 1e-8, got {_show(value)}")
                result[key] = number
        return result

    def check_runaway_bounds(self, model):
        """Each [hints].runaway_bounds value is a positive bound in its state variable's dimension."""
        from .model import to_unit

        for name, value in model.hints.get("runaway_bounds", {}).items():
            field = f"[hints].runaway_bounds.{name}"
            unit = model.state[name].unit
            try:
                number = to_unit(value, unit, field)
            except LifbridgeError as error:
                self.fail(field, f"{error}; give a number in {unit.name} or a string such as \"800 {unit.name}\"")
            if not number > 0:
                self.fail(field, f"must be a positive bound on |{name}|, got {_show(value)}")

    def check_analytic(self, model):
        """The closed form named by [hints].analytic applies to ``model``.

        It must have the parameters the closed form reads (with the right units), a
        spike condition, a current input, and, with the other state variables at their
        initial values and no input but that current, the same membrane equation as the
        closed form. A closed form that does not fit would judge a correct simulator wrong.
        """
        kind = model.hints.get("analytic")
        if kind is None:
            return
        field = "[hints].analytic"
        p = model.parameters
        needed = ["C_m", "V_th", "V_reset", "t_ref"] + ([] if kind == "pif" else ["E_L"])
        needed += list(ANALYTIC_FORMS[kind])
        missing = [n for n in needed if n not in p]
        if kind != "pif" and "tau_m" not in p and "g_L" not in p:
            missing.append("tau_m (or g_L)")
        if missing:
            self.fail(field, f"the closed form {kind!r} reads the parameters {', '.join(missing)}, which the model "
                             f"does not have; remove the hint or name a closed form that fits")
        for name in needed + ["tau_m", "g_L"]:
            if name in p and name in _PARAMETER_DIMENSIONS and p[name].unit.dim != _PARAMETER_DIMENSIONS[name]:
                self.fail(field, f"the closed form {kind!r} reads {name} as "
                                 f"{describe_dimension(_PARAMETER_DIMENSIONS[name])}, but the model's {name} is in "
                                 f"{p[name].unit.name}")
        current = model.input_current
        if model.spike is None or current is None:
            self.fail(field, f"the closed form {kind!r} is an f-I curve: the model needs a [spike] table and a "
                             f"current input")
        membrane = model.hints.get("spike_variable", "V_m")
        if membrane not in model.state:
            self.fail(field, f"the closed form {kind!r} needs the membrane potential: a state variable V_m "
                             f"(or [hints].spike_variable)")
        si = model.parameter_values_si()
        try:
            self._compare_membrane_equation(model, kind, si, current, membrane)
        except SpecError:
            raise
        except (LifbridgeError, ArithmeticError, ValueError) as error:
            self.fail(field, f"cannot check the closed form {kind!r} against the model: {error}")

    def _compare_membrane_equation(self, model, kind, si, current, membrane):
        field = "[hints].analytic"
        values = dict(si)
        if "I_e" in values:
            values["I_e"] = 0.0
        values.update(model.initial_values_si(values))
        values.update({name: 0.0 for name in model.continuous_inputs})
        values["t"] = 0.0
        C = si["C_m"]
        tau = si["tau_m"] if "tau_m" in si else (C / si["g_L"] if "g_L" in si and si["g_L"] else math.inf)
        E_L = si.get("E_L", si["V_reset"])
        volts = [E_L, 0.5 * (E_L + si["V_th"]), si["V_reset"], si["V_th"] - 1e-3]
        currents = [0.0, 1e-10]

        def closed(V, I):
            if kind == "pif":
                return I / C
            leak = -(V - E_L) / tau + I / C
            if kind == "eif":
                return leak + si["g_L"] * si["Delta_T"] * math.exp((V - si["V_th"]) / si["Delta_T"]) / C
            return leak

        worst = None
        for I in currents:
            for V in volts:
                ns = dict(values, **{membrane: V, current: I})
                for alias in model.aliases_in_order():
                    ns[alias] = ex.evaluate(model.aliases[alias].expr, ns)
                got = float(ex.evaluate(model.equations[membrane], ns))
                want = closed(V, I)
                scale = max(abs(want), abs(I / C), abs(si["V_th"] - E_L) / (tau if math.isfinite(tau) else 1.0), 1e-12)
                if not (abs(got - want) <= 1e-6 * scale) and (worst is None or abs(got - want) > worst[0]):
                    worst = (abs(got - want), V, I, got, want)
        if worst:
            _, V, I, got, want = worst
            self.fail(field, f"the closed form {kind!r} does not describe this model: at {membrane} = {V * 1e3:g} mV "
                             f"and {current} = {I * 1e12:g} pA (other variables at their initial values) it gives "
                             f"d{membrane}/dt = {want:.4g} V/s, the model's equation {got:.4g} V/s; remove the hint "
                             f"or name a closed form that fits")


def _per_ms(unit):
    return f"{unit.name}/ms" if all(c.isalnum() or c == "_" for c in unit.name) else f"({unit.name})/ms"


def _allowed_description(allowed, builder):
    kinds = {builder.declared.get(n) for n in allowed}
    if kinds <= {"parameters"}:
        return "parameters and numbers with units"
    return "the names " + ", ".join(sorted(allowed))


def build_model(data, source="<model>") -> Model:
    """The model of the TOML data of a model file; a neuron file (with ``[synaptic_input]``)
    is composed with its default synapses (:func:`lifbridge.compose.compose`)."""
    from . import compose

    if compose.is_neuron(data):
        return compose.compose(data, source)
    builder = _Builder(data, source)
    model = builder.build()
    ports = {}
    for name, port in model.inputs.items():
        if port.kind == "spike":
            ports[name] = InputPort(port.name, port.kind, port.unit, port.sign,
                                    builder._spike_statements[name], port.description)
        else:
            ports[name] = port
    return replace(model, inputs=MappingProxyType(ports))
