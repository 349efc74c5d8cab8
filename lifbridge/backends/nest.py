"""The NEST backend: NESTML generated from the spec, compiled into a NEST extension module.

Path of a model: spec -> :func:`lifbridge.nestml.to_nestml` (``generate --target
nestml``; committed under ``nestml_models/``) -> :func:`lifbridge.nest.build` /
:func:`lifbridge.nest.install` (:mod:`lifbridge.nest_build`, cached by content hash,
templates of :mod:`lifbridge.nest_templates`) -> runner :mod:`lifbridge.runners.nest`
(also runs NEST's built-in equivalents, :data:`lifbridge.nest.BUILTIN_EQUIVALENTS`).
Its own command: ``lifbridge nest-build``.
"""

from __future__ import annotations

from types import MappingProxyType

from .base import APPROXIMATE, EXACT, UNSUPPORTED, Backend, Capability, Command, Generator, gap_of, tolerance_text

NAME = "nest"
PIP_HINT = "pip install 'lifbridge[nest]'"


def capability(model, backend=NAME) -> Capability:
    gap = gap_of(model.name, backend)
    if gap is not None:
        return Capability(model.name, backend, UNSUPPORTED, gap.reason)
    from ..nest import builtin_equivalent

    equivalent = builtin_equivalent(model)
    builtin = f"; NEST built-in equivalent {equivalent.builtin}: {equivalent.note}" if equivalent else ""
    try:
        linear = model.is_linear()  # NESTML/ODE-toolbox then uses exact propagators
    except Exception:  # noqa: BLE001 - a model the analysis cannot read is treated as nonlinear
        linear = False
    if linear:
        return Capability(model.name, backend, EXACT, "linear equations integrated exactly with propagators "
                          f"(NESTML/ODE-toolbox); spikes found on the time grid{builtin}")
    return Capability(model.name, backend, APPROXIMATE, "integrated with GSL's adaptive RKF45 (error tolerance "
                      f"gsl_abs_error_tol/gsl_rel_error_tol, default 1e-6) within each time step{builtin}",
                      tolerance_text("fi_steady_rate", model.name, backend))


def build_notes() -> str:
    """"" if new NEST modules can be built here, else one line naming what to install."""
    from ..nest_build import NestBuildError, check_build_prerequisites

    try:
        check_build_prerequisites()
    except NestBuildError as error:
        lines = [line.strip(" -") for line in str(error).splitlines()[1:] if line.strip()]
        return ("cannot build new NEST modules (cached ones still run): " + "; ".join(lines))[:400]
    return ""


# ---------------------------------------------------------------------------- lifbridge nest-build
def _build_arguments(parser):
    parser.add_argument("models", nargs="*", metavar="MODEL", help="models (default: all bundled)")
    parser.add_argument("--quiet", action="store_true")


def _build_command(args):
    from .. import nest as lnest
    from ..cli import load_model

    models = [load_model(m) for m in args.models] or None
    BACKEND.require()  # not installed: the same message and exit status as run --backend nest
    built = lnest.build(models, verbose=not args.quiet)
    print(built.module_name)
    for name in built.neuron_names:
        print(f"  {name}")
    print(f"  {built.path}{' (cached)' if built.from_cache else ''}")


BACKEND = Backend(
    name=NAME,
    label="NEST",
    description="NEST 3 with NESTML-generated neurons (<model>_neuron) compiled into a cached extension module",
    packages=(("nest", "nest-simulator"), ("pynestml", "nestml")),
    install_hint=PIP_HINT,
    runner="lifbridge.runners.nest",
    capability=capability,
    generators=MappingProxyType({
        "nestml": Generator("lifbridge.nestml:to_nestml", "NESTML neuron <model>_neuron", ".nestml"),
    }),
    probe=build_notes,
    color="tab:orange",
    commands=(Command("nest-build", "generate, compile and cache the NEST module of the given models",
                      _build_arguments, _build_command),),
    modules=("lifbridge.backends.nest", "lifbridge.nestml", "lifbridge.nest", "lifbridge.nest_build",
             "lifbridge.nest_templates", "lifbridge.runners.nest"),
)
