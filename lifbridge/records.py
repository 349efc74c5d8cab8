"""The records every backend, the judge and the report exchange, and the one JSON writer.

Runners and checks produce records; the report reads nothing else. Records travel as
strict JSON (``report.json``), so results made elsewhere (another machine, another
environment, neuromorphic hardware) build the same report with ``lifbridge report``.

Record types (each a dataclass; read access by field name, ``record["check"]``, works too):

* :class:`RunRecord`: what one backend (``kind = "backend"``) or the reference
  integrator (``kind = "reference"``) produced for one model: protocols with their
  neurons, stimulus description and measured rates, spike times per neuron (ms),
  recorded traces (every ``TRACE_STRIDE``-th sample), software versions, wall time,
  and ``diverged`` (:meth:`lifbridge.divergence.Divergence.as_record`) or None.
* :class:`CheckRecord`: one comparison, built by :func:`check_record` only. ``status``
  is ``"pass"``, ``"fail"``, ``"known_gap"`` (reported with its numbers and reason, does
  not fail the run) or ``"diverged"`` (never judged, never passes).
* :class:`KnownGap`: a (model, backend, protocol) combination a backend cannot do well,
  with its reason.
* :class:`Section`: an extra part of the report (the Siegert comparison, the
  Hodgkin-Huxley-derived equivalents): paragraphs, numbers with units, tables, and
  figures given as panels of data series, which the report draws.
* :class:`Report`: config, versions, runs, checks, extras (sections), tolerances and
  known gaps, with ``schema = SCHEMA_ID``. :data:`SCHEMA` is its JSON Schema document.

JSON: :func:`dumps` is the one writer of the package. It is strict (no NaN or Infinity
tokens): a non-finite number is written as null, numpy scalars and arrays as numbers
and lists. :func:`load_report` checks a file against :data:`SCHEMA` and names the file
and the field of the first problem in a one-line :class:`RecordError`.

Nothing here imports a simulator.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from .errors import LifbridgeError

SCHEMA_ID = "lifbridge-report/1"
STATUSES = ("pass", "fail", "known_gap", "diverged")
RUN_KINDS = ("backend", "reference")


class RecordError(LifbridgeError):
    """A records file that is not valid: ``FILE: FIELD: problem; fix``."""


# ---------------------------------------------------------------------------- the JSON writer
def plain(obj):
    """``obj`` as plain JSON values: numpy scalars and arrays as numbers and lists, tuples as
    lists, records as dicts, every non-finite float as None."""
    if isinstance(obj, _Record):
        return obj.to_json()
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return plain(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def dumps(obj, **options) -> str:
    """Strict JSON text of ``obj`` (see :func:`plain`); ``options`` go to :func:`json.dumps`."""
    return json.dumps(plain(obj), allow_nan=False, **options)


def write_json(path, obj, **options) -> Path:
    """Write ``dumps(obj)`` to ``path`` (through a temporary file, so a reader never sees half)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(dumps(obj, **options) + "\n")
    tmp.replace(path)
    return path


def number(x):
    """A finite float, or None (None, nan and inf)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


# ---------------------------------------------------------------------------- record types
class _Record:
    """Read access by field name, for code that treats records as mappings."""

    _nested: dict = {}  # field name -> record class of its items (lists) or value

    def __getitem__(self, key):
        if key in self._names():
            return getattr(self, key)
        raise KeyError(key)

    def get(self, key, default=None):
        return getattr(self, key) if key in self._names() else default

    def __contains__(self, key):
        return key in self._names()

    def keys(self):
        return list(self._names())

    @classmethod
    def _names(cls):
        return [f.name for f in fields(cls)]

    def to_json(self) -> dict:
        return {f.name: plain(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_json(cls, data: dict):
        """The record of ``data`` (already checked against :data:`SCHEMA`)."""
        kwargs = {}
        for name in cls._names():
            if name not in data:
                continue
            value = data[name]
            nested = cls._nested.get(name)
            if nested is not None and value is not None:
                value = ([nested.from_json(v) for v in value] if isinstance(value, list)
                         else nested.from_json(value))
            kwargs[name] = value
        return cls(**kwargs)


@dataclass
class RunRecord(_Record):
    """One run of one model's protocol batch, by a backend or by the reference integrator.

    ``protocols``: name -> {"neurons": [...], "info": {...}} plus what was measured on
    it (the f-I protocol: ``steady_rate_hz``, ``first_isi_rate_hz`` per current, and on
    the reference ``closed_form_rate_hz`` where a closed form exists).
    ``traces``: variable -> {"unit", "t_ms", "neurons", "values" (one row per neuron)}.
    """

    model: str
    backend: str
    kind: str
    dt_ms: float
    duration_ms: float
    protocols: dict
    spike_times_ms: list
    traces: dict = field(default_factory=dict)
    bias_pA: list = field(default_factory=list)
    versions: dict = field(default_factory=dict)
    wall_time_s: float | None = None
    diverged: dict | None = None


@dataclass
class CheckRecord(_Record):
    """One comparison of a run with the judge. Build it with :func:`check_record`."""

    model: str
    backend: str
    check: str
    protocol: str
    value: float | None
    tolerance: float | None
    unit: str
    status: str
    passed: bool
    within_tolerance: bool
    reason: str
    known_gap: str | None = None
    details: dict = field(default_factory=dict)
    diverged: dict | None = None

    @property
    def key(self):
        return self.model, self.backend, self.check


def check_record(model, backend, check, protocol, value, tolerance, unit, within, reason, *, known_gap=None,
                 diverged=None, details=None) -> CheckRecord:
    """The one constructor of check records.

    ``within``: whether ``value`` is within ``tolerance``. ``known_gap``: the reason of a
    known gap covering this check (then it is reported with its numbers and passes).
    ``diverged``: the divergence record of a run that was not judged (then it fails).
    A non-finite value or tolerance is kept as text in ``details`` (``value_text``,
    ``tolerance_text``), the number itself becomes None.
    """
    details = plain(dict(details or {}))
    for name, x in (("value", value), ("tolerance", tolerance)):
        if x is not None and not math.isfinite(float(x)):
            details[f"{name}_text"] = str(float(x))
    if diverged is not None:
        status, passed = "diverged", False
    elif known_gap:
        status, passed = "known_gap", True
    else:
        status, passed = ("pass" if within else "fail"), bool(within)
    return CheckRecord(model=str(model), backend=str(backend), check=str(check), protocol=str(protocol),
                       value=number(value), tolerance=number(tolerance), unit=str(unit or ""), status=status,
                       passed=passed, within_tolerance=bool(within) and diverged is None, reason=str(reason),
                       known_gap=str(known_gap) if known_gap else None, details=details,
                       diverged=plain(diverged))


def failure_check(model, backend, check, error, traceback_text="") -> CheckRecord:
    """A run or a judge that raised: a failed check with the error as its reason."""
    return check_record(model, backend, check, check, None, None, "", False, f"{type(error).__name__}: {error}",
                        details={"traceback": traceback_text} if traceback_text else None)


def gap_check(model, backend, reason) -> CheckRecord:
    """A (model, backend) pair a known gap excludes entirely (listed with its reason, never silently skipped)."""
    return check_record(model, backend, "known_gap", "*", None, None, "", True, reason, known_gap=reason)


def diverged_check(model, backend, check, divergence, what="run") -> CheckRecord:
    """A run that diverged (``divergence``: :class:`lifbridge.divergence.Divergence`): never judged, never passes."""
    record = divergence.as_record()
    return check_record(model, backend, check, check, None, None, "", False,
                        f"the {what} {divergence.describe()} ({len(record['neurons'])} neuron(s)); its spikes are "
                        f"not data, so it is not compared with anything", diverged=record)


@dataclass
class KnownGap(_Record):
    """A combination a backend cannot do well, with its reason (``"*"`` matches anything)."""

    model: str
    backend: str
    protocol: str
    reason: str


@dataclass
class Series(_Record):
    """One data series of a panel.

    ``kind``: ``"line"`` (x, y), ``"points"`` (x, y, markers only), ``"errorbar"`` (x, y,
    yerr), ``"raster"`` (x = spike times, drawn as ticks at height ``y[0]``),
    ``"hline"`` / ``"vline"`` (a reference line at ``y[0]`` / ``x[0]``), ``"span"``
    (x = [start, end] shaded). ``style``: matplotlib keywords (color, ls, lw, marker, ms,
    mfc, alpha) as plain values.
    """

    kind: str
    x: list = field(default_factory=list)
    y: list = field(default_factory=list)
    yerr: list | None = None
    label: str | None = None
    style: dict = field(default_factory=dict)


@dataclass
class Panel(_Record):
    """One set of axes: labels with units, optional limits, scales and tick labels, and its series."""

    title: str
    x_label: str
    y_label: str
    series: list = field(default_factory=list)
    x_scale: str = "linear"
    y_scale: str = "linear"
    x_lim: list | None = None
    y_lim: list | None = None
    y_ticks: list | None = None          # positions
    y_tick_labels: list | None = None
    legend: bool = True
    legend_loc: str | None = None        # matplotlib's loc, e.g. "upper right" (None: best)
    _nested = {"series": Series}


@dataclass
class Figure(_Record):
    """A figure the report draws into ``{name}.png``: ``rows`` x ``cols`` panels, size in inches."""

    name: str
    title: str = ""
    rows: int = 1
    cols: int = 1
    width: float = 11.0
    height: float = 4.0
    dpi: int = 90
    panels: list = field(default_factory=list)
    _nested = {"panels": Panel}


@dataclass
class Table(_Record):
    """A table of numbers (or short text): ``columns`` are [name, unit] pairs."""

    name: str
    title: str
    columns: list
    rows: list


@dataclass
class Section(_Record):
    """An extra part of the report, shown in the part of ``model`` (or at the end if None).

    ``text``: paragraphs (plain text, escaped when shown). ``numbers``: rows
    {"name", "label", "value", "unit"}. ``tables`` and ``figures``: drawn by the report.
    ``data``: further plain numbers for readers of report.json (not shown).
    """

    name: str
    title: str
    model: str | None = None
    text: list = field(default_factory=list)
    numbers: list = field(default_factory=list)
    tables: list = field(default_factory=list)
    figures: list = field(default_factory=list)
    data: dict = field(default_factory=dict)
    _nested = {"tables": Table, "figures": Figure}


@dataclass
class Report(_Record):
    """Everything the HTML report is made of."""

    config: dict
    versions: dict
    runs: list
    checks: list
    extras: list = field(default_factory=list)
    tolerances: list = field(default_factory=list)
    known_gaps: list = field(default_factory=list)
    capabilities: list = field(default_factory=list)  # what each backend declares per model
    schema: str = SCHEMA_ID
    _nested = {"runs": RunRecord, "checks": CheckRecord, "extras": Section, "known_gaps": KnownGap}

    def section(self, name):
        return next((s for s in self.extras if s.name == name), None)

    def to_json(self) -> dict:
        data = super().to_json()
        return {"schema": data.pop("schema"), **data}


# ---------------------------------------------------------------------------- the schema
def _nullable(kind):
    return {"type": [kind, "null"]}


_NUM, _STR, _OBJ, _ARR, _BOOL = ({"type": "number"}, {"type": "string"}, {"type": "object"}, {"type": "array"},
                                 {"type": "boolean"})

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "title": "lifbridge validation records",
    "type": "object",
    "required": ["schema", "config", "versions", "runs", "checks", "extras", "tolerances", "known_gaps"],
    "properties": {
        "schema": {"const": SCHEMA_ID},
        "config": {"type": "object", "required": ["models", "backends", "quick"],
                   "properties": {"models": {"type": "array", "items": _STR},
                                  "backends": {"type": "array", "items": _STR}, "quick": _BOOL}},
        "versions": {"type": "object", "additionalProperties": _STR},
        "runs": {"type": "array", "items": {"$ref": "#/$defs/run"}},
        "checks": {"type": "array", "items": {"$ref": "#/$defs/check"}},
        "extras": {"type": "array", "items": {"$ref": "#/$defs/section"}},
        "tolerances": {"type": "array", "items": {"$ref": "#/$defs/tolerance"}},
        "known_gaps": {"type": "array", "items": {"$ref": "#/$defs/known_gap"}},
        "capabilities": {"type": "array", "items": _OBJ},
    },
    "$defs": {
        "run": {
            "type": "object",
            "required": ["model", "backend", "kind", "dt_ms", "duration_ms", "protocols", "spike_times_ms"],
            "properties": {
                "model": _STR, "backend": _STR, "kind": {"enum": list(RUN_KINDS)}, "dt_ms": _NUM,
                "duration_ms": _NUM,
                "protocols": {"type": "object", "additionalProperties": {
                    "type": "object", "required": ["neurons", "info"],
                    "properties": {"neurons": {"type": "array", "items": {"type": "integer"}}, "info": _OBJ}}},
                "spike_times_ms": {"type": "array", "items": {"type": "array", "items": _NUM}},
                "traces": {"type": "object", "additionalProperties": {
                    "type": "object", "required": ["unit", "t_ms", "neurons", "values"],
                    "properties": {"unit": _STR, "t_ms": {"type": "array", "items": _NUM},
                                   "neurons": {"type": "array", "items": {"type": "integer"}},
                                   "values": {"type": "array", "items": {"type": "array",
                                                                         "items": _nullable("number")}}}}},
                "bias_pA": {"type": "array", "items": _NUM},
                "versions": {"type": "object", "additionalProperties": _STR},
                "wall_time_s": _nullable("number"), "diverged": _nullable("object"),
            },
        },
        "check": {
            "type": "object",
            "required": ["model", "backend", "check", "protocol", "value", "tolerance", "unit", "status", "passed",
                         "reason"],
            "properties": {
                "model": _STR, "backend": _STR, "check": _STR, "protocol": _STR, "value": _nullable("number"),
                "tolerance": _nullable("number"), "unit": _STR, "status": {"enum": list(STATUSES)},
                "passed": _BOOL, "within_tolerance": _BOOL, "reason": _STR, "known_gap": _nullable("string"),
                "details": _OBJ, "diverged": _nullable("object"),
            },
        },
        "known_gap": {"type": "object", "required": ["model", "backend", "protocol", "reason"],
                      "properties": {"model": _STR, "backend": _STR, "protocol": _STR, "reason": _STR}},
        "tolerance": {"type": "object", "required": ["check", "model", "backend", "reason"],
                      "properties": {"check": _STR, "model": _STR, "backend": _STR, "reason": _STR}},
        "section": {
            "type": "object", "required": ["name", "title"],
            "properties": {
                "name": _STR, "title": _STR, "model": _nullable("string"), "text": {"type": "array", "items": _STR},
                "numbers": {"type": "array", "items": {
                    "type": "object", "required": ["name", "label", "value", "unit"],
                    "properties": {"name": _STR, "label": _STR, "value": {"type": ["number", "string", "null"]},
                                   "unit": _STR}}},
                "tables": {"type": "array", "items": {"$ref": "#/$defs/table"}},
                "figures": {"type": "array", "items": {"$ref": "#/$defs/figure"}},
                "data": _OBJ,
            },
        },
        "table": {"type": "object", "required": ["name", "title", "columns", "rows"],
                  "properties": {"name": _STR, "title": _STR,
                                 "columns": {"type": "array", "items": {"type": "array", "items": _STR}},
                                 "rows": {"type": "array", "items": _ARR}}},
        "figure": {"type": "object", "required": ["name", "panels"],
                   "properties": {"name": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"}, "title": _STR,
                                  "rows": {"type": "integer"}, "cols": {"type": "integer"}, "width": _NUM,
                                  "height": _NUM, "dpi": {"type": "integer"},
                                  "panels": {"type": "array", "items": {"$ref": "#/$defs/panel"}}}},
        "panel": {"type": "object", "required": ["title", "x_label", "y_label", "series"],
                  "properties": {"title": _STR, "x_label": _STR, "y_label": _STR,
                                 "series": {"type": "array", "items": {"$ref": "#/$defs/series"}},
                                 "x_scale": {"enum": ["linear", "log"]}, "y_scale": {"enum": ["linear", "log"]},
                                 "x_lim": _nullable("array"), "y_lim": _nullable("array"),
                                 "y_ticks": _nullable("array"), "y_tick_labels": _nullable("array"),
                                 "legend": _BOOL, "legend_loc": _nullable("string")}},
        "series": {"type": "object", "required": ["kind"],
                   "properties": {"kind": {"enum": ["line", "points", "errorbar", "raster", "hline", "vline",
                                                    "span"]},
                                  "x": {"type": "array", "items": _nullable("number")},
                                  "y": {"type": "array", "items": _nullable("number")},
                                  "yerr": _nullable("array"), "label": _nullable("string"), "style": _OBJ}},
    },
}

_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _type_ok(value, kind):
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, _TYPES[kind])


def schema_problem(value, schema=SCHEMA, path="", root=SCHEMA):
    """(path, problem) of the first place ``value`` does not follow ``schema``, or None.

    Understands the part of JSON Schema that :data:`SCHEMA` uses: type, const, enum,
    required, properties, additionalProperties, items, pattern, $ref.
    """
    import re

    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[1]]
    where = path or "(top level)"
    if "const" in schema and value != schema["const"]:
        return where, f"is {_short(value)}, expected {schema['const']!r}"
    if "enum" in schema and value not in schema["enum"]:
        return where, f"is {_short(value)}, expected one of {', '.join(map(repr, schema['enum']))}"
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_type_ok(value, k) for k in kinds):
            return where, f"is {_short(value)}, expected {' or '.join(kinds)}"
    if "pattern" in schema and isinstance(value, str) and not re.fullmatch(schema["pattern"], value):
        return where, f"is {_short(value)}, expected a plain file name ({schema['pattern']})"
    if isinstance(value, dict):
        for name in schema.get("required", ()):
            if name not in value:
                return f"{path}.{name}" if path else name, "missing field"
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for name, item in value.items():
            sub = props.get(name, extra if isinstance(extra, dict) else None)
            if sub is not None:
                found = schema_problem(item, sub, f"{path}.{name}" if path else str(name), root)
                if found:
                    return found
    if isinstance(value, list) and "items" in schema:
        for k, item in enumerate(value):
            found = schema_problem(item, schema["items"], f"{path}[{k}]", root)
            if found:
                return found
    return None


def _short(value):
    text = json.dumps(value)[:40] if not isinstance(value, float) or math.isfinite(value) else str(value)
    return text


class _NonFinite:
    def __init__(self, token):
        self.token = token


def _find(obj, predicate, path=""):
    if predicate(obj):
        return path or "(top level)"
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in items:
        found = _find(value, predicate, f"{path}[{key}]" if isinstance(obj, list) else
                      (f"{path}.{key}" if path else str(key)))
        if found:
            return found
    return None


def parse_report(text, source="records") -> Report:
    """The :class:`Report` of JSON ``text``; a :class:`RecordError` naming ``source`` and the field if invalid."""
    try:
        data = json.loads(text, parse_constant=_NonFinite)
    except json.JSONDecodeError as error:
        raise RecordError(f"{source}: not JSON (line {error.lineno}, column {error.colno}: {error.msg}); "
                          f"give a report.json written by lifbridge validate or lifbridge report") from None
    where = _find(data, lambda v: isinstance(v, _NonFinite))
    if where:
        raise RecordError(f"{source}: {where}: a non-finite number token is not strict JSON; write null "
                          f"for a missing or non-finite number (lifbridge.records.dumps does)")
    if not isinstance(data, dict):
        raise RecordError(f"{source}: expected a JSON object with \"schema\": {SCHEMA_ID!r}")
    if data.get("schema") != SCHEMA_ID:
        found = data.get("schema")
        raise RecordError(f"{source}: schema: is {_short(found) if found is not None else 'missing'}, expected "
                          f"{SCHEMA_ID!r}; write the records with this version of lifbridge "
                          f"(lifbridge.records.SCHEMA describes the format)")
    problem = schema_problem(data)
    if problem:
        raise RecordError(f"{source}: {problem[0]}: {problem[1]} (see lifbridge.records.SCHEMA, "
                          f"{SCHEMA_ID})")
    return Report.from_json(data)


def load_report(path) -> Report:
    """The :class:`Report` in the file ``path``, checked against :data:`SCHEMA`."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise RecordError(f"{path}: cannot read ({error.strerror or error}); give the path of a report.json") \
            from None
    except UnicodeDecodeError:
        raise RecordError(f"{path}: not a text file; give the path of a report.json") from None
    return parse_report(text, str(path))


def round_trip(report: Report) -> Report:
    """``report`` as it reads back from its JSON (what the report is rendered from)."""
    return parse_report(dumps(report), "records")


# ---------------------------------------------------------------------------- merging
def _examples_only(config) -> bool:
    """True for the records of a generated example script (``lifbridge.pynn.example``)."""
    return config.get("protocols") == "example"


def merge(reports, sources=None, note=None) -> Report:
    """One report of several (e.g. Brian2 records from one machine, NEST records from another).

    Rule: results are kept per (model, backend); a later report that has runs or checks
    for a (model, backend) pair an earlier one has replaces that pair's runs and checks
    (the reference integrator's included), and ``note`` (a callable) is told so in one
    line. Sections are kept by name, the later one winning; tolerances and known gaps by
    their keys, the later winning. The reports must come from the same protocols
    (``config.quick`` and the time step of every shared model), else :class:`RecordError`.
    Versions that differ between reports are kept side by side ("a / b").
    """
    reports = list(reports)
    sources = list(sources or [f"records #{k + 1}" for k in range(len(reports))])
    if not reports:
        raise RecordError("no records given; give at least one report.json")
    first = reports[0]
    config = dict(first.config)
    versions = dict(first.versions)
    pairs = {}  # (model, backend) -> source
    runs, checks = list(first.runs), list(first.checks)
    for r in runs + checks:
        pairs.setdefault((r.model, r.backend), sources[0])
    extras = {s.name: s for s in first.extras}
    tolerances = {(t["check"], t["model"], t["backend"]): t for t in first.tolerances}
    gaps = {(g.model, g.backend, g.protocol): g for g in first.known_gaps}
    capabilities = {(c.get("model"), c.get("backend")): c for c in first.capabilities}
    for report, source in zip(reports[1:], sources[1:]):
        if _examples_only(config):        # an example script's records take any protocols' company
            config.update({k: v for k, v in report.config.items() if k not in ("models", "backends")})
        if _examples_only(report.config):
            pass
        elif bool(report.config.get("quick")) != bool(config.get("quick")):
            raise RecordError(f"{source}: config.quick is {str(bool(report.config.get('quick'))).lower()} but "
                              f"{sources[0]}'s is {str(bool(config.get('quick'))).lower()}: records of different "
                              f"protocols cannot share a report; make both with the same options")
        dts = config.get("dt_ms_per_model", {})
        for model, dt in report.config.get("dt_ms_per_model", {}).items():
            if model in dts and dts[model] != dt:
                raise RecordError(f"{source}: config.dt_ms_per_model.{model} is {dt} ms but {sources[0]}'s is "
                                  f"{dts[model]} ms: records of different time steps cannot share a report; make "
                                  f"both with the same --dt")
        new_pairs = {(r.model, r.backend) for r in report.runs + report.checks}
        replaced = sorted(p for p in new_pairs if p in pairs)
        if replaced and note is not None:
            shown = ", ".join(f"{m}/{b}" for m, b in replaced[:6]) + (", ..." if len(replaced) > 6 else "")
            note(f"{source} replaces the results of {shown} from {', '.join(sorted({pairs[p] for p in replaced}))}")
        runs = [r for r in runs if (r.model, r.backend) not in new_pairs] + list(report.runs)
        checks = [c for c in checks if (c.model, c.backend) not in new_pairs] + list(report.checks)
        for p in new_pairs:
            pairs[p] = source
        for s in report.extras:
            extras[s.name] = s
        for t in report.tolerances:
            tolerances[(t["check"], t["model"], t["backend"])] = t
        for g in report.known_gaps:
            gaps[(g.model, g.backend, g.protocol)] = g
        for c in report.capabilities:
            capabilities[(c.get("model"), c.get("backend"))] = c
        for key, value in report.versions.items():
            if key in versions and value not in versions[key].split(" / "):
                versions[key] = f"{versions[key]} / {value}"
            else:
                versions.setdefault(key, value)
        for key in ("models", "backends"):
            config[key] = list(config.get(key, [])) + [x for x in report.config.get(key, [])
                                                       if x not in config.get(key, [])]
        config["dt_ms_per_model"] = {**dts, **report.config.get("dt_ms_per_model", {})}
    return Report(config=config, versions=versions, runs=runs, checks=checks, extras=list(extras.values()),
                  tolerances=list(tolerances.values()), known_gaps=list(gaps.values()),
                  capabilities=list(capabilities.values()))
