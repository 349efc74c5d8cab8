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
"""

from __future__ import annotations

import keyword
from dataclasses import replace
import os
import re
import tomllib
from pathlib import Path
from types import MappingProxyType

from . import expr as ex
from .errors import ExpressionError, LifbridgeError, ParameterError, SpecError, UnitError
from .model import (Alias, Assignment, Constraint, InputPort, Model, Parameter, Refractory,
                    Spike, StateVariable)
from .units import AMP, DIMENSIONLESS, SECOND, Unit, describe_dimension, parse_unit

TABLES = {"model", "parameters", "state", "expressions", "equations", "spike", "refractory",
          "inputs", "constraints", "presets", "hints"}
REQUIRED_TABLES = ("model", "parameters", "state", "equations")
RESERVED_NAMES = {"t", "dt", "weight", "i", "N", "xi", "lastspike", "not_refractory", "and", "or", "not",
                  "True", "False", "inf", "pi", "e"} | set(ex.FUNCTIONS)
HINT_KEYS = {"brian2_method", "nestml_solver", "analytic", "nest_builtin", "reference_rtol",
             "spike_variable", "reference_max_step_ms", "fi_current_range_pA", "notes"}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_ASSIGN = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=|\+=|-=|\*=)\s*(.+?)\s*$")


def models_dir() -> Path:
    """The directory of the bundled model files (``LIFBRIDGE_MODELS`` overrides it)."""
    override = os.environ.get("LIFBRIDGE_MODELS")
    if override:
        return Path(override)
    return Path(__file__).resolve().parent.parent / "models"


def bundled_models() -> list[str]:
    """Names of the bundled models, sorted."""
    return sorted(p.stem for p in models_dir().glob("*.toml"))


def load(name_or_path) -> Model:
    """Load a bundled model by name (``"lif"``) or a model file by path."""
    text = str(name_or_path)
    if text.endswith(".toml") or os.sep in text or "/" in text:
        path = Path(text)
        if not path.exists():
            raise SpecError(text, "", "no such model file")
    else:
        path = models_dir() / f"{text}.toml"
        if not path.exists():
            raise LifbridgeError(f"unknown model {text!r}; bundled models: {', '.join(bundled_models())} "
                                 f"(or give the path of a .toml model file)")
    return load_file(path)


def load_file(path) -> Model:
    path = Path(path)
    shown = _display_path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise SpecError(shown, "", f"cannot read file: {error.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise SpecError(shown, "", "not a UTF-8 text file") from None
    except tomllib.TOMLDecodeError as error:
        raise SpecError(shown, "", f"not valid TOML: {error}") from None
    return build_model(data, shown)


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class _Builder:
    """Turns the TOML data of one file into a Model, checking as it goes."""

    def __init__(self, data, source):
        self.data = data
        self.source = source
        self.dims: dict = {"t": SECOND}
        self.units_text: dict = {}

    def fail(self, field, problem):
        raise SpecError(self.source, field, problem)

    def table(self, name, required=False):
        if name not in self.data:
            if required:
                self.fail(f"[{name}]", "missing required table")
            return {}
        value = self.data[name]
        if name == "constraints":
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                self.fail("[[constraints]]", "must be an array of tables: [[constraints]] check = \"...\"")
            return value
        if not isinstance(value, dict):
            self.fail(f"[{name}]", f"must be a table, got {type(value).__name__}")
        return value

    def entry(self, table, name, value, allowed, required):
        field = f"[{table}].{name}"
        if not isinstance(value, dict):
            self.fail(field, f"must be an inline table such as {{ {', '.join(f'{k} = ...' for k in required)} }}")
        unknown = set(value) - set(allowed)
        if unknown:
            self.fail(field, f"unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(allowed)}")
        for key in required:
            if key not in value:
                self.fail(field, f"missing required key '{key}'")
        return field

    def unit(self, field, text):
        try:
            return parse_unit(text)
        except UnitError as error:
            self.fail(field + ".unit", str(error))

    def expression(self, field, text, names=None):
        try:
            return ex.parse_expression(text, self.dims.keys() if names is None else names)
        except ExpressionError as error:
            self.fail(field, str(error))

    def dimension(self, field, tree):
        try:
            return ex.dimension_of(tree, self.dims, self.units_text)
        except ExpressionError as error:
            self.fail(field, str(error))

    def declare(self, field, name, unit):
        if not isinstance(name, str) or not _NAME.match(name) or keyword.iskeyword(name):
            self.fail(field, f"{name!r} is not a valid name (letters, digits and _, starting with a letter)")
        if name in RESERVED_NAMES:
            self.fail(field, f"the name {name!r} is reserved; choose another")
        if name in self.dims:
            self.fail(field, f"duplicate name {name!r}: it is already declared")
        self.dims[name] = unit.dim
        self.units_text[name] = unit.name

    def expect(self, field, tree, dim, what):
        got = self.dimension(field, tree)
        if got != dim:
            shown_got = "a condition" if got == ex.BOOLEAN else describe_dimension(got)
            shown_want = "a condition" if dim == ex.BOOLEAN else describe_dimension(dim)
            self.fail(field, f"{what} must be {shown_want}, but '{ex.to_text(tree)}' is {shown_got}")

    # ------------------------------------------------------------------ sections
    def build(self) -> Model:
        if not isinstance(self.data, dict):
            self.fail("", "not a model file")
        unknown = set(self.data) - TABLES
        if unknown:
            self.fail(f"[{sorted(unknown)[0]}]", f"unknown table; allowed tables: {', '.join(sorted(TABLES))}")
        for name in REQUIRED_TABLES:
            self.table(name, required=True)
        info = self.model_info()
        parameters = self.parameters()
        parameter_names = set(parameters)
        state_units = self.state_units()
        inputs = self.inputs()
        aliases = self.aliases()
        state = self.state_initial(state_units, parameter_names)
        equations = self.equations(state_units)
        spike = self.spike(state_units)
        refractory = self.refractory(state_units, parameter_names)
        constraints = self.constraints(parameter_names)
        presets = self.presets(parameters)
        hints = self.hints()
        model = Model(
            name=info["name"], description=info["description"], reference=info["reference"],
            parameters=MappingProxyType(parameters), state=MappingProxyType(state),
            aliases=MappingProxyType(aliases), equations=MappingProxyType(equations),
            spike=spike, refractory=refractory, inputs=MappingProxyType(inputs),
            constraints=tuple(constraints), presets=MappingProxyType(presets),
            hints=MappingProxyType(hints), source=self.source,
        )
        try:
            model.check_constraints()
        except ParameterError as error:
            self.fail("[[constraints]]", f"the default parameters violate a constraint: {error}")
        return model

    def model_info(self):
        info = self.table("model", required=True)
        allowed = ("name", "description", "reference")
        unknown = set(info) - set(allowed)
        if unknown:
            self.fail(f"[model].{sorted(unknown)[0]}", f"unknown key; allowed: {', '.join(allowed)}")
        for key in allowed:
            if key not in info:
                self.fail(f"[model].{key}", "missing required field")
            if not isinstance(info[key], str) or not info[key].strip():
                self.fail(f"[model].{key}", "must be a non-empty string")
        if not _NAME.match(info["name"]):
            self.fail("[model].name", f"{info['name']!r} is not a valid model name (letters, digits, _)")
        return info

    def parameters(self):
        result = {}
        for name, value in self.table("parameters", required=True).items():
            field = self.entry("parameters", name, value, ("value", "unit", "description", "min", "max", "above"),
                               ("value", "unit"))
            unit = self.unit(field, value["unit"])
            self.declare(field, name, unit)
            numbers = {}
            for key in ("value", "min", "max", "above"):
                if key in value:
                    v = value[key]
                    if isinstance(v, bool) or not isinstance(v, (int, float)):
                        self.fail(f"{field}.{key}", f"must be a number (in {unit.name}), got {v!r}")
                    if v != v:
                        self.fail(f"{field}.{key}", "must be a number, got nan")
                    numbers[key] = float(v)
            if "min" in numbers and "above" in numbers:
                self.fail(field, "give either 'min' (inclusive) or 'above' (exclusive), not both")
            param = Parameter(name, numbers["value"], unit, str(value.get("description", "")),
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
            self.declare(field, name, unit)
            units[name] = unit
        return units

    def inputs(self):
        result = {}
        spike_inputs = {}
        for name, value in self.table("inputs").items():
            field = self.entry("inputs", name, value, ("kind", "unit", "sign", "on_spike", "description"),
                               ("kind", "unit"))
            kind = value["kind"]
            if kind not in ("spike", "current", "light"):
                self.fail(f"{field}.kind", f"unknown input kind {kind!r}; use 'spike', 'current' or 'light'")
            unit = self.unit(field, value["unit"])
            if kind == "current" and unit.dim != AMP:
                self.fail(f"{field}.unit", f"a current input needs a current unit such as pA, got {unit.name}")
            sign = value.get("sign", "")
            if kind == "spike":
                if sign not in ("excitatory", "inhibitory"):
                    self.fail(f"{field}.sign", "a spike input needs sign = \"excitatory\" or \"inhibitory\"")
                if "on_spike" not in value:
                    self.fail(f"{field}.on_spike", "a spike input needs on_spike = [\"I_syn_exc += weight\"]")
                spike_inputs[name] = (field, value["on_spike"], unit)
            else:
                if "on_spike" in value or sign:
                    self.fail(field, f"'on_spike' and 'sign' are for spike inputs only, not {kind} inputs")
                self.declare(field, name, unit)
            result[name] = InputPort(name, kind, unit, sign, (), str(value.get("description", "")))
        self._pending_spike_inputs = spike_inputs
        return result

    def aliases(self):
        table = self.table("expressions")
        for name, value in table.items():
            field = self.entry("expressions", name, value, ("expr", "unit", "description"), ("expr", "unit"))
            unit = self.unit(field, value["unit"])
            self.declare(field, name, unit)
        names = set(self.dims)
        parsed = {name: self.expression(f"[expressions].{name}", value["expr"], names) for name, value in table.items()}
        # check in dependency order, rejecting cycles
        order, state = [], {}

        def visit(name, chain):
            if state.get(name) == "done":
                return
            if state.get(name) == "visiting":
                self.fail(f"[expressions].{name}", f"circular definition: {' -> '.join(chain + [name])}")
            state[name] = "visiting"
            for dep in ex.symbols(parsed[name]):
                if dep in parsed:
                    visit(dep, chain + [name])
            state[name] = "done"
            order.append(name)

        for name in parsed:
            visit(name, [])
        result = {}
        for name in parsed:
            value = table[name]
            unit = parse_unit(value["unit"])
            self.expect(f"[expressions].{name}", parsed[name], unit.dim, f"expression {name} (declared {unit.name})")
            result[name] = Alias(name, parsed[name], unit, str(value.get("description", "")))
        return result

    def state_initial(self, units, parameter_names):
        result = {}
        for name, value in self.data["state"].items():
            field = f"[state].{name}.initial"
            initial = value["initial"]
            if isinstance(initial, bool) or not isinstance(initial, (int, float, str)):
                self.fail(field, f"must be a number (in {units[name].name}) or an expression of parameters, got {initial!r}")
            if isinstance(initial, str):
                tree = self.expression(field, initial, parameter_names)
                self.expect(field, tree, units[name].dim, f"the initial value of {name}")
            else:
                tree = float(initial)
            result[name] = StateVariable(name, units[name], tree, str(value.get("description", "")))
        return result

    def equations(self, units):
        table = self.table("equations", required=True)
        result = {}
        for name, text in table.items():
            field = f"[equations].{name}"
            if name not in units:
                self.fail(field, f"{name!r} is not a state variable; equations give d(state)/dt for names in [state]")
            tree = self.expression(field, text)
            self.expect(field, tree, units[name].dim / SECOND, f"d{name}/dt ({units[name].name} per time)")
            result[name] = tree
        for name in units:
            if name not in result:
                self.fail(f"[equations].{name}", f"missing equation for state variable {name!r} (write \"0\" if it only changes at events)")
        # spike inputs can be checked now that every symbol is known
        ports = {}
        for port, (field, statements, unit) in self._pending_spike_inputs.items():
            dims = dict(self.dims, weight=unit.dim)
            ports[port] = self.statements(f"{field}.on_spike", statements, units, dims)
        self._spike_statements = ports
        return result

    def statements(self, field, statements, units, dims=None):
        if isinstance(statements, str):
            statements = [statements]
        if not isinstance(statements, list) or not statements:
            self.fail(field, "must be a list of statements such as [\"V_m = V_reset\"]")
        result = []
        dims = dims or self.dims
        for index, text in enumerate(statements):
            where = f"{field}[{index}]"
            if not isinstance(text, str):
                self.fail(where, f"must be a string, got {text!r}")
            match = _ASSIGN.match(text)
            if not match:
                self.fail(where, f"cannot read {text!r}; write 'variable = expression' (or +=, -=, *=)")
            target, op, value_text = match.groups()
            if target not in units:
                self.fail(where, f"cannot assign to {target!r}: it is not a state variable")
            try:
                tree = ex.parse_expression(value_text, dims.keys())
                got = ex.dimension_of(tree, dims, self.units_text)
            except ExpressionError as error:
                self.fail(where, str(error))
            want = DIMENSIONLESS if op == "*=" else units[target].dim
            if got != want:
                self.fail(where, f"'{text}' assigns {describe_dimension(got) if got != ex.BOOLEAN else 'a condition'} "
                                 f"to {target} ({units[target].name})")
            result.append(Assignment(target, op, tree))
        return tuple(result)

    def spike(self, units):
        table = self.table("spike")
        if not table:
            return None
        unknown = set(table) - {"condition", "reset"}
        if unknown:
            self.fail(f"[spike].{sorted(unknown)[0]}", "unknown key; allowed: condition, reset")
        if "condition" not in table:
            self.fail("[spike].condition", "missing spike condition, e.g. \"V_m >= V_th\"")
        condition = self.expression("[spike].condition", table["condition"])
        self.expect("[spike].condition", condition, ex.BOOLEAN, "the spike condition")
        reset = self.statements("[spike].reset", table["reset"], units) if "reset" in table else ()
        return Spike(condition, reset)

    def refractory(self, units, parameter_names):
        table = self.table("refractory")
        if not table:
            return None
        unknown = set(table) - {"period", "clamp"}
        if unknown:
            self.fail(f"[refractory].{sorted(unknown)[0]}", "unknown key; allowed: period, clamp")
        if "period" not in table:
            self.fail("[refractory].period", "missing refractory period, e.g. \"t_ref\"")
        period = self.expression("[refractory].period", table["period"], parameter_names)
        self.expect("[refractory].period", period, SECOND, "the refractory period")
        clamp = table.get("clamp", [])
        if not isinstance(clamp, list) or any(c not in units for c in clamp):
            self.fail("[refractory].clamp", f"must be a list of state variables, got {clamp!r}")
        if self.data.get("spike") is None:
            self.fail("[refractory]", "a refractory period needs a [spike] table")
        return Refractory(period, tuple(clamp))

    def constraints(self, parameter_names):
        result = []
        for index, item in enumerate(self.table("constraints")):
            field = f"[[constraints]][{index}]"
            unknown = set(item) - {"check", "reason"}
            if unknown or "check" not in item:
                self.fail(field, "each constraint needs check = \"...\" and an optional reason")
            tree = self.expression(field + ".check", item["check"], parameter_names)
            self.expect(field + ".check", tree, ex.BOOLEAN, "a constraint")
            result.append(Constraint(tree, item["check"], str(item.get("reason", ""))))
        return result

    def presets(self, parameters):
        result = {}
        for preset, values in self.table("presets").items():
            field = f"[presets.{preset}]"
            if not isinstance(values, dict):
                self.fail(field, "must be a table of parameter values")
            for name, value in values.items():
                if name not in parameters:
                    self.fail(f"{field}.{name}", f"{name!r} is not a parameter")
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    self.fail(f"{field}.{name}", f"must be a number in {parameters[name].unit.name}, got {value!r}")
                try:
                    parameters[name].check(float(value))
                except ParameterError as error:
                    self.fail(f"{field}.{name}", str(error))
            result[preset] = MappingProxyType({k: float(v) for k, v in values.items()})
        return result

    def hints(self):
        table = self.table("hints")
        unknown = set(table) - HINT_KEYS
        if unknown:
            self.fail(f"[hints].{sorted(unknown)[0]}", f"unknown hint; known hints: {', '.join(sorted(HINT_KEYS))}")
        return dict(table)


def build_model(data, source="<model>") -> Model:
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
