"""What the spinnaker.emulated backend adds to the report at each time step: the weight
quantisation of the spike-input protocol (:data:`lifbridge.backends.base.Backend.report_numbers`).

sPyNNaker holds a weight as 16 bits times a power-of-two scale per receptor, chosen from the
largest summed weight per ring-buffer slot (``population_vertex.py get_ring_buffer_shifts``):
a weight w becomes ``round(w 2^(15 - p) g) 2^(p - 15) / g`` (g: 1, or 1024 for conductances).
"""

from __future__ import annotations

import numpy as np

from ..stimulus import SimResult  # noqa: F401 - the runner's result type
from . import emulate as em
from .mapping import receptor, translate, weight_factor


def weight_numbers(model, dt_ms: float) -> list:
    """Rows {"name", "label", "value", "unit"}: per spike port of the spike-input protocol at
    ``dt_ms``, the ring-buffer shift the emulation chose and the relative error of the
    protocol's single-spike weight as the chip holds it."""
    from ..overrides import resolve
    from ..runners.spinnaker_emulated import simulate
    from ..validation.protocols import spike_input_batch

    if not model.spike_inputs:
        return []
    batch = spike_input_batch(model, dt_ms=dt_ms)
    result = simulate(model, batch.stimulus, duration_ms=batch.duration_ms, dt_ms=dt_ms)
    shifts = result.versions.get("ring_buffer_shifts", {})
    resolved = resolve(model, {}, n=1)
    spinn = translate(model, resolved.parameter_values(), resolved.initial_values())
    rows, seen = [], set()
    for train in batch.stimulus.spikes:
        if train.port in seen:
            continue
        seen.add(train.port)
        sign = receptor(model, train.port)
        conductance = model.synapses[train.port].type == "conductance"
        scale = em.CONDUCTANCE_SCALE if conductance else 1.0
        exact = abs(float(train.weight)) * float(np.ravel(weight_factor(model, train.port, dt_ms, spinn))[0])
        shift = int(shifts.get(sign, em.ring_buffer_shift(exact * scale)))
        w_int, _ = em.quantise_weight(exact, shift, scale)
        held = float(w_int) * em.weight_resolution(shift, scale)
        rows.append({"name": f"weight_shift_{train.port}", "label": f"ring-buffer shift of {train.port}",
                     "value": shift, "unit": ""})
        rows.append({"name": f"weight_error_{train.port}", "label": f"{train.port}: protocol weight as held on the "
                     f"chip, relative error (resolution {em.weight_resolution(shift, scale):.3g})",
                     "value": (held - exact) / exact if exact else 0.0, "unit": ""})
    return rows
