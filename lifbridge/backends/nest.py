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

from ..validation.tolerances import Tolerance
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


#: Rows of the tolerance table for the generated NEST neurons against NEST's built-ins
#: (check ``builtin_spike_times``; tests/test_compose.py measures them under constant, step
#: and noisy current and Poisson input through every port). ``steps``: same count, every
#: spike within that many steps; ``abs``/``window_ms``: counts within one and at most that
#: fraction of spikes without a partner within the window; neither: identical spike times.
TOLERANCES = (
    Tolerance("builtin_spike_times", "*", NAME, reason="same propagators and update order as iaf_psc_exp/alpha/"
              "delta and their multisynapse models (the synaptic state agrees to 1e-9 of the weight), RKF45 on "
              "both sides for iaf_cond_exp/alpha: identical spike times"),
    Tolerance("builtin_spike_times", "hh*", NAME, steps=1.0, reason="NEST detects a spike when V_m >= threshold "
              "and V_m fell during the step, the spec by the sign of dV_m/dt at the end of the step: a peak late "
              "in a step is found one step apart; HH has no reset, so the offset never accumulates"),
    Tolerance("builtin_spike_times", "adex*", NAME, abs=0.05, window_ms=1.0, reason="at dt = 0.01 ms: NEST's "
              "aeif_* reset at V_peak inside their RKF45 substeps, the generated neuron at the end of the step "
              "(0.04 mV and 0.2 pA left per spike at dt = 0.1 ms, amplified where V_m lingers above V_th); "
              "measured: 0.16 ms, one of 84 spikes 1.05 ms apart under Poisson input (aeif_psc_delta)"),
    Tolerance("builtin_spike_times", "izhikevich*", NAME, abs=0.05, window_ms=1.0, reason="at dt = 0.001 ms: "
              "NEST takes one forward-Euler step per time step, the generated neuron RKF45, a first-order "
              "difference (4.8 ms at dt = 0.1 ms, 0.03 ms at 0.001 ms under a constant current)"),
)


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
    tolerances=TOLERANCES,
    modules=("lifbridge.backends.nest", "lifbridge.nestml", "lifbridge.nest", "lifbridge.nest_build",
             "lifbridge.nest_templates", "lifbridge.runners.nest"),
)
