"""The nir backend: the LIF family exported as NIR 1.0.8 graphs, read back and run as NIR documents them.

Path of a model: spec -> :mod:`lifbridge.nir_graph` (``CubaLIF``, ``LIF``, ``IF`` or
``LI`` -> ``IF``, in the units stated there) -> ``nir.write`` -> ``nir.read`` -> runner
:mod:`lifbridge.runners.nir` (the nodes' documented equations, integrated exactly per step
with numpy). ``lifbridge generate MODEL --target nir -o model.nir`` writes the file. What
the validation measures is the exported graph: what a NIR platform is given, before its
own discretisation.
"""

from __future__ import annotations

from types import MappingProxyType

from ..validation.tolerances import KnownGap
from .base import APPROXIMATE, EXACT, UNSUPPORTED, Backend, Capability, Generator, bundled_model_gaps, gap_of

NAME = "nir"


def _t_ref_ms(model) -> float:
    from ..units import parse_unit

    if "t_ref" not in model.parameters:
        return 0.0
    p = model.parameters["t_ref"]
    return p.value * p.unit.factor_to(parse_unit("ms"))


def capability(model, backend=NAME) -> Capability:
    from ..nir_graph import NIR_VERSION, mapping, refusal

    reason = refusal(model)
    if reason:
        return Capability(model.name, backend, UNSUPPORTED, reason)
    gap = gap_of(model.name, backend)
    if gap is not None:
        return Capability(model.name, backend, UNSUPPORTED, gap.reason)
    note = mapping(model).note + "; integrated exactly per step from NIR's documented equations"
    t_ref = _t_ref_ms(model)
    if t_ref > 0:
        return Capability(model.name, backend, APPROXIMATE,
                          f"{note}; NIR {NIR_VERSION} has no refractory period, so t_ref = {t_ref:g} ms is dropped: "
                          "spike timing differs (a known gap, with its numbers), the subthreshold response is exact",
                          "spike timing: known gap (no refractory period)")
    return Capability(model.name, backend, EXACT, note)


def _unexpressible_gaps() -> tuple:
    """A known gap for every bundled model that NIR 1.0 cannot express (reason from the mapping)."""
    from ..nir_graph import refusal

    return bundled_model_gaps(NAME, refusal)


# Tolerances: the table's rows for every backend apply as written (linear models integrated exactly:
# round-off; the grid bound for spike times); the exported graph needs no row of its own.

#: The exported LIF family has no refractory period (NIR 1.0 has none); the bundled models have
#: t_ref = 2 ms. The subthreshold checks pass exactly; the checks on spike timing measure the
#: difference and report it (numbers from lifbridge validate --quick --backends nir at dt = 0.1 ms).
_NO_REFRACTORY = ("NIR 1.0 has no refractory period: the exported model drops t_ref = 2 ms and fires again right "
                  "after its reset, so it fires faster the faster it fires (measured with validate --quick at "
                  "dt = 0.1 ms: lif 476 Hz at 2000 pA where the closed form with t_ref gives 245 Hz, pif 263 Hz at "
                  "1000 pA against 174 Hz; 39-83% of the frozen-noise and Poisson spikes without a partner); with "
                  "t_ref = 0 the graph's spikes are the reference's within the grid bound (tests/test_nir.py)")
_SPIKE_TIMING = ("fi_steady_rate", "fi_first_isi_rate", "step_spike_times", "frozen_noise_coincidence",
                 "poisson_coincidence", "siegert_rate")
REFRACTORY_GAPS = tuple(KnownGap(pattern, NAME, check, _NO_REFRACTORY)
                        for pattern in ("lif", "lif_psc_exp", "lif_psc_delta", "pif", "pif_psc_exp", "pif_psc_delta")
                        for check in _SPIKE_TIMING)

BACKEND = Backend(
    name=NAME,
    label="NIR (exported graph)",
    description="the LIF family exported as NIR 1.0.8 graphs (CubaLIF, LIF, IF; ms, mV, nA, MOhm), read back with "
                "nir.read and integrated exactly from NIR's documented node equations (numpy)",
    packages=(("nir", "nir"),),
    install_hint="pip install 'lifbridge[nir]' (nir 1.0.8)",
    runner="lifbridge.runners.nir",
    capability=capability,
    generators=MappingProxyType({
        "nir": Generator("lifbridge.nir_graph:to_bytes", "NIR 1.0.8 graph (HDF5) of the LIF family: CubaLIF, LIF, "
                         "IF; needs --param t_ref=0ms (NIR has no refractory period) and -o FILE", ".nir"),
    }),
    in_quick_runs=False,
    in_full_runs=True,
    color="tab:olive",
    known_gaps=_unexpressible_gaps() + REFRACTORY_GAPS,
    modules=("lifbridge.backends.nir", "lifbridge.runners.nir", "lifbridge.nir_graph"),
)
