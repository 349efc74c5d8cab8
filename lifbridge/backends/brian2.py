"""The Brian2 backend: runtime (numpy, cython) or cpp_standalone runs of a ``NeuronGroup``.

Path of a model: spec -> :func:`lifbridge.brian2.to_brian2` (equations, exact synaptic
updates, refractory condition) -> :func:`lifbridge.brian2.neuron_group` -> runner
:mod:`lifbridge.runners.brian2`. ``generate --target brian2`` writes the same as plain
code (:func:`lifbridge.brian2.generate_script`).
"""

from __future__ import annotations

from types import MappingProxyType

from ..validation.tolerances import Tolerance
from .base import APPROXIMATE, EXACT, UNSUPPORTED, Backend, Capability, Generator, Option, gap_of, tolerance_text

NAME = "brian2"

#: Brian2's integration methods that are exact for the equations they accept.
EXACT_METHODS = ("exact", "linear")

_METHOD_WORDS = {"euler": ("forward Euler", "first order"), "exponential_euler": ("exponential Euler", "first order"),
                 "heun": ("Heun's method", "second order"), "rk2": ("second-order Runge-Kutta", "second order"),
                 "rk4": ("fourth-order Runge-Kutta", "fourth order")}


def capability(model, backend=NAME) -> Capability:
    gap = gap_of(model.name, backend)
    if gap is not None:
        return Capability(model.name, backend, UNSUPPORTED, gap.reason)
    from ..brian2 import integration_method

    method = integration_method(model)
    if method in EXACT_METHODS:
        return Capability(model.name, backend, EXACT, f"linear equations integrated exactly (Brian2 {method!r}); "
                          "spikes found on the time grid")
    words, order = _METHOD_WORDS.get(method, (method, None))
    reason = (f"membrane integrated with {words}{f' ({order})' if order else ''} at fixed dt; linear synaptic "
              "variables exactly")
    return Capability(model.name, backend, APPROXIMATE, reason,
                      tolerance_text("fi_steady_rate", model.name, backend))


def step_note(model) -> str:
    """Why a step finer than the model's hint matters on Brian2 (its method's order)."""
    from ..brian2 import integration_method

    method = integration_method(model)
    words, order = _METHOD_WORDS.get(method, (method, None))
    return f"Brian2 {words} is {order}" if order else f"Brian2 integrates it with {words}"


#: Rows of the tolerance table for Brian2's own integration methods (measured with the
#: spike-input protocol on every composition, lifbridge validate).
TOLERANCES = (
    Tolerance("psp_shape", "*_cond_*", NAME, abs=5e-3, reason="RK4 at dt = 0.1 ms with conductances of "
              "tau_syn_exc = 0.2 ms (NEST's defaults): the membrane sees g(t) V(t), a product that RK4 integrates "
              "to fourth order in dt/tau_syn = 0.5 (worst 0.002 mV of 0.3-1 mV PSPs, izhikevich_cond_alpha)"),
    Tolerance("psp_shape", "adex*", NAME, abs=5e-3, reason="RK4 at dt = 0.1 ms on the exponential term with "
              "tau_syn_exc = 0.2 ms (worst 0.001 mV)"),
    Tolerance("psp_shape", "hh*", NAME, abs=0.05, reason="hh's Brian2 method is exponential Euler (first "
              "order; the method of Brian2's own HH examples): at dt = 0.01 ms its PSP is off by up to 0.03 mV "
              "of 1.2 mV; RK4 (method=\"rk4\") meets the reference to 1e-7 mV"),
    Tolerance("psp_shape", "hh_cond_*", NAME, abs=0.05, reason="as hh_*: exponential Euler at dt = 0.01 ms "
              "(worst 0.028 mV, hh_cond_exp)"),
    Tolerance("psp_shape", "hh_traub*", NAME, abs=1e-4, reason="RK4 at dt = 0.01 ms (worst 6e-6 mV)"),
)


BACKEND = Backend(
    name=NAME,
    label="Brian2",
    description="Brian2 NeuronGroup (runtime numpy/cython or cpp_standalone), equations generated from the spec",
    packages=(("brian2", "brian2"),),
    install_hint="pip install 'brian2==2.9.0'",
    runner="lifbridge.runners.brian2",
    capability=capability,
    generators=MappingProxyType({
        "brian2": Generator("lifbridge.brian2:generate_script", "Brian2 code: namespace, equations, threshold, "
                            "reset, refractory condition, exact synaptic updates, method", ".py"),
    }),
    options=MappingProxyType({
        "target": Option(("numpy", "cython", "cpp_standalone"), "numpy", "Brian2 code generation target",
                         validation_default="cython"),
    }),
    in_quick_runs=True,
    color="tab:blue",
    step_note=step_note,
    tolerances=TOLERANCES,
    modules=("lifbridge.backends.brian2", "lifbridge.brian2", "lifbridge.runners.brian2"),
)
