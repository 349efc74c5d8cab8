"""The Brian2 backend: runtime (numpy, cython) or cpp_standalone runs of a ``NeuronGroup``.

Path of a model: spec -> :func:`lifbridge.brian2.to_brian2` (equations, exact synaptic
updates, refractory condition) -> :func:`lifbridge.brian2.neuron_group` -> runner
:mod:`lifbridge.runners.brian2`. ``generate --target brian2`` writes the same as plain
code (:func:`lifbridge.brian2.generate_script`).
"""

from __future__ import annotations

from types import MappingProxyType

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
    modules=("lifbridge.backends.brian2", "lifbridge.brian2", "lifbridge.runners.brian2"),
)
