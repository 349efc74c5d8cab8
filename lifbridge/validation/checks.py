"""Comparisons of backend results with the references; each gives check records.

Every check is a :class:`lifbridge.records.CheckRecord` made by
:func:`lifbridge.records.check_record`: model, backend, check, protocol, value,
tolerance, unit, passed, status, reason, details. ``status`` is "pass", "fail",
"known_gap" or "diverged" (:func:`diverged_record`: a run whose state became
non-finite or ran away is never judged, and never passes). Nothing here imports a
simulator.
"""

from __future__ import annotations

import numpy as np

from ..divergence import membrane_potential
from ..records import check_record, diverged_check, number
from ..stimulus import first_isi_rate, steady_rate
from .references import analytic_fi, siegert_reference
from .tolerances import known_gap, rate_allowance, tolerance_for


def _record(model, backend, check, protocol, value, tolerance, unit, passed, reason, **details):
    gap = known_gap(model, backend, check)
    # A known gap is reported with its numbers but does not fail the run.
    return check_record(model, backend, check, protocol, value, tolerance, unit, passed, reason,
                        known_gap=gap.reason if gap else None, details=details)


#: The record of a run that diverged: status "diverged", never passed, not judged further.
diverged_record = diverged_check


def fi_checks(batch, result, reference):
    """Steady-state and first-ISI rates of the f-I sweep against the judge."""
    model, backend = batch.model.name, result.backend
    protocol = batch.protocol("fi")
    currents = np.asarray(protocol.info["currents_pA"])
    idx = protocol.neurons
    duration = batch.duration_ms
    backend_steady = np.array([steady_rate(result.spike_times_ms[i], duration) for i in idx])
    ref_steady = np.array([steady_rate(reference.spike_times_ms[i], duration) for i in idx])
    closed = analytic_fi(batch.model, currents)
    judge = closed if closed is not None else ref_steady
    judge_name = f"closed-form {batch.model.hints.get('analytic')} f-I" if closed is not None else "reference integrator"
    # a rate is measurable if at least a few intervals fit in the second half of the run
    measurable = (judge == 0) | (judge * duration / 2000.0 >= 3)
    tol = tolerance_for("fi_steady_rate", model, backend)
    allowed = rate_allowance(judge, result.dt_ms, tol)
    error = np.abs(backend_steady - judge)
    ok = (error <= allowed + 1e-9) | ~measurable
    # the point closest to (or furthest beyond) its tolerance
    worst = int(np.argmax(np.where(measurable, error / np.maximum(allowed, 1e-12), -np.inf)))
    records = [_record(model, backend, "fi_steady_rate", "fi", error[worst], allowed[worst],
                       "Hz", ok.all(), tol.reason, judge=judge_name, currents_pA=currents, rate_hz=backend_steady,
                       judge_rate_hz=judge, reference_rate_hz=ref_steady, allowed_hz=allowed, measurable=measurable,
                       worst_current_pA=currents[worst])]
    if closed is not None:
        # the reference integrator must agree with the closed form as well
        records[0].details["reference_vs_closed_form_max_hz"] = number(np.max(np.abs(ref_steady - closed)[measurable]))
    backend_first = np.array([first_isi_rate(result.spike_times_ms[i]) for i in idx])
    ref_first = np.array([first_isi_rate(reference.spike_times_ms[i]) for i in idx])
    tol = tolerance_for("fi_first_isi_rate", model, backend)
    allowed = rate_allowance(ref_first, result.dt_ms, tol)
    error = np.abs(backend_first - ref_first)
    # measurable: the reference's first interval fits three times into the run
    both = (ref_first == 0) & (np.array([len(result.spike_times_ms[i]) for i in idx]) >= 2) \
        | (ref_first * duration / 1000.0 >= 3)
    worst = int(np.argmax(np.where(both, error / np.maximum(allowed, 1e-12), -np.inf)))
    records.append(_record(model, backend, "fi_first_isi_rate", "fi", error[worst], allowed[worst],
                           "Hz", np.all((error <= allowed + 1e-9) | ~both), tol.reason, judge="reference integrator",
                           currents_pA=currents, rate_hz=backend_first, judge_rate_hz=ref_first, allowed_hz=allowed))
    return records


def step_checks(batch, result, reference):
    protocol = batch.protocol("step")
    if protocol is None:
        return []
    model, backend = batch.model.name, result.backend
    membrane = membrane_potential(batch.model)  # the voltage state the spike condition reads
    records = []
    for label, i in zip(("subthreshold", "suprathreshold"), protocol.neurons):
        ref_spikes = np.asarray(reference.spike_times_ms[i])
        spikes = np.asarray(result.spike_times_ms[i])
        if len(ref_spikes) == 0 and membrane in result.traces:
            row = batch.record_neurons.index(i)
            diff = np.abs(np.subtract(*aligned_trace(result, reference, membrane, row)))
            tol = tolerance_for("step_voltage", model, backend)
            records.append(_record(model, backend, "step_voltage", "step", diff.max(), tol.abs,
                                   batch.model.state[membrane].unit.name,
                                   diff.max() <= tol.abs and len(spikes) == 0, tol.reason, level=label,
                                   amplitude_pA=protocol.info["amplitudes_pA"][0 if label == "subthreshold" else 1],
                                   backend_spikes=len(spikes)))
        elif len(ref_spikes):
            tol = tolerance_for("step_spike_times", model, backend)
            records.append(_spike_time_record(model, backend, "step_spike_times", "step", spikes, ref_spikes,
                                              result.dt_ms, tol, level=label))
    return records


def aligned_trace(result, reference, var, row):
    """The backend's and the reference's samples of ``var`` at the times both recorded."""
    t_b, v_b, _ = result.traces[var]
    t_r, v_r, _ = reference.traces[var]
    keys_r = {round(float(t), 6): k for k, t in enumerate(t_r)}
    pairs = [(k, keys_r[round(float(t), 6)]) for k, t in enumerate(t_b) if round(float(t), 6) in keys_r]
    kb, kr = (np.array(x, dtype=int) for x in zip(*pairs)) if pairs else (np.array([], int), np.array([], int))
    return np.asarray(v_b[row])[kb], np.asarray(v_r[row])[kr]


def _spike_time_record(model, backend, check, protocol, spikes, ref_spikes, dt_ms, tol, **details):
    """Spike k may be off by (k+1) * steps * dt (grid errors accumulate once per interval),
    plus ``rel`` times its time (the drift of a numerical scheme's rate error)."""
    n = min(len(spikes), len(ref_spikes))
    allowed = (np.arange(n) + 1) * tol.steps * dt_ms + tol.rel * np.asarray(ref_spikes[:n])
    diff = np.abs(spikes[:n] - ref_spikes[:n])
    count_ok = abs(len(spikes) - len(ref_spikes)) <= 1
    within = bool(np.all(diff <= allowed + 1e-9)) and count_ok
    worst = int(np.argmax(diff - allowed)) if n else 0
    return _record(model, backend, check, protocol, diff.max(initial=0.0), allowed[worst] if n else 0.0, "ms",
                   within, tol.reason, n_spikes=len(spikes), n_reference_spikes=len(ref_spikes),
                   max_abs_error_ms=diff.max(initial=0.0), **details)


def _has_partner(spikes, others, window_ms):
    """For each spike, whether ``others`` has one within ``window_ms``."""
    spikes, others = np.asarray(spikes, dtype=float), np.asarray(others, dtype=float)
    if len(others) == 0:
        return np.zeros(len(spikes), dtype=bool)
    pos = np.searchsorted(others, spikes)
    lo = np.abs(spikes - others[np.clip(pos - 1, 0, len(others) - 1)])
    hi = np.abs(spikes - others[np.clip(pos, 0, len(others) - 1)])
    return np.minimum(lo, hi) <= window_ms + 1e-9


def bracketed_coincidence(spikes, reference, late, window_ms):
    """(unmatched, counted, grazing) spikes of one neuron against two bracketing references.

    ``reference`` is the exact solution and ``late`` the same with the refractory clamp
    released one step later (None: no bracket, ``late`` = ``reference``). A backend spike
    is unmatched if neither reference has one within the window; a reference spike is
    missed if both references have it (it is robust) and the backend has none. Spikes on
    which the two references disagree graze the threshold: a clock-driven simulator may
    or may not have them, so they are counted in neither direction (``grazing``).
    """
    spikes, reference = np.asarray(spikes, dtype=float), np.asarray(reference, dtype=float)
    late = reference if late is None else np.asarray(late, dtype=float)
    either = np.union1d(reference, late)
    robust = reference[_has_partner(reference, late, window_ms)]
    grazing = len(reference) - len(robust) + int(np.sum(~_has_partner(late, reference, window_ms)))
    unmatched = int(np.sum(~_has_partner(spikes, either, window_ms))) \
        + int(np.sum(~_has_partner(robust, spikes, window_ms)))
    return unmatched, len(spikes) + len(robust), grazing


def frozen_noise_checks(batch, result, reference, late_release=None):
    """Spikes under the same noise realisation: at most a fraction of them without a partner.

    ``late_release``: the reference with the refractory clamp released one step later
    (:func:`lifbridge.validation.references.late_release_model`); with it, spikes that
    graze the threshold, on which the two references disagree, are not counted.
    """
    return _coincidence_records(batch, result, reference, late_release, "frozen_noise", "frozen_noise_coincidence")


def _coincidence_records(batch, result, reference, late_release, protocol_name, check):
    protocol = batch.protocol(protocol_name)
    if protocol is None:
        return []
    model, backend = batch.model.name, result.backend
    tol = tolerance_for(check, model, backend)
    window = tol.window_ms
    unmatched, total, grazing, fractions = 0, 0, 0, []
    for i in protocol.neurons:
        late = None if late_release is None else late_release.spike_times_ms[i]
        u, n, g = bracketed_coincidence(result.spike_times_ms[i], reference.spike_times_ms[i], late, window)
        unmatched, total, grazing = unmatched + u, total + n, grazing + g
        fractions.append(1.0 - u / n if n else 1.0)
    fraction = unmatched / max(total, 1)
    return [_record(model, backend, check, protocol_name, fraction, tol.abs, "fraction",
                    fraction <= tol.abs and total > 0, tol.reason, window_ms=window,
                    matched_fraction_per_neuron=fractions, unmatched_spikes=unmatched,
                    grazing_reference_spikes=grazing, bracketed=late_release is not None,
                    n_spikes=[len(result.spike_times_ms[i]) for i in protocol.neurons],
                    n_reference_spikes=[len(reference.spike_times_ms[i]) for i in protocol.neurons])]


def light_checks(batch, result, reference):
    protocol = batch.protocol("light_pulse")
    if protocol is None:
        return []
    model, backend = batch.model.name, result.backend
    records = []
    # the open fraction is the state the model declares ([hints].opsin_states.open)
    open_state = batch.model.hints.get("opsin_states", {}).get("open")
    if open_state is not None and open_state in result.traces and open_state in reference.traces:
        rows = [batch.record_neurons.index(i) for i in protocol.neurons]
        diff = max(np.max(np.abs(np.subtract(*aligned_trace(result, reference, open_state, row)))) for row in rows)
        _, o_r, _ = reference.traces[open_state]
        tol = tolerance_for("light_open_fraction", model, backend)
        peak = float(np.max(o_r[rows[0]]))
        t0, t1 = protocol.info["t0_ms"], protocol.info["t1_ms"]
        t = np.asarray(reference.traces[open_state][0])
        plateau = float(o_r[rows[0]][np.searchsorted(t, t1) - 2])
        records.append(_record(model, backend, "light_open_fraction", "light_pulse", diff, tol.abs, "fraction",
                               diff <= tol.abs, tol.reason, reference_peak=peak, reference_end_of_pulse=plateau))
    i = protocol.neurons[1]
    spikes = np.asarray(result.spike_times_ms[i])
    t0, t1 = protocol.info["t0_ms"], protocol.info["t1_ms"]
    inside = spikes[(spikes >= t0) & (spikes < t1)]
    tol = tolerance_for("light_rate_adaptation", model, backend)
    if len(inside) >= 4:
        early = first_isi_rate(inside)
        late = 1000.0 / np.mean(np.diff(inside[-3:]))
        records.append(_record(model, backend, "light_rate_adaptation", "light_pulse", late - early, tol.abs, "Hz",
                               late < early, tol.reason, early_rate_hz=early, late_rate_hz=late,
                               n_spikes=len(inside)))
    else:
        records.append(_record(model, backend, "light_rate_adaptation", "light_pulse", None, tol.abs, "Hz", False,
                               tol.reason + " (too few spikes during the pulse to measure)", n_spikes=len(inside)))
    return records


def siegert_checks(batch, result):
    protocol = batch.protocol("siegert")
    model, backend = batch.model.name, result.backend
    tol = tolerance_for("siegert_rate", model, backend)
    labels = [tuple(x) for x in protocol.info["labels"]]
    points = [tuple(p) for p in protocol.info["points"]]
    seconds = batch.duration_ms / 1000.0
    measured, expected, allowed, stderr = [], [], [], []
    for point in points:
        idx = [i for i, lab in enumerate(labels) if lab == point]
        count = sum(len(result.spike_times_ms[i]) for i in idx)
        total = seconds * len(idx)
        rate = count / total
        theory = float(siegert_reference(batch.model, point[0], point[1], result.dt_ms))
        se = np.sqrt(max(theory, rate, 1.0 / total) / total)
        measured.append(rate)
        expected.append(theory)
        stderr.append(se)
        allowed.append(4 * se + 1.0)
    error = np.abs(np.asarray(measured) - np.asarray(expected))
    worst = int(np.argmax(error - np.asarray(allowed)))
    return [_record(model, backend, "siegert_rate", "siegert", error.max(), allowed[worst], "Hz",
                    bool(np.all(error <= np.asarray(allowed))), tol.reason, points_mV=points, rate_hz=measured,
                    siegert_hz=expected, standard_error_hz=stderr, allowed_hz=allowed, seconds_per_point=seconds *
                    protocol.info["repeats"])]


# ---------------------------------------------------------------------------- spike input
#: How long after the input spike the single-spike responses are judged (ms).
RESPONSE_WINDOW_MS = 100.0


def _samples(result, var, row, t0, until):
    """(s = t - t0, values) of ``var`` for trace row ``row``, for t0 <= t <= until."""
    t, values, _ = result.traces[var]
    t = np.asarray(t, dtype=float)
    keep = (t >= t0 - 1e-9) & (t <= until + 1e-9)
    return t[keep] - t0, np.asarray(values[row], dtype=float)[keep]


def _trapezoid(y, x) -> float:
    """The trapezoid rule (numpy's is ``trapz`` before 2.0 and ``trapezoid`` after)."""
    y, x = np.asarray(y, dtype=float), np.asarray(x, dtype=float)
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(x)))


def _psc_records(batch, result, port, row, var, weight, t0):
    """The port's current or conductance after one spike against its closed form
    (:func:`lifbridge.analytic.synaptic_response`): time course, peak and integral."""
    from .. import analytic

    model = batch.model
    syn = model.synapses[port]
    variable, shape = analytic.KINETICS_RESPONSES[syn.kinetics]
    tau = model.parameters[syn.names["tau_syn"]]
    tau_ms = tau.value * tau.unit.scale / 1e-3
    magnitude = abs(weight)            # the state holds the magnitude (NEST's sign convention selects the port)
    s, values = _samples(result, var, row, t0, t0 + RESPONSE_WINDOW_MS)
    closed = analytic.synaptic_response(s, magnitude, tau_ms, shape)
    name, backend = model.name, result.backend
    details = dict(port=port, variable=var, kinetics=syn.kinetics, tau_syn_ms=tau_ms, weight=weight,
                   judge=f"closed-form {shape} time course (peak = weight)")
    records = []
    tol = tolerance_for("psc_shape", name, backend)
    error = float(np.max(np.abs(values - closed))) / magnitude if len(s) else float("nan")
    records.append(_record(name, backend, "psc_shape", "single_spike", error, tol.rel, "fraction of the peak",
                           bool(len(s)) and error <= tol.rel, tol.reason, samples=len(s), **details))
    tol = tolerance_for("psc_peak", name, backend)
    peak_value, peak_time = analytic.synaptic_peak(magnitude, tau_ms, shape)
    at = int(np.argmax(values)) if len(s) else 0
    on_grid = float(np.max(closed)) if len(s) else float("nan")
    error = abs(values[at] - on_grid) / magnitude if len(s) else float("nan")
    # the peak must also be where the closed form's is, on the same grid
    same_time = bool(len(s)) and at == int(np.argmax(closed))
    records.append(_record(name, backend, "psc_peak", "single_spike", error, tol.rel, "relative",
                           same_time and error <= tol.rel, tol.reason if same_time or not len(s) else
                           f"the peak is at {s[at]:g} ms after the spike, the closed form's at "
                           f"{s[int(np.argmax(closed))]:g} ms", peak=values[at] if len(s) else None,
                           peak_time_ms=s[at] if len(s) else None, closed_form_peak=peak_value,
                           closed_form_peak_time_ms=peak_time, **details))
    tol = tolerance_for("psc_integral", name, backend)
    integral = _trapezoid(values, s) if len(s) > 1 else float("nan")
    same_rule = _trapezoid(closed, s) if len(s) > 1 else float("nan")
    exact = analytic.synaptic_integral(magnitude, tau_ms, shape, float(s[-1]) if len(s) else 0.0)
    error = abs(integral - same_rule) / abs(same_rule) if len(s) > 1 else float("nan")
    records.append(_record(name, backend, "psc_integral", "single_spike", error, tol.rel, "relative",
                           len(s) > 1 and error <= tol.rel, tol.reason, integral=integral,
                           closed_form_trapezoid=same_rule, closed_form_integral=exact,
                           rule="trapezoid on the recorded samples, the closed form sampled on the same grid",
                           **details))
    return records


def _lif_closed_form_psp(model, port):
    """(shape, tau_syn in ms or None) if the PSP of ``port`` has a closed form (the LIF's, with
    current or delta kinetics of the bundled files), else None."""
    from .. import analytic

    if model.hints.get("analytic") != "lif" or not {"C_m", "tau_m", "E_L"} <= set(model.parameters):
        return None
    syn = model.synapses.get(port)
    if syn is None or not syn.bundled:
        return None
    if syn.kinetics == "psc_delta":
        return "delta", None
    if syn.type == "current" and syn.kinetics in analytic.KINETICS_RESPONSES:
        tau = model.parameters[syn.names["tau_syn"]]
        return analytic.KINETICS_RESPONSES[syn.kinetics][1], tau.value * tau.unit.scale / 1e-3
    return None


def _psp_record(batch, result, reference, port, neuron, row, weight, t0):
    """The membrane potential after one spike: against the LIF's closed form where it has one,
    else against the reference integrator; judged until 1 ms before the reference's next
    spike (the response of a model that fires on its own, such as hh_traub, is judged
    between its spikes)."""
    from .. import analytic

    model = batch.model
    membrane = batch.protocol("single_spike").info["membrane"]
    ref_spikes = np.asarray(reference.spike_times_ms[neuron], dtype=float)
    later = ref_spikes[ref_spikes > t0]
    until = min(t0 + RESPONSE_WINDOW_MS, (later[0] - 1.0) if len(later) else np.inf, batch.duration_ms - batch.dt_ms)
    s, values = _samples(result, membrane, row, t0, until)
    closed_form = _lif_closed_form_psp(model, port)
    if closed_form is not None:
        # the closed form starts from rest: the reference must be at E_L when the spike arrives
        p = {n: model.parameters[n].value for n in ("C_m", "tau_m", "E_L")}
        _, before = _samples(reference, membrane, row, t0 - batch.dt_ms, t0 - batch.dt_ms)
        if not (len(before) and abs(before[0] - p["E_L"]) < 1e-9):
            closed_form = None
    if closed_form is not None:
        shape, tau = closed_form
        judge = p["E_L"] + np.sign(weight) * analytic.lif_psp(s, abs(weight), C_m=p["C_m"], tau_m=p["tau_m"],
                                                              shape=shape, tau_syn=tau)
        judge_name = f"closed-form LIF PSP ({shape} input)"
    else:
        s_ref, judge = _samples(reference, membrane, row, t0, until)
        common = min(len(s), len(s_ref))
        s, values, judge = s[:common], values[:common], judge[:common]
        judge_name = "reference integrator"
    tol = tolerance_for("psp_shape", model.name, result.backend)
    error = float(np.max(np.abs(values - judge))) if len(s) else float("nan")
    amplitude = float(np.max(np.abs(judge - judge[0]))) if len(s) else float("nan")
    enough = len(s) >= 10
    return _record(model.name, result.backend, "psp_shape", "single_spike", error, tol.abs, "mV",
                   enough and error <= tol.abs, tol.reason if enough else
                   f"fewer than 10 samples before the reference's next spike ({len(s)})",
                   port=port, weight=weight, judge=judge_name, window_ms=float(s[-1]) if len(s) else 0.0,
                   psp_amplitude_mV=amplitude)


def spike_input_checks(batch, result, reference, late_release=None):
    """The spike-input protocol (:func:`lifbridge.validation.protocols.spike_input_batch`):
    single-spike PSC (closed form) and PSP (closed form or reference) per port, and spike
    times under frozen Poisson input through every port (reference, bracketed as for
    frozen noise). For the reference run itself (``result is reference``) only the
    closed-form checks apply."""
    protocol = batch.protocol("single_spike")
    if protocol is None:
        return []
    info = protocol.info
    t0 = float(info["t_spike_ms"])
    own = result is reference
    records = []
    for port, neuron, weight, var in zip(info["ports"], protocol.neurons, info["weights"], info["variables"]):
        row = batch.record_neurons.index(neuron)
        if var is not None:
            records += _psc_records(batch, result, port, row, var, weight, t0)
        if info["membrane"] and (not own or _lif_closed_form_psp(batch.model, port) is not None):
            records.append(_psp_record(batch, result, reference, port, neuron, row, weight, t0))
    if not own:
        records += _coincidence_records(batch, result, reference, late_release, "poisson", "poisson_coincidence")
    return records


def all_checks(batch, result, reference, late_release=None):
    return (fi_checks(batch, result, reference) + step_checks(batch, result, reference)
            + frozen_noise_checks(batch, result, reference, late_release) + light_checks(batch, result, reference))
