"""The spike-input protocol: single spikes through every port (PSC and PSP against closed
forms or the reference) and frozen Poisson input (spike times against the reference), run
the same way on every backend; wrong synaptic dynamics are caught."""

from dataclasses import replace

import numpy as np
import pytest

import lifbridge
from lifbridge.validation import checks
from lifbridge.validation.protocols import spike_input_batch, spike_weight
from lifbridge.validation.references import late_release_reference, reference_batch
from lifbridge.errors import ParameterError
from lifbridge.stimulus import SpikeTrain, Stimulus


@pytest.fixture(scope="module", params=["lif_psc_alpha", "lif_cond_alpha", "izhikevich_psc_delta"])
def spike_batch(request):
    model = lifbridge.load(request.param)
    batch = spike_input_batch(model, quick=True)
    return batch, reference_batch(batch), late_release_reference(batch)


def judged(batch, reference, late, result):
    return checks.spike_input_checks(batch, result, reference, late)


def simulate(backend, model, batch, stimulus=None):
    from conftest import skip_unless_supported

    skip_unless_supported(backend, model)
    return backend.runner_module().simulate(model, stimulus or batch.stimulus, duration_ms=batch.duration_ms,
                                            dt_ms=batch.dt_ms, record=batch.record,
                                            record_neurons=batch.record_neurons)


def test_every_port_is_judged_and_a_correct_backend_passes(spike_batch, backend):
    batch, reference, late = spike_batch
    found = judged(batch, reference, late, simulate(backend, batch.model, batch))
    ports = {c.details.get("port") for c in found if c.check == "psp_shape"}
    assert ports == set(batch.model.spike_inputs)
    kinds = {c.check for c in found}
    assert "poisson_coincidence" in kinds and "psp_shape" in kinds
    if batch.model.name != "izhikevich_psc_delta":   # delta synapses carry no current
        assert {"psc_shape", "psc_peak", "psc_integral"} <= kinds
    failed = [c for c in found if not c.passed]
    assert not failed, failed
    poisson = next(c for c in found if c.check == "poisson_coincidence")
    assert sum(poisson.details["n_reference_spikes"]) >= 10


def test_the_reference_meets_the_closed_forms_to_round_off():
    batch = spike_input_batch(lifbridge.load("lif_psc_exp"), quick=True)
    reference = reference_batch(batch)
    found = checks.spike_input_checks(batch, reference, reference)
    assert {c.check for c in found} == {"psc_shape", "psc_peak", "psc_integral", "psp_shape"}
    assert all(c.passed for c in found)
    assert max(c.value for c in found if c.check.startswith("psc")) < 1e-8


@pytest.mark.brian2
@pytest.mark.parametrize("wrong", ["tau_syn", "late_by_a_step", "weight"])
def test_wrong_synaptic_dynamics_are_caught(wrong):
    from lifbridge.backends import get

    model = lifbridge.load("lif_psc_alpha")
    batch = spike_input_batch(model, quick=True)
    reference, late = reference_batch(batch), late_release_reference(batch)
    backend, stimulus = get("brian2"), batch.stimulus
    if wrong == "tau_syn":
        model = model.with_parameters({"tau_syn_exc": 2.2, "tau_syn_inh": 2.2})
    elif wrong == "late_by_a_step":
        stimulus = replace(stimulus, spikes=[replace(t, times_ms=t.times_ms + batch.dt_ms) for t in stimulus.spikes])
    else:
        stimulus = replace(stimulus, spikes=[replace(t, weight=1.05 * t.weight) for t in stimulus.spikes])
    found = judged(batch, reference, late, simulate(backend, model, batch, stimulus))
    failed = {c.check for c in found if not c.passed}
    assert {"psc_shape", "psp_shape"} <= failed, found
    assert "psc_peak" in failed


def test_weights_carry_the_same_charge_with_nests_sign():
    from lifbridge import analytic

    model = lifbridge.load("lif_psc_alpha")
    exc, inh = spike_weight(model, "exc_spikes", 100.0), spike_weight(model, "inh_spikes", 100.0)
    assert exc > 0 and inh < 0
    tau = model.parameters["tau_syn_exc"].value
    assert analytic.synaptic_integral(exc, tau, "alpha") == pytest.approx(100.0, rel=1e-12)
    cond = lifbridge.load("lif_cond_exp")
    g = spike_weight(cond, "exc_spikes", 100.0)       # nS: 100 pA ms over tau_syn_exc, at V halfway to threshold
    p = {n: cond.parameters[n].value for n in ("E_exc", "E_L", "V_th", "tau_syn_exc")}
    driving = p["E_exc"] - 0.5 * (p["E_L"] + p["V_th"])
    assert g * driving * p["tau_syn_exc"] == pytest.approx(100.0, rel=1e-12)
    delta = lifbridge.load("lif_psc_delta")
    assert spike_weight(delta, "inh_spikes", 100.0) == pytest.approx(-100.0 / delta.parameters["C_m"].value)


def test_per_neuron_spikes_reach_only_their_neurons():
    from lifbridge.reference import simulate as reference_simulate

    model = lifbridge.load("lif_psc_delta")
    stimulus = Stimulus(np.zeros(3), spikes=[SpikeTrain("exc_spikes", [5.0], 20.0, [1]),
                                             SpikeTrain("inh_spikes", [5.0], -1.0, [2])])
    result = reference_simulate(model, stimulus, duration_ms=10.0, record=("V_m",))
    V = result.traces["V_m"][1][:, 60]
    E_L = model.parameters["E_L"].value
    assert V[0] == pytest.approx(E_L)
    assert result.spike_times_ms[1].tolist() == [5.0] and len(result.spike_times_ms[2]) == 0
    assert V[2] - E_L == pytest.approx(-np.exp(-1.0 / model.parameters["tau_m"].value), rel=1e-8)


@pytest.mark.slow
def test_a_multi_receptor_model_passes_on_every_backend(backend):
    """Three receptors of three kinetics, one of them inhibitory (NEST: receptor types 1..3)."""
    model = lifbridge.load("lif", receptors=[(1, "psc_exp", {"tau_syn": 3.0}), (2, "psc_alpha", {"tau_syn": 5.0}),
                                             (3, "cond_exp", {"E": -80.0, "tau_syn": 10.0}, "inhibitory")])
    batch = spike_input_batch(model, quick=True)
    if backend.name.startswith("pynn."):
        # a PyNN cell type has one weight unit: current and conductance receptors cannot share one
        with pytest.raises(ParameterError, match="one weight unit"):
            simulate(backend, model, batch)
        return
    reference, late = reference_batch(batch), late_release_reference(batch)
    found = judged(batch, reference, late, simulate(backend, model, batch))
    assert {c.details.get("port") for c in found if c.check == "psc_shape"} == {"rec1_spikes", "rec2_spikes",
                                                                              "rec3_spikes"}
    failed = [c for c in found if not c.passed]
    assert not failed, failed


def test_spikes_in_the_same_step_add_up_on_every_backend(backend):
    """Two spikes of one train in one step (and one more from a second train) deliver three weights."""
    from conftest import skip_unless_supported

    model = lifbridge.load("lif_psc_delta")
    skip_unless_supported(backend, model)
    stimulus = Stimulus(np.zeros(1), spikes=[SpikeTrain("exc_spikes", [5.0, 5.0, 8.0], 2.0, [0]),
                                             SpikeTrain("exc_spikes", [5.0], 2.0, [0])])
    result = backend.runner_module().simulate(model, stimulus, duration_ms=10.0, dt_ms=0.1, record=("V_m",))
    t, V, _ = result.traces["V_m"]
    E_L, tau_m = model.parameters["E_L"].value, model.parameters["tau_m"].value
    at = int(np.argmin(np.abs(np.asarray(t) - 6.0)))
    # to round-off, or within the backend's own solver error (the tolerance table's psp_shape row)
    from lifbridge.validation.tolerances import tolerance_for

    allowed = tolerance_for("psp_shape", model.name, backend.name).abs
    assert V[0][at] - E_L == pytest.approx(6.0 * np.exp(-(t[at] - 5.0) / tau_m), rel=1e-9, abs=allowed)
