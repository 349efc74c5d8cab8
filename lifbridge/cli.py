"""The ``lifbridge`` command line.

Exit codes: 0 success, 2 bad usage or a bad model file (one message on stderr, no
traceback), 1 any other failure (a failed validation check, a missing simulator).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from . import expr as ex
from .errors import BackendUnavailable, LifbridgeError
from .model import to_unit
from .spec import bundled_models, load
from .units import parse_unit

BACKENDS = ("brian2", "nest")
GENERATE_TARGETS = ("brian2", "nestml")


class UsageError(LifbridgeError):
    """Bad command-line input."""


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["hh-equivalent"]:
        from .hh_equivalent import main as hh_main

        try:
            return hh_main(argv[1:])
        except LifbridgeError as error:
            print(f"lifbridge hh-equivalent: {error}", file=sys.stderr)
            return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.handler(args) or 0
    except BackendUnavailable as error:
        print(f"lifbridge {args.command}: {error}", file=sys.stderr)
        return 1
    except LifbridgeError as error:
        print(f"lifbridge {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lifbridge: interrupted", file=sys.stderr)
        return 1


def build_parser():
    parser = argparse.ArgumentParser(prog="lifbridge", description="Canonical neuron models for Brian2, NEST and PyNN, "
                                     "validated against analytic theory.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("models", help="list the bundled models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_models)

    p = sub.add_parser("show", help="parameters, state and inputs of a model, with units and defaults")
    p.add_argument("model", help="bundled model name or path of a .toml model file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("generate", help="generate simulator code for a model")
    p.add_argument("model")
    p.add_argument("--target", choices=GENERATE_TARGETS, required=True)
    p.add_argument("-o", "--output", help="file to write (default: standard output)")
    p.set_defaults(handler=cmd_generate)

    for name, handler, text in (("run", cmd_run, "simulate one neuron and print its spike times"),
                                ("fi", cmd_fi, "f-I curve: one neuron per current, simulated as one population")):
        p = sub.add_parser(name, help=text)
        p.add_argument("model")
        p.add_argument("--backend", choices=BACKENDS, default="brian2")
        p.add_argument("--duration", type=float, default=1.0, metavar="SECONDS", help="simulated time (s, default 1)")
        p.add_argument("--dt", type=float, default=0.1, metavar="MS", help="time step (ms, default 0.1)")
        p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                       help="parameter value with unit, e.g. C_m=250pF (bare number: the unit 'show' gives)")
        p.add_argument("--init", action="append", default=[], metavar="NAME=VALUE", help="initial value, e.g. V_m=-63mV")
        p.add_argument("--preset", help="named parameter preset (e.g. Izhikevich RS, FS ...)")
        p.add_argument("--target", default="numpy", choices=("numpy", "cython", "cpp_standalone"),
                       help="Brian2 code generation target (default numpy)")
        p.add_argument("--json", action="store_true")
        p.set_defaults(handler=handler)
        if name == "run":
            p.add_argument("--current", default="0pA", metavar="AMP", help="constant current, e.g. 500pA (bare number: pA)")
            p.add_argument("--step", action="append", default=[], metavar="T0:T1:AMP",
                           help="current step from T0 to T1 (ms), e.g. 10:500:500pA")
            p.add_argument("--light", action="append", default=[], metavar="T0:T1:INTENSITY",
                           help="light pulse (models with a light input), e.g. 100:600:5mW/mm**2")
            p.add_argument("--record", action="append", default=[], metavar="VAR", help="variable to record")
        else:
            p.add_argument("--currents", required=True, metavar="START:STOP:N",
                           help="N currents evenly spaced from START to STOP inclusive")
            p.add_argument("--unit", default="pA", help="unit of the currents (default pA)")
            p.add_argument("--steady", action="store_true", help="rate = 1/mean ISI after the first half of the run")

    p = sub.add_parser("validate", help="validate models on every backend against theory and the reference "
                       "integrator, and write a report")
    p.add_argument("--models", nargs="+", metavar="MODEL", help="models to validate (default: all bundled)")
    p.add_argument("--backends", nargs="+", metavar="BACKEND", choices=BACKENDS,
                   help="backends (default: every installed one; --quick: brian2)")
    p.add_argument("--out", default="lifbridge-report", help="output directory (default lifbridge-report/)")
    p.add_argument("--quick", action="store_true", help="short runs and coarse sweeps (under a minute)")
    p.add_argument("--dt", type=float, default=None, metavar="MS",
                   help="time step (ms; default 0.1, or a model's validation_dt_ms hint)")
    p.add_argument("--no-progress", action="store_true", help="no progress output on stderr")
    p.set_defaults(handler=cmd_validate)

    p = sub.add_parser("nest-build", help="generate, compile and cache the NEST module of the given models")
    p.add_argument("models", nargs="*", metavar="MODEL", help="models (default: all bundled)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(handler=cmd_nest_build)

    # its own options are parsed by lifbridge.hh_equivalent.main (see main() below)
    sub.add_parser("hh-equivalent", add_help=False,
                   help="measure the hh model and build equivalent lif and adex models (--help for options)")

    return parser


# ---------------------------------------------------------------------------- commands
def cmd_models(args):
    rows = []
    for name in bundled_models():
        model = load(name)
        rows.append({"name": name, "description": model.description, "reference": model.reference})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        width = max(len(r["name"]) for r in rows)
        for r in rows:
            print(f"{r['name']:<{width}}  {r['description']}")


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
    model = load(args.model)
    summary = model_summary(model)
    if args.json:
        print(json.dumps(summary, indent=2))
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
    model = load(args.model)
    if args.target == "brian2":
        from .brian2 import generate_script

        text = generate_script(model)
    else:
        from .nestml import to_nestml

        text = to_nestml(model)
    if args.output:
        with open(args.output, "w") as handle:
            handle.write(text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)


def prepare_model(args):
    """Load the model, apply the preset and --param values; return (model, initial overrides)."""
    model = load(args.model)
    if args.preset:
        model = model.with_preset(args.preset)
    params = parse_assignments(args.param, "--param")
    for name in params:
        if name not in model.parameters:
            raise UsageError(f"--param {name}: model {model.name!r} has no parameter {name!r}; "
                             f"parameters: {', '.join(model.parameters)}")
    model = model.with_parameters(params)
    inits = parse_assignments(args.init, "--init")
    init_values = {}
    for name, value in inits.items():
        if name not in model.state:
            raise UsageError(f"--init {name}: model {model.name!r} has no state variable {name!r}; "
                             f"state: {', '.join(model.state)}")
        init_values[name] = to_unit(value, model.state[name].unit, f"--init {name}")
    if args.dt <= 0 or args.duration <= 0:
        raise UsageError("--dt and --duration must be positive")
    return model, init_values


def parse_assignments(items, option):
    values = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"{option} {item!r}: write NAME=VALUE, e.g. C_m=250pF")
        name, value = item.split("=", 1)
        values[name.strip()] = value.strip()
    return values


PICOAMP = parse_unit("pA")


def current_in_pA(text, option):
    """A current from the command line (``500pA``, ``0.5nA``; a bare number is pA), in pA."""
    return to_unit(text, PICOAMP, option)


def parse_pulses(items, option, value_reader):
    pulses = []
    for item in items:
        parts = item.split(":", 2)
        if len(parts) != 3:
            raise UsageError(f"{option} {item!r}: write T0:T1:AMPLITUDE with times in ms, e.g. 10:500:500pA")
        try:
            t0, t1 = float(parts[0]), float(parts[1])
        except ValueError:
            raise UsageError(f"{option} {item!r}: T0 and T1 must be numbers (ms)") from None
        if not 0 <= t0 < t1:
            raise UsageError(f"{option} {item!r}: need 0 <= T0 < T1")
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
        print(json.dumps(out))
    else:
        print(f"# {model.name} on {args.backend}: {len(spikes)} spikes in {args.duration:g} s (dt = {args.dt:g} ms)")
        for s in spikes:
            print(f"{s:.4f}")
        for var, (t, values, unit) in result.traces.items():
            print(f"# {var} [{unit}]: min {values[0].min():.6g}, max {values[0].max():.6g}, final {values[0][-1]:.6g}")


def simulate(args, model, stimulus, duration_ms, record=(), inits=None):
    from .runners import get_runner

    runner = get_runner(args.backend)
    options = {"target": args.target} if args.backend == "brian2" else {}
    return runner.simulate(model, stimulus, duration_ms=duration_ms, dt_ms=args.dt, record=record,
                           **options, **(inits or {}))


def parse_currents(text, unit_text):
    parts = text.split(":")
    try:
        start, stop, n = float(parts[0]), float(parts[1]), int(parts[2])
    except (ValueError, IndexError):
        raise UsageError(f"--currents {text!r}: write START:STOP:N, e.g. 0:1000:21") from None
    if len(parts) != 3 or n < 1:
        raise UsageError(f"--currents {text!r}: write START:STOP:N with N >= 1")
    unit = parse_unit(unit_text)
    if unit.dim != PICOAMP.dim:
        raise UsageError(f"--unit {unit_text!r}: a current unit such as pA or nA is needed")
    return np.linspace(start, stop, n), unit.factor_to(PICOAMP)


def cmd_fi(args):
    from .stimulus import Stimulus

    model, inits = prepare_model(args)
    currents, factor = parse_currents(args.currents, args.unit)
    result = simulate(args, model, Stimulus.constant(currents * factor), args.duration * 1000.0, inits=inits)
    rates = result.rates_hz(steady=args.steady)
    if args.json:
        print(json.dumps({"model": model.name, "backend": args.backend, "dt_ms": args.dt,
                          "duration_s": args.duration, "unit": args.unit, "steady": args.steady,
                          "currents": [float(c) for c in currents], "rates_hz": [float(r) for r in rates]}))
    else:
        print(f"# {model.name} on {args.backend}, dt = {args.dt:g} ms, {args.duration:g} s"
              f"{', steady-state rate' if args.steady else ''}")
        print(f"{'I [' + args.unit + ']':>14} {'rate [Hz]':>12}")
        for c, r in zip(currents, rates):
            print(f"{c:>14.6g} {r:>12.6g}")


def cmd_validate(args):
    from .validation import summary_text, validate, write_report
    from .validation.report import is_gap

    models = [load(m) for m in args.models] if args.models else None
    if args.dt is not None and args.dt <= 0:
        raise UsageError("--dt must be positive")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    report = validate(models, args.backends, quick=args.quick, progress=not args.no_progress, dt_ms=args.dt,
                      out_dir=args.out)
    page = write_report(report, args.out)
    print(summary_text(report))
    failed = sum(1 for c in report["checks"] if not c["passed"])
    total = sum(1 for c in report["checks"] if not is_gap(c))
    gaps = len(report["checks"]) - total
    print(f"{total - failed}/{total} checks passed{f', {gaps} known gap(s)' if gaps else ''}; report: {page}")
    return 1 if failed else 0


def cmd_nest_build(args):
    from . import nest as lnest

    models = args.models or None
    built = lnest.build(models, verbose=not args.quiet)
    print(built.module_name)
    for name in built.neuron_names:
        print(f"  {name}")
    print(f"  {built.path}{' (cached)' if built.from_cache else ''}")


if __name__ == "__main__":
    sys.exit(main())
