"""The ``lifbridge`` command line.

Every problem is one line on stderr, ``lifbridge COMMAND: what: problem; fix``, never
a traceback. Exit codes (:data:`EXIT_CODES`):

* 0 success;
* 1 a failure that is not the input's fault: a failed validation check, a backend that
  is not installed (simulator or build tools missing: the same for every command), a
  build or simulation that failed;
* 2 bad usage: an unknown option, model, name or unit, a value out of range, a bad
  model file, an unusable cache directory (``LIFBRIDGE_CACHE``);
* 3 a simulation diverged (``run``, ``fi``): a state became non-finite or ran away
  (:mod:`lifbridge.divergence`); no spikes or rates are shown for it;
* 130 interrupted (Ctrl-C); 141 standard output closed early (``lifbridge show hh |
  head``), as for other Unix tools killed by SIGPIPE, without a message.

Times take units everywhere (``--duration 500ms``, ``--dt 0.05ms``, ``--step
100ms:200ms:500pA``); a bare number keeps the option's documented unit.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
from pathlib import Path

import numpy as np

from . import backends as registry
from . import expr as ex
from .errors import BackendUnavailable, Diverged, LifbridgeError, UnitError
from .model import to_unit
from .spec import bundled_models, load
from .units import parse_quantity, parse_unit

#: Every registered backend (:mod:`lifbridge.backends`), installed or not.
BACKENDS = registry.names()
#: Longest simulation a command runs, in time steps (duration / dt).
MAX_STEPS = 10 ** 8
#: Most neurons an f-I sweep simulates.
MAX_CURRENTS = 100_000

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 0, 1, 2, 130, 141
EXIT_DIVERGED = 3
EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_FAILURE: "a failed check; a backend not installed (simulator or build tools); a failed build or simulation",
    EXIT_USAGE: "bad usage, bad model file or unusable cache directory",
    EXIT_DIVERGED: "a simulation diverged (non-finite or runaway state); nothing of it is shown as data",
    EXIT_INTERRUPTED: "interrupted",
    EXIT_BROKEN_PIPE: "standard output closed by its reader",
}


class UsageError(LifbridgeError):
    """Bad command-line input."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``lifbridge run: argument --dt: ... (lifbridge run --help)``."""

    def error(self, message):
        message = with_unit_hint(" ".join(str(message).split()))
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def main(argv=None) -> int:
    """Run the command line; returns the exit status (see the module docstring)."""
    try:
        status = _main(sys.argv[1:] if argv is None else list(argv))
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE


def _silence_stdout():
    """After the reader of stdout went away: point stdout at /dev/null, so that the
    flush at exit does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _main(argv) -> int:
    command = argv[0] if argv and argv[0] in COMMANDS else None
    try:
        parser = build_parser()
        args = parser.parse_args(attach_negative_values(argv))
        if not getattr(args, "command", None):
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return args.handler(args) or EXIT_OK
    except BrokenPipeError:
        raise
    except KeyboardInterrupt:
        print("lifbridge: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # noqa: BLE001 - every error becomes one line
        status = exit_status(error)
        where = f"lifbridge {command}" if command else "lifbridge"
        text = one_line(error)
        if status == EXIT_FAILURE and not isinstance(error, LifbridgeError):
            text = (f"{type(error).__name__}: {text} (an unexpected error; "
                    f"LIFBRIDGE_TRACEBACK=1 shows where it happened)")
            if os.environ.get("LIFBRIDGE_TRACEBACK"):
                raise
        print(f"{where}: {text}", file=sys.stderr)
        return status


#: Options whose value may start with a minus sign (a negative current or start time).
SIGNED_OPTIONS = ("--current", "--step", "--light", "--currents", "--duration", "--dt")


def attach_negative_values(argv):
    """``--current -500pA`` -> ``--current=-500pA``: argparse would read ``-500pA`` as an option."""
    out, i = [], 0
    while i < len(argv):
        item = argv[i]
        value = argv[i + 1] if i + 1 < len(argv) else ""
        if item in SIGNED_OPTIONS and re.match(r"-[0-9.]", value):
            out.append(f"{item}={value}")
            i += 2
        else:
            out.append(item)
            i += 1
    return out


def exit_status(error) -> int:
    """The exit status for an error (see the module docstring)."""
    if isinstance(error, Diverged):
        return EXIT_DIVERGED
    if isinstance(error, BackendUnavailable):
        return EXIT_FAILURE
    if isinstance(error, LifbridgeError):
        return EXIT_USAGE
    return EXIT_FAILURE


def one_line(error) -> str:
    """The message of ``error`` on one line, with the accepted spelling of a unit where one is known."""
    text = " ".join(str(error).split()) or type(error).__name__
    return with_unit_hint(text)


_POWER = re.compile(r"unknown unit '([A-Za-z]+?)(\d{1,2})'")


def with_unit_hint(message: str) -> str:
    """``unknown unit 'mm2'`` gets the accepted spelling of a power: ``mm**2`` or ``mm^2``."""
    match = _POWER.search(message)
    if not match or "did you mean" in message:
        return message
    base, power = match.groups()
    try:
        parse_unit(f"{base}**{power}")
    except LifbridgeError:
        return message
    hint = f"powers are written with ** or ^, e.g. {base}**{power} or {base}^{power}"
    shortened = re.sub(r"; known units are .*?\(e\.g\. [^)]*\)", "", message)
    return f"{shortened}; {hint}"


def build_parser():
    parser = Parser(prog="lifbridge", description="Canonical neuron models, generated for "
                    f"{', '.join(BACKENDS)} and validated against analytic theory.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    p = sub.add_parser("models", help="list the bundled models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_models)

    p = sub.add_parser("show", help="parameters, state and inputs of a model, with units and defaults")
    p.add_argument("model", help="bundled model name or path of a .toml model file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("generate", help="generate simulator code for a model")
    p.add_argument("model")
    p.add_argument("--target", choices=tuple(registry.generators()), required=True)
    p.add_argument("-o", "--output", help="file to write (default: standard output)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="parameter value with unit written into the code, e.g. C_m=250pF")
    p.add_argument("--dt", type=time_option("--dt", "ms"), default=None, metavar="TIME",
                   help="time step of a target whose code has one (pynn, spinnaker scripts); default 0.1 ms")
    p.set_defaults(handler=cmd_generate)

    for name, handler, text in (("run", cmd_run, "simulate one neuron and print its spike times"),
                                ("fi", cmd_fi, "f-I curve: one neuron per current, simulated as one population")):
        p = sub.add_parser(name, help=text)
        p.add_argument("model")
        p.add_argument("--backend", choices=BACKENDS, default=BACKENDS[0],
                       help=f"simulator (default {BACKENDS[0]})")
        p.add_argument("--duration", type=time_option("--duration", "s"), default=1.0, metavar="TIME",
                       help="simulated time, e.g. 500ms (bare number: s; default 1 s)")
        p.add_argument("--dt", type=time_option("--dt", "ms"), default=0.1, metavar="TIME",
                       help="time step, e.g. 0.05ms (bare number: ms; default 0.1 ms)")
        p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                       help="parameter value with unit, e.g. C_m=250pF (bare number: the unit 'show' gives)")
        p.add_argument("--init", action="append", default=[], metavar="NAME=VALUE", help="initial value, e.g. V_m=-63mV")
        p.add_argument("--preset", help="named parameter preset (e.g. Izhikevich RS, FS ...)")
        p.add_argument("--target", default=None, choices=registry.option_choices("target"),
                       help="code generation target of the backend (" + option_help("target") + ")")
        p.add_argument("--json", action="store_true")
        p.set_defaults(handler=handler)
        if name == "run":
            p.add_argument("--current", default="0pA", metavar="AMP", help="constant current, e.g. 500pA (bare number: pA)")
            p.add_argument("--step", action="append", default=[], metavar="T0:T1:AMP",
                           help="current step from T0 to T1, e.g. 100ms:200ms:500pA (bare times: ms)")
            p.add_argument("--light", action="append", default=[], metavar="T0:T1:INTENSITY",
                           help="light pulse (models with a light input), e.g. 100ms:600ms:5mW/mm**2 "
                           "(bare times: ms)")
            p.add_argument("--record", action="append", default=[], metavar="VAR", help="variable to record")
        else:
            p.add_argument("--currents", required=True, metavar="START:STOP:N",
                           help="N currents evenly spaced from START to STOP inclusive, e.g. 0:1000:21 or "
                           "0nA:1nA:21 (bare numbers: --unit)")
            p.add_argument("--unit", default="pA", help="unit of the currents (default pA)")
            p.add_argument("--steady", action="store_true", help="rate = 1/mean ISI after the first half of the run")

    p = sub.add_parser("validate", help="validate models on every backend against theory and the reference "
                       "integrator, and write a report")
    p.add_argument("--models", nargs="+", metavar="MODEL", help="models to validate (default: all bundled)")
    p.add_argument("--backends", nargs="+", metavar="BACKEND", choices=BACKENDS,
                   help="backends (default: every installed one; --quick: brian2)")
    p.add_argument("--out", default="lifbridge-report", help="output directory (default lifbridge-report/)")
    p.add_argument("--quick", action="store_true", help="short runs and coarse sweeps (under a minute)")
    p.add_argument("--dt", type=time_option("--dt", "ms"), default=None, metavar="TIME",
                   help="time step, e.g. 0.05ms (bare number: ms; default 0.1 ms, or a model's "
                   "validation_dt_ms hint)")
    p.add_argument("--no-progress", action="store_true", help="no progress output on stderr")
    p.set_defaults(handler=cmd_validate)

    p = sub.add_parser("report", help="build the validation report from records (report.json files made by "
                       "validate, here or elsewhere)")
    p.add_argument("records", nargs="+", metavar="RECORDS.json",
                   help="report.json files; a later file's results replace an earlier one's for the same "
                   "model and backend")
    p.add_argument("--out", default="lifbridge-report", help="output directory (default lifbridge-report/)")
    p.add_argument("--beside", nargs="+", default=[], metavar="BACKEND",
                   help="run the input of every example script's records (generate --target pynn|spinnaker) on "
                   "these backends too and compare (e.g. --beside spinnaker.emulated nest)")
    p.set_defaults(handler=cmd_report)

    p = sub.add_parser("backends", help="every backend: available or not and why, generator targets, options")
    p.add_argument("--json", action="store_true")
    p.add_argument("--matrix", action="store_true", help="the model x backend capability table (Markdown, as in "
                   "the README)")
    p.set_defaults(handler=cmd_backends)

    for _, command in registry.commands():
        p = sub.add_parser(command.name, help=command.help)
        command.add_arguments(p)
        p.set_defaults(handler=command.handler)

    p = sub.add_parser("hh-equivalent", help="measure the biophysical reference model (hh) through the reference "
                       "integrator, build an equivalent lif and adex, and compare them",
                       description="Measure the Hodgkin-Huxley model through the reference integrator, build an "
                       "equivalent LIF and AdEx, and compare them (lifbridge.judge).")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--quick", action="store_true", help="coarse sweeps and short runs (about 15 s)")
    p.add_argument("--out", metavar="DIR", help="also write the result as DIR/hh_equivalent.json")
    p.add_argument("--no-progress", action="store_true", help="no progress messages on stderr")
    p.set_defaults(handler=cmd_hh_equivalent)

    return parser


COMMANDS = ("models", "show", "generate", "run", "fi", "validate", "report", "backends", "hh-equivalent") + tuple(
    command.name for _, command in registry.commands())


def option_help(option: str) -> str:
    """``--backend brian2: numpy|cython|cpp_standalone, default numpy`` for every backend taking ``option``."""
    parts = []
    for name in BACKENDS:
        try:
            declared = registry.get(name).options.get(option)
        except BackendUnavailable:
            continue
        if declared is not None:
            parts.append(f"--backend {name} only: {'|'.join(declared.choices)}, default {declared.default}")
    return "; ".join(parts) or "no backend takes it"


# ---------------------------------------------------------------------------- option values
SECOND_UNIT = parse_unit("s")
MS_UNIT = parse_unit("ms")


def read_time(text, option, bare_unit: str, *, positive=True, allow_zero=False) -> float:
    """A time from the command line, in ``bare_unit`` (the unit of a bare number too)."""
    unit = parse_unit(bare_unit)
    shown = " ".join(str(text).split())[:40]
    try:
        value, given = parse_quantity(text, default_unit=unit)
    except UnitError as error:
        raise UsageError(with_unit_hint(f"{option} {shown!r}: {error}")) from None
    if given.dim != unit.dim:
        raise UsageError(f"{option} {shown!r}: {given.name} is not a unit of time; write e.g. 100ms or 0.5s "
                         f"(a bare number is in {bare_unit})")
    value *= given.factor_to(unit)
    if not np.isfinite(value):
        raise UsageError(f"{option} {shown!r}: not a finite time")
    if positive and not (value > 0 or (allow_zero and value == 0)):
        raise UsageError(f"{option} {shown!r}: must be {'zero or ' if allow_zero else ''}positive")
    return float(value)


def time_option(option, bare_unit):
    """An argparse ``type`` reading a time with a unit into a number in ``bare_unit``."""
    def read(text):
        try:
            return read_time(text, option, bare_unit)
        except UsageError as error:
            # argparse puts "argument --dt: " in front of the message
            raise argparse.ArgumentTypeError(str(error)[len(option) + 1:]) from None

    read.__name__ = "time"
    return read


def load_model(name):
    """A bundled model by name (an unknown name gets a "did you mean"), or a model file by path."""
    text = str(name)
    if text.endswith(".toml") or "/" in text or os.sep in text:
        return load(text)
    names = bundled_models()
    if text not in names and not _composed(text):
        shown = " ".join(text.split())[:60]
        lowered = {n.lower(): n for n in names}
        close = ([lowered[text.lower()]] if text.lower() in lowered else
                 difflib.get_close_matches(text, names, n=3, cutoff=0.6))
        hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
        raise UsageError(f"unknown model {shown!r}; {hint}bundled models: {', '.join(names)}, or "
                         f"<model>_<synapses> (e.g. lif_psc_alpha, adex_cond_exp), or the path of a .toml "
                         f"model file")
    return load(text)


def _composed(text):
    """True for a composed name such as ``lif_psc_alpha`` (a bundled neuron and synapse kinetics)."""
    from .compose import split_name

    try:
        return split_name(text) is not None
    except LifbridgeError:
        return False


# ---------------------------------------------------------------------------- commands
def cmd_models(args):
    from .compose import synapse_table

    synapses = synapse_table()
    rows = []
    for name in bundled_models():
        model = load_model(name)
        default, kinetics = synapses.get(name, (None, []))
        rows.append({"name": name, "description": model.description, "reference": model.reference,
                     "synapses": default, "composes_with": kinetics})
    if args.json:
        print(dumps_strict(rows, indent=2))
    else:
        shown = {r["name"]: " ".join(k + ("*" if k == r["synapses"] else "") for k in r["composes_with"])
                 for r in rows}
        width = max(len(r["name"]) for r in rows)
        column = max(len(v) for v in shown.values())
        for r in rows:
            print(f"{r['name']:<{width}}  {shown[r['name']]:<{column}}  {r['description']}")
        print(f"* the model's own synapses; <model>_<synapses> loads the others (lif_psc_alpha; the "
              f"cond_* of lif are lif_cond's: lif_cond_alpha)")


def model_summary(model) -> dict:
    """The JSON form of ``lifbridge show``."""
    def initial(var):
        return var.initial if isinstance(var.initial, float) else ex.to_text(var.initial)

    return {
        "name": model.name,
        "description": model.description,
        "reference": model.reference,
        "parameters": {n: {"value": p.value, "unit": p.unit.name, "description": p.description,
                           **({"min": p.minimum, "min_exclusive": p.exclusive_minimum} if p.minimum is not None else {}),
                           **({"max": p.maximum} if p.maximum is not None else {})}
                       for n, p in model.parameters.items()},
        "state": {n: {"unit": s.unit.name, "initial": initial(s), "description": s.description}
                  for n, s in model.state.items()},
        "inputs": {n: {"kind": p.kind, "unit": p.unit.name, "description": p.description,
                       **({"sign": p.sign, "on_spike": [f"{a.target} {a.op} {ex.to_text(a.value)}" for a in p.on_spike]}
                          if p.kind == "spike" else {})}
                   for n, p in model.inputs.items()},
        "expressions": {n: {"expr": ex.to_text(a.expr), "unit": a.unit.name} for n, a in model.aliases.items()},
        "equations": {n: ex.to_text(e) for n, e in model.equations.items()},
        "spike": ({"condition": ex.to_text(model.spike.condition),
                   "reset": [f"{a.target} {a.op} {ex.to_text(a.value)}" for a in model.spike.reset]}
                  if model.spike else None),
        "refractory": ({"period": ex.to_text(model.refractory.period), "clamp": list(model.refractory.clamp)}
                       if model.refractory else None),
        "presets": {k: dict(v) for k, v in model.presets.items()},
        "hints": dict(model.hints),
    }


def cmd_show(args):
    model = load_model(args.model)
    summary = model_summary(model)
    if args.json:
        print(dumps_strict(summary, indent=2))
        return
    print(f"{model.name}: {model.description}")
    print(f"source: {model.reference}")
    print("\nparameters:")
    for n, p in summary["parameters"].items():
        print(f"  {n:<14} {p['value']:>12g} {p['unit']:<12} {p['description']}")
    print("\nstate:")
    for n, s in summary["state"].items():
        print(f"  {n:<14} {str(s['initial']):>12} {s['unit']:<12} {s['description']}")
    if summary["expressions"]:
        print("\nexpressions:")
        for n, a in summary["expressions"].items():
            print(f"  {n} = {a['expr']}  [{a['unit']}]")
    print("\nequations:")
    for n, e in summary["equations"].items():
        print(f"  d{n}/dt = {e}")
    if summary["spike"]:
        print(f"\nspike when {summary['spike']['condition']}; then {'; '.join(summary['spike']['reset']) or 'no reset'}")
    if summary["refractory"]:
        clamp = ", ".join(summary["refractory"]["clamp"]) or "nothing"
        print(f"refractory for {summary['refractory']['period']} (clamped: {clamp})")
    print("\ninputs:")
    for n, p in summary["inputs"].items():
        extra = f" {p['sign']}: {'; '.join(p['on_spike'])}" if p["kind"] == "spike" else ""
        print(f"  {n:<14} {p['kind']:<8} {p['unit']:<12}{extra}")
    if summary["presets"]:
        print("\npresets: " + ", ".join(summary["presets"]))


def cmd_generate(args):
    model = load_model(args.model)
    model, _ = apply_overrides(model, args.param, [])
    generator = registry.generator(args.target)
    if args.dt is not None and not generator.takes_time_step:
        print(f"note: --dt: the {args.target} code has no time step of its own (it is the simulator's); "
              f"ignored", file=sys.stderr)
    text = generator(model, dt_ms=args.dt)
    binary = isinstance(text, bytes)   # a binary file format (its generator returns bytes)
    if binary and not args.output:
        raise UsageError(f"--target {args.target} writes a binary file; give -o FILE")
    if args.output:
        try:
            with open(args.output, "wb" if binary else "w") as handle:
                handle.write(text)
        except OSError as error:
            raise UsageError(f"-o {args.output}: cannot write ({error.strerror or error}); "
                             f"give a path in a writable directory") from None
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    for note in getattr(text, "notes", ()):   # what the generated model lacks, one line each
        print(f"note: {note}", file=sys.stderr)


def prepare_model(args):
    """Check the run options; load the model, apply the preset and --param values; return
    (model, initial values from --init)."""
    resolve_target(args)
    check_times(args)
    model = load_model(args.model)
    if args.preset:
        model = model.with_preset(args.preset)
    model, init_values = apply_overrides(model, args.param, args.init)
    note_time_step(model, args)
    return model, init_values


def resolve_target(args):
    """The backend's run options (``args.options``), checked by the backend: --target is an
    error for a backend without that option, and takes the backend's default otherwise."""
    args.options = registry.get(args.backend).run_options({"target": args.target})
    args.target = args.options.get("target", args.target)


def check_times(args):
    """--dt no longer than --duration, and a bounded number of steps."""
    duration_ms = args.duration * 1000.0
    if args.dt > duration_ms:
        raise UsageError(f"--dt {args.dt:g} ms is longer than --duration {args.duration:g} s; "
                         f"give a shorter --dt or a longer --duration")
    steps = duration_ms / args.dt
    if steps > MAX_STEPS:
        raise UsageError(f"--duration {args.duration:g} s at --dt {args.dt:g} ms is {steps:.3g} time steps; "
                         f"at most {MAX_STEPS:.0e} per run: give a shorter --duration or a longer --dt")


def apply_overrides(model, param_items, init_items):
    """The model with the --param values; the --init values (spec units). Names are the
    spec's or NEST's spellings (lifbridge.overrides); an unknown name gets a "did you mean"."""
    from .overrides import canonical_name, resolve

    params = parse_assignments(param_items, "--param")
    for key in params:
        name = canonical_name(model, key, "--param ")
        if name not in model.parameters:
            raise UsageError(f"--param {key}: {name} is a state variable of model {model.name!r}, not a parameter; "
                             f"set its initial value with --init {name}=VALUE")
    model = resolve(model, params, where="--param ").model
    inits = parse_assignments(init_items, "--init")
    for key in inits:
        name = canonical_name(model, key, "--init ")
        if name not in model.state:
            raise UsageError(f"--init {key}: {name} is a parameter of model {model.name!r}, not a state variable; "
                             f"set it with --param {name}=VALUE")
    return model, dict(resolve(model, inits, where="--init ").state)


def note_time_step(model, args):
    """One note on stderr when the model recommends a finer time step (its ``validation_dt_ms`` hint)."""
    hint = model.hints.get("validation_dt_ms")
    try:
        hint = float(hint)
    except (TypeError, ValueError):
        return
    if not (hint > 0) or args.dt <= hint * (1 + 1e-9):
        return
    step_note = registry.get(args.backend).step_note
    why = f" ({step_note(model)})" if step_note else ""
    print(f"note: {model.name} recommends dt <= {hint:g} ms{why}; running at {args.dt:g} ms", file=sys.stderr)


def parse_assignments(items, option):
    values = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"{option} {item[:60]!r}: write NAME=VALUE, e.g. C_m=250pF")
        name, value = item.split("=", 1)
        if not name.strip():
            raise UsageError(f"{option} {item[:60]!r}: the name is missing; write NAME=VALUE, e.g. C_m=250pF")
        values[name.strip()] = value.strip()
    return values


PICOAMP = parse_unit("pA")


def current_in_pA(text, option):
    """A current from the command line (``500pA``, ``0.5nA``; a bare number is pA), in pA."""
    return to_unit(text, PICOAMP, option)


def parse_pulses(items, option, value_reader):
    """``T0:T1:VALUE`` items; times with a unit or bare (ms), returned in ms."""
    pulses = []
    for item in items:
        parts = item.split(":", 2)
        shown = item[:60]
        if len(parts) != 3:
            raise UsageError(f"{option} {shown!r}: write T0:T1:AMPLITUDE, e.g. 100ms:200ms:500pA (bare times: ms)")
        t0 = read_time(parts[0], f"{option} {shown!r} T0", "ms", allow_zero=True)
        t1 = read_time(parts[1], f"{option} {shown!r} T1", "ms", allow_zero=True)
        if not 0 <= t0 < t1:
            raise UsageError(f"{option} {shown!r}: need 0 <= T0 < T1")
        pulses.append((t0, t1, value_reader(parts[2])))
    return pulses


def cmd_run(args):
    from .stimulus import Stimulus, piecewise_signal

    model, inits = prepare_model(args)
    duration_ms = args.duration * 1000.0
    stimulus = Stimulus.constant([current_in_pA(args.current, "--current")])
    steps = parse_pulses(args.step, "--step", lambda v: current_in_pA(v, "--step"))
    if steps:
        if model.input_current is None:
            raise UsageError(f"model {model.name!r} has no current input for --step")
        stimulus.current_pA = piecewise_signal(steps, duration_ms, args.dt)
        stimulus.signal_dt_ms = args.dt
    if args.light:
        light_name = model.light_input
        if light_name is None:
            raise UsageError(f"model {model.name!r} has no light input; --light is for models such as optogenetic_lif")
        unit = model.inputs[light_name].unit
        pulses = parse_pulses(args.light, "--light", lambda v: to_unit(v, unit, "--light"))
        stimulus.light = piecewise_signal(pulses, duration_ms, args.dt)
        stimulus.signal_dt_ms = args.dt
    known = set(model.state) | set(model.aliases) | set(model.continuous_inputs)
    for var in args.record:
        if var not in known:
            raise UsageError(f"--record {var}: not a state variable or expression of {model.name!r}; "
                             f"choose from {', '.join(sorted(known))}")
    result = simulate(args, model, stimulus, duration_ms, record=args.record, inits=inits)
    if result.diverged is not None:
        # no spikes, no traces: they are not data
        if args.json:
            print(dumps_strict({"model": model.name, "backend": args.backend, "dt_ms": args.dt,
                                "duration_s": args.duration, "diverged": result.diverged.as_record()}))
        raise Diverged(f"{model.name} on {args.backend} {result.diverged.describe()}; no spikes or traces are shown; "
                       f"fix: {DIVERGENCE_FIX}", result.diverged)
    spikes = result.spike_times_ms[0]
    if args.json:
        out = {"model": model.name, "backend": args.backend, "dt_ms": args.dt, "duration_s": args.duration,
               "spike_times_ms": [round(float(s), 9) for s in spikes]}
        if result.traces:
            first = next(iter(result.traces.values()))
            out["t_ms"] = [round(float(t), 9) for t in first[0]]
            out["units"] = {}
            for var, (_, values, unit) in result.traces.items():
                out[var] = [float(v) for v in values[0]]
                out["units"][var] = unit
        print(dumps_strict(out))
    else:
        print(f"# {model.name} on {args.backend}: {len(spikes)} spikes in {args.duration:g} s (dt = {args.dt:g} ms)")
        for s in spikes:
            print(f"{s:.4f}")
        for var, (t, values, unit) in result.traces.items():
            print(f"# {var} [{unit}]: min {values[0].min():.6g}, max {values[0].max():.6g}, final {values[0][-1]:.6g}")


#: What to try when a run or a sweep diverges.
DIVERGENCE_FIX = "a smaller --dt or a smaller current, or check the parameters (a zero time constant?)"


def dumps_strict(obj, **options) -> str:
    """Strict JSON (no NaN or Infinity tokens): a non-finite number becomes null."""
    from .records import dumps

    return dumps(obj, **options)


def simulate(args, model, stimulus, duration_ms, record=(), inits=None):
    backend = registry.require(args.backend)
    options = getattr(args, "options", None) or backend.run_options()
    return backend.simulate(model, stimulus, duration_ms=duration_ms, dt_ms=args.dt, options=options, record=record,
                            **(inits or {}))


def parse_currents(text, unit_text):
    """``START:STOP:N`` (START and STOP bare, in ``--unit``, or with a current unit) ->
    (currents in --unit, factor from --unit to pA)."""
    try:
        unit = parse_unit(unit_text)
    except UnitError as error:
        raise UsageError(f"--unit {unit_text[:40]!r}: {error}") from None
    if unit.dim != PICOAMP.dim:
        raise UsageError(f"--unit {unit_text[:40]!r}: a current unit such as pA or nA is needed")
    shown = text[:60]
    parts = text.split(":")
    if len(parts) != 3:
        raise UsageError(f"--currents {shown!r}: write START:STOP:N, e.g. 0:1000:21")
    ends = []
    for part in parts[:2]:
        try:
            value, given = parse_quantity(part, default_unit=unit)
        except UnitError:
            raise UsageError(f"--currents {shown!r}: write START:STOP:N, e.g. 0:1000:21 or 0nA:1nA:21") from None
        if given.dim != unit.dim:
            raise UsageError(f"--currents {shown!r}: {given.name} is not a current unit; write e.g. 0:1000:21 "
                             f"or 0nA:1nA:21")
        ends.append(value * given.factor_to(unit))
    try:
        n = int(parts[2])
    except ValueError:
        raise UsageError(f"--currents {shown!r}: write START:STOP:N with N a whole number, e.g. 0:1000:21") from None
    if not 1 <= n <= MAX_CURRENTS:
        raise UsageError(f"--currents {shown!r}: write START:STOP:N with 1 <= N <= {MAX_CURRENTS}")
    return np.linspace(ends[0], ends[1], n), unit.factor_to(PICOAMP)


def cmd_fi(args):
    from .stimulus import Stimulus

    model, inits = prepare_model(args)
    currents, factor = parse_currents(args.currents, args.unit)
    result = simulate(args, model, Stimulus.constant(currents * factor), args.duration * 1000.0, inits=inits)
    rates = result.rates_hz(steady=args.steady, skip_diverged=True)
    diverged = set(result.diverged_neurons)
    if args.json:
        print(dumps_strict({"model": model.name, "backend": args.backend, "dt_ms": args.dt,
                            "duration_s": args.duration, "unit": args.unit, "steady": args.steady,
                            "currents": [float(c) for c in currents],
                            "rates_hz": [None if i in diverged else float(r) for i, r in enumerate(rates)],
                            "diverged_currents": [float(currents[i]) for i in sorted(diverged)],
                            "diverged": result.diverged.as_record() if result.diverged else None}))
    else:
        print(f"# {model.name} on {args.backend}, dt = {args.dt:g} ms, {args.duration:g} s"
              f"{', steady-state rate' if args.steady else ''}")
        print(f"{'I [' + args.unit + ']':>14} {'rate [Hz]':>12}")
        for i, (c, r) in enumerate(zip(currents, rates)):
            print(f"{c:>14.6g} {'diverged' if i in diverged else f'{r:.6g}':>12}")
    if diverged:
        first = result.diverged.first
        shown = ", ".join(f"{currents[i]:g}" for i in sorted(diverged)[:5]) + (", ..." if len(diverged) > 5 else "")
        raise Diverged(f"{model.name} on {args.backend}: {len(diverged)} of {len(currents)} currents diverged "
                       f"({shown} {args.unit}), no rate for them; at {currents[first.neuron]:g} {args.unit} it "
                       f"{result.diverged.describe()}; fix: {DIVERGENCE_FIX}", result.diverged)


def cmd_validate(args):
    from .validation import summary_text, validate, write_report
    from .validation.report import is_gap

    from .cache import cache_root

    models = [load_model(m) for m in args.models] if args.models else None
    if args.dt is not None and args.dt <= 0:
        raise UsageError("--dt must be positive")
    cache_root()  # an unusable cache is one message here, not a failed check per run
    try:
        Path(args.out).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--out {args.out}: cannot create the directory ({error.strerror or error}); "
                         f"give a writable directory") from None
    report = validate(models, args.backends, quick=args.quick, progress=not args.no_progress, dt_ms=args.dt)
    page = write_report(report, args.out)
    print(summary_text(report))
    failed = sum(1 for c in report["checks"] if not c["passed"])
    total = sum(1 for c in report["checks"] if not is_gap(c))
    gaps = len(report["checks"]) - total
    print(f"{total - failed}/{total} checks passed{f', {gaps} known gap(s)' if gaps else ''}; report: {page}")
    return 1 if failed else 0


def cmd_backends(args):
    models = [load_model(name) for name in bundled_models()]
    if args.matrix:
        print(registry.capability_matrix(models), end="")
        return
    rows = registry.describe()
    for row in rows:
        row["models"] = {c.model: {"support": c.support, "reason": c.reason, "error": c.error}
                         for c in registry.capabilities(models, [row["name"]])}
    if args.json:
        print(dumps_strict(rows, indent=2))
        return
    for row in rows:
        state = "available" if row["available"] else f"NOT AVAILABLE: {row['reason']}"
        print(f"{row['name']} ({row['label']}): {state}")
        if row["description"]:
            print(f"  {row['description']}")
        if row["notes"]:
            print(f"  note: {row['notes']}")
        if row["generate_targets"]:
            print(f"  generate --target: {', '.join(row['generate_targets'])}")
        for name, option in row["options"].items():
            print(f"  --{name}: {'|'.join(option['choices'])} (default {option['default']}): {option['help']}")
        if row["commands"]:
            print(f"  commands: {', '.join(row['commands'])}")
        support = {}
        for model, cap in row["models"].items():
            support.setdefault(cap["support"], []).append(model)
        for level, names in support.items():
            print(f"  {level}: {', '.join(names)}")


def cmd_report(args):
    from .validation import summary_text
    from .validation.report import is_gap, report_from_files, write_report

    report = report_from_files(args.records, note=lambda text: print(f"lifbridge report: {text}", file=sys.stderr))
    add_example_runs(report, args.beside)
    try:
        Path(args.out).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--out {args.out}: cannot create the directory ({error.strerror or error}); "
                         f"give a writable directory") from None
    page = write_report(report, args.out)
    print(summary_text(report))
    failed = sum(1 for c in report.checks if not c.passed)
    total = sum(1 for c in report.checks if not is_gap(c))
    gaps = len(report.checks) - total
    print(f"{total - failed}/{total} checks passed{f', {gaps} known gap(s)' if gaps else ''}; report: {page}")
    return 1 if failed else 0


def add_example_runs(report, beside):
    """Run every example script's input on the ``beside`` backends (those it has no run of yet) and
    put the example sections (:mod:`lifbridge.validation.examples`) into ``report``."""
    from .validation.examples import check_beside, example_runs, example_sections, run_beside

    for name in beside:
        registry.require(name)
    recorded = example_runs(report)
    if beside and not recorded:
        raise UsageError(f"--beside {' '.join(beside)}: the records hold no example run; give the records an "
                         f"example script saved (generate --target pynn or spinnaker, then run the script)")
    wanted = [(run, name) for run in recorded for name in beside
              if not any(r.model == run.model and r.backend == name for r in report.runs)]
    for run, name in wanted:
        check_beside(run, name)
    for run in list(recorded):
        for name in beside:
            if any(r.model == run.model and r.backend == name for r in report.runs):
                continue
            print(f"lifbridge report: running {run.model}'s example input on {name}", file=sys.stderr, flush=True)
            report.runs.append(run_beside(run, name))
            if name not in report.config.setdefault("backends", []):
                report.config["backends"].append(name)
    names = {s.name for s in example_sections(report)}
    report.extras = [s for s in report.extras if s.name not in names] + example_sections(report)


def cmd_hh_equivalent(args):
    import time

    from . import judge
    from .records import write_json

    out = None
    if args.out:
        out = Path(args.out)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UsageError(f"--out {args.out}: cannot create the directory ({error.strerror or error}); "
                             f"give a writable directory") from None
    started = time.perf_counter()

    def progress(message):
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    result = judge.hh_equivalent(quick=args.quick, progress=None if args.no_progress else progress)
    if out is not None:
        write_json(out / "hh_equivalent.json", result, indent=2)
    if args.json:
        print(dumps_strict(result, indent=2))
    else:
        print_hh_equivalent(result, sys.stdout)
        if out is not None:
            print(f"\nresult: {out / 'hh_equivalent.json'}")


def print_hh_equivalent(result, stream):
    """The text tables of ``lifbridge hh-equivalent``: every value with its unit."""
    from .judge.compare import _fmt, what_does_not_match
    from .judge.measure import MEASUREMENTS

    m, fi, c = result["measurements"], result["fi"], result["class2_gap"]
    w = stream.write
    w("Hodgkin-Huxley-derived equivalents (reference integrator, %s protocol)\n\n" % result["protocol"])
    w("Measurements\n")
    for key, text, unit in MEASUREMENTS:
        w(f"  {text:<55} {_fmt(m.get(key), 4):>10} {'(ratio)' if unit == '1' else unit}\n")
    div = m["dynamic_iv"]
    w(f"  {'dynamic I-V: tau / E_L / V_T / Delta_T':<55} {div['tau_ms']:.3g} ms / {div['E_L_mV']:.4g} mV / "
      f"{div['V_T_mV']:.4g} mV / {div['Delta_T_mV']:.3g} mV\n")
    units = result.get("units", {})
    for name in ("lif", "adex"):
        w(f"\nEquivalent {name.upper()}\n")
        unit_of = units.get(f"{name}_parameters", {})
        for k, v in result[f"{name}_parameters"].items():
            w(f"  {k:<10} {_fmt(v, 5):>12} {unit_of.get(k, '')}\n")
    w("\nf-I curves\n  %10s %10s %8s %8s %13s %9s\n" % ("I [pA]", "I/rheobase", "HH [Hz]", "LIF [Hz]",
                                                            "LIF c.f. [Hz]", "AdEx [Hz]"))
    for i, cur in enumerate(fi["currents_pA"]):
        w("  %10.1f %10.3g %8.1f %8.1f %13.1f %9.1f\n" % (cur, fi["multiples_of_rheobase"][i], fi["hh_hz"][i],
                                                             fi["lif_hz"][i], fi["lif_closed_form_hz"][i],
                                                             fi["adex_hz"][i]))
    w(f"\nSpike-time agreement (coincidence factor Gamma, dimensionless; window +-"
      f"{result['spike_agreement']['window_ms']:g} ms)\n")
    for protocol in ("step", "noise"):
        for name in ("lif", "adex"):
            g = result["spike_agreement"][protocol][name]
            lag = "" if g.get("mean_lag_ms") is None else f", mean lag {_fmt(g['mean_lag_ms'])} ms"
            w(f"  {protocol:<6} {name:<5} Gamma = {g['gamma']:6.3f}   matched {g['n_coincident']}/{g['n_hh']} HH "
              f"spikes, {g['n_model']} model spikes{lag}\n")
    w("\nClass-2 gap\n")
    w(f"  HH: 0 Hz below {c['hh_rheobase_bracket_pA'][0]:.1f} pA, {c['hh_min_rate_hz']:.1f} Hz at "
      f"{c['hh_rheobase_bracket_pA'][1]:.1f} pA\n")
    w("  LIF above its rheobase by a fraction e of it: "
      + ", ".join(f"e={k}: {v:.1f} Hz" for k, v in c["lif_rate_above_rheobase_hz"].items()) + "\n")
    w(f"  AdEx rheobase {c['adex_rheobase_pA']:.1f} pA, lowest rate {c['adex_min_rate_hz']:.1f} Hz\n")
    w("\nChecks\n")
    w(f"  {'result':<9} {'check':<45} {'value':>10} {'tolerance':>10}  unit\n")
    for ck in result["checks"]:
        state = {"known_gap": "known gap", "pass": "pass"}.get(ck["status"], "FAIL")
        unit = ck["unit"] if ck["unit"] not in (None, "", "1") else "dimensionless"
        w(f"  {state:<9} {ck['check']:<45} {_fmt(ck['value']):>10} {_fmt(ck['tolerance']):>10}  {unit}\n")
    w("\n  (tolerances and known gaps: lifbridge/validation/tolerances.py)\n\n" + what_does_not_match(result) + "\n")
    w(f"wall time {result['wall_time_s']['total']:.1f} s\n")


if __name__ == "__main__":
    sys.exit(main())
