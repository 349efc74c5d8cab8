"""The pynn.neuron backend: PyNN 0.13 on NEURON, with lifbridge's NMODL point processes.

Path of a model: spec -> :func:`lifbridge.nmodl.to_nmodl` (one ``POINT_PROCESS`` per
model; ``generate --target nmodl``) -> :mod:`lifbridge.nmodl_build` (``nrnivmodl``, cached
by content hash) -> :mod:`lifbridge.pynn.neuron` (a PyNN cell type with PyNN's names and
units, :mod:`lifbridge.pynn.names`) -> runner :mod:`lifbridge.runners.pynn_neuron` (one
PyNN population, PyNN's current sources and spike sources).

This backend stands on its own: its code generator is its own (NMODL), so it needs no
other lifbridge backend.
"""

from __future__ import annotations

from types import MappingProxyType

from ..validation.tolerances import Tolerance
from .base import APPROXIMATE, UNSUPPORTED, Backend, Capability, Generator, gap_of, tolerance_text

NAME = "pynn.neuron"


def capability(model, backend=NAME) -> Capability:
    gap = gap_of(model.name, backend)
    if gap is not None:
        return Capability(model.name, backend, UNSUPPORTED, gap.reason)
    if model.light_input is not None:
        return Capability(model.name, backend, UNSUPPORTED, "PyNN's current sources reach only the current input; "
                          "the light input is not reachable through PyNN")
    from ..nmodl import solver, to_nmodl

    try:
        to_nmodl(model)
    except Exception as error:  # noqa: BLE001 - the printer's one-line reason is the capability's
        return Capability(model.name, backend, UNSUPPORTED, str(error))
    from ..nmodl import membrane

    others = [x for x in model.state if x != membrane(model).variable]
    method = solver(model, others) if others else "none"
    return Capability(model.name, backend, APPROXIMATE, "NEURON's fixed-step implicit integration of the membrane "
                      f"(first order); other state variables with NMODL {method}; spikes found on the time grid "
                      "(WATCH)", tolerance_text("fi_steady_rate", model.name, backend))


def build_notes() -> str:
    """"" if new NEURON mechanisms can be built here, else one line naming what to install."""
    from ..nmodl_build import NmodlBuildError, check_build_prerequisites

    try:
        check_build_prerequisites()
    except NmodlBuildError as error:
        return f"cannot build new NEURON mechanisms (cached ones still run): {error}"
    return ""


_RECORDED_BEFORE_EVENTS = ("NEURON records a state at grid point t before it delivers the input spikes of t: "
                           "the sample at the spike time holds the value before the spike (100% of the peak there); "
                           "from the next sample on exponential kinetics agree with the closed form (cnexp)")
_IMPLICIT = ("NEURON integrates the membrane with implicit Euler (first order; Crank-Nicolson for membranes without a "
             "refractory clamp) at the run's dt")

#: Rows of the tolerance table for NEURON's own integration (measured with lifbridge validate --quick and the
#: spike-input protocol, dt = 0.1 ms, 0.01 ms for hh*): the value measured, and why.
TOLERANCES = (
    Tolerance("psc_shape", "*", NAME, rel=1.0, reason=_RECORDED_BEFORE_EVENTS),
    Tolerance("psc_peak", "*", NAME, rel=0.06, reason="the peak sample is one step after the spike ("
              + _RECORDED_BEFORE_EVENTS + "); measured 0.049 at dt/tau_syn = 0.05"),
    Tolerance("psc_integral", "*", NAME, rel=0.03, reason="the missing first sample: measured 0.025 (exp kinetics), "
              "0.025 (hh's alpha kinetics, cnexp on the coupled pair)"),
    Tolerance("psp_shape", "*", NAME, abs=0.04, reason=_IMPLICIT + " and the PSC enters one step late (see psc_shape): "
              "measured 0.0058 mV (lif), 0.03 mV (hh at dt = 0.01 ms)"),
    Tolerance("psp_shape", "izhikevich*", NAME, abs=2.5, reason="the delta synapse's jump of v is recorded one "
              "step late (" + _RECORDED_BEFORE_EVENTS + "): the full jump at that sample"),
    Tolerance("step_voltage", "*", NAME, abs=0.02, reason=_IMPLICIT + ": measured 0.015 mV (lif), 0.0095 mV (lif_cond)"),
    Tolerance("step_voltage", "adaptive_lif", NAME, abs=0.02, reason=_IMPLICIT + ": measured 0.015 mV"),
    Tolerance("step_voltage", "lif_cond", NAME, abs=0.02, reason=_IMPLICIT + ": measured 0.0095 mV"),
    Tolerance("step_spike_times", "*", NAME, steps=20.0, reason=_IMPLICIT + ": the first-order rate error moves later "
              "spikes by up to 1.9 ms (lif_cond, 0.1 ms steps)"),
    Tolerance("fi_steady_rate", "*", NAME, steps=1.0, rel=0.01, reason=_IMPLICIT + ": measured 0.41 Hz of ~100 Hz (lif)"),
)

BACKEND = Backend(
    name=NAME,
    label="PyNN/NEURON",
    description="PyNN 0.13 (pyNN.neuron) running lifbridge's generated NMODL point process as a PyNN cell type",
    packages=(("pyNN", "PyNN"), ("neuron", "neuron")),
    install_hint="pip install 'lifbridge[pynn]' neuron",
    runner="lifbridge.runners.pynn_neuron",
    capability=capability,
    generators=MappingProxyType({
        "nmodl": Generator("lifbridge.nmodl:to_nmodl", "NEURON NMODL point process lb_<model> (membrane = the "
                           "section's v; NEURON units)", ".mod"),
    }),
    # run when named (validate --backends pynn.neuron ...), like the other PyNN backends
    in_full_runs=False,
    probe=build_notes,
    color="tab:brown",
    tolerances=TOLERANCES,
    modules=("lifbridge.backends.pynn_neuron", "lifbridge.nmodl", "lifbridge.nmodl_build", "lifbridge.pynn.neuron",
             "lifbridge.runners.pynn_neuron"),
)
