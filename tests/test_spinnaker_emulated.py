"""spinnaker.emulated: sPyNNaker 7.4.1's neuron arithmetic against closed forms and references.

Expected values are derived here independently of lifbridge.spinnaker: from
lifbridge.analytic's closed forms, lifbridge.reference's integrator, scipy's solve_ivp,
or by hand from the chip's bit-level rules (written out in each test).

f-I bound in fixed point (test_fixed_point_fi_error_is_within_the_derived_bound)
---------------------------------------------------------------------------------
The chip's LIF step is V' = alpha - floor(e (alpha - V)) with e = exp_TC and
alpha = floor(I R) + V_rest (s16.15, LSB = 2^-15). Write x = alpha - V > 0. Then
x' = e x - delta with 0 <= delta < 1 LSB (the floor moves V up only), so after k steps
x_k = e^k x_0 - sum e^(k-1-j) delta_j: V lies above the linear map with the chip's e by
less than LSB / (1 - e) (a geometric sum). That linear map is the exact LIF with the
chip's parameters: tau_c = -dt / ln(e), alpha_c, so from V_reset it reaches V_th after
T_c = tau_c ln((alpha_c - V_reset) / (alpha_c - V_th)). The offset LSB/(1 - e) moves the
crossing earlier by at most that over the slope (alpha_c - V_th) / tau_c at threshold;
the crossing is found at the next grid point (< dt later), and the refractory period is
ceil(t_ref/dt) steps (sPyNNaker's T_refract). Since every interval starts from V_reset
exactly, all intervals are equal and
  |ISI - ISI_exact| <= |T_c - T| + (LSB/(1 - e)) tau_c / (alpha_c - V_th) + dt + |N_ref dt - t_ref|,
with ISI_exact = t_ref + T from lifbridge.analytic. The chip's expk is its own
truncating approximation, within about 1 LSB of floor(exp(x) 2^15) (the emulator's):
T_c is taken at the worse of e and e - 1 LSB, so the bound holds for the chip too.
"""

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import lifbridge
from lifbridge import analytic, reference
from lifbridge.errors import ParameterError
from lifbridge.stimulus import SpikeTrain, Stimulus

pytestmark = pytest.mark.spinnaker_emulated

LSB = 2.0 ** -15
LIF = dict(C_m=250.0, tau_m=10.0, E_L=-70.0, V_th=-55.0, V_reset=-70.0, t_ref=2.0)


def run(model, stimulus, **kw):
    return lifbridge.backends.get("spinnaker.emulated").simulate(model, stimulus, **kw)


def ceil_grid(t, dt):
    return math.ceil(t / dt - 1e-9) * dt


@pytest.mark.parametrize("current", [400.0, 500.0, 800.0, 1500.0])
def test_float_lif_is_the_reference_spike_for_spike_on_the_grid(current):
    """arithmetic=float, dt = 0.1 ms: each spike is the first grid point at or after the exact
    crossing, the refractory period is t_ref exactly (20 steps) and the next interval starts
    at the reported spike: s_0 = ceil(r_0), s_k+1 = ceil(s_k + ISI_reference)."""
    lif, dt = lifbridge.load("lif"), 0.1
    exact = reference.simulate(lif, Stimulus.constant([current]), duration_ms=300.0).spike_times_ms[0]
    got = run(lif, Stimulus.constant([current]), duration_ms=300.0, dt_ms=dt,
              options={"arithmetic": "float"}).spike_times_ms[0]
    isi = exact[1] - exact[0]
    expected = [ceil_grid(exact[0], dt)]
    while ceil_grid(expected[-1] + isi, dt) <= 300.0 - 1e-9:
        expected.append(ceil_grid(expected[-1] + isi, dt))
    assert len(got) == len(expected) > 3
    np.testing.assert_allclose(got, expected, atol=1e-9)


def _chip_lif_bound(current_pA, dt):
    """(ISI_exact, bound on |ISI - ISI_exact|) in ms, by the derivation of the module docstring."""
    bits = lambda x: round(x * 32768)                                   # host: round half to even  # noqa: E731
    ts, tau, cm = bits(dt), bits(LIF["tau_m"]), bits(LIF["C_m"] / 1000.0)
    q = (ts << 15) // tau                                               # kdivk(ts, tau_m), truncated
    e_bits = math.floor(math.exp(-q * LSB) * 32768)                     # floor(exp) as the emulator
    R = (tau << 15) // cm                                               # kdivk(tau_m, cm)
    alpha = (((bits(current_pA / 1000.0) * R) >> 15) + bits(LIF["E_L"])) * LSB
    theta, reset = bits(LIF["V_th"]) * LSB, bits(LIF["V_reset"]) * LSB
    T = LIF["tau_m"] * math.log((alpha_exact := LIF["E_L"] + current_pA * LIF["tau_m"] / LIF["C_m"]) - reset) \
        - LIF["tau_m"] * math.log(alpha_exact - theta)
    isi_exact = 1000.0 / analytic.lif_rate(current_pA, **LIF)
    assert abs(isi_exact - LIF["t_ref"] - T) < 1e-9
    worst = 0.0
    for eb in (e_bits, e_bits - 1):                                    # the chip's expk: within 1 LSB
        e = eb * LSB
        tau_c = -dt / math.log(e)
        T_c = tau_c * math.log((alpha - reset) / (alpha - theta))
        worst = max(worst, abs(T_c - T) + LSB / (1.0 - e) * tau_c / (alpha - theta))
    n_ref = -((-((bits(LIF["t_ref"]) << 15) // ts)) >> 15)             # ceil of kdivk(t_ref, ts)
    return isi_exact, worst + dt + abs(n_ref * dt - LIF["t_ref"])


@pytest.mark.parametrize("dt", [1.0, 0.1])
def test_fixed_point_fi_error_is_within_the_derived_bound(dt, capsys):
    lif = lifbridge.load("lif")
    currents = np.array([450.0, 600.0, 900.0, 1500.0, 2000.0])
    result = run(lif, Stimulus.constant(currents), duration_ms=2000.0, dt_ms=dt)
    rates = result.rates_hz(steady=True)
    lines = []
    for current, rate in zip(currents, rates):
        isi_exact, bound_ms = _chip_lif_bound(current, dt)
        rate_exact = 1000.0 / isi_exact
        bound_hz = 1000.0 * bound_ms / (isi_exact * (isi_exact - bound_ms))
        error = abs(rate - rate_exact)
        lines.append(f"dt={dt} I={current:g} pA: rate {rate:.4f} Hz, exact {rate_exact:.4f} Hz, "
                     f"error {error:.4f} Hz <= bound {bound_hz:.4f} Hz")
        assert error <= bound_hz, lines[-1]
    with capsys.disabled():
        print("\n" + "\n".join(lines))


def _izhikevich_reference(a, b, c, d, current, duration, v0=-65.0):
    """Spike times (ms) of dV/dt = 0.04 V^2 + 5 V + 140 - U + I, dU/dt = a (b V - U) (V mV, U and I
    mV/ms, sPyNNaker's units), V >= 30: V = c, U += d; solve_ivp DOP853 at rtol 1e-10."""
    rhs = lambda t, y: [0.04 * y[0] ** 2 + 5 * y[0] + 140 - y[1] + current, a * (b * y[0] - y[1])]  # noqa: E731
    event = lambda t, y: y[0] - 30.0  # noqa: E731
    event.terminal, event.direction = True, 1
    t, y, spikes = 0.0, [v0, b * v0], []
    while t < duration:
        sol = solve_ivp(rhs, (t, duration), y, method="DOP853", rtol=1e-10, atol=1e-10, events=event)
        if not sol.t_events[0].size:
            break
        t = float(sol.t_events[0][0])
        spikes.append(t)
        y = [c, sol.y_events[0][0][1] + d]
    return np.array(spikes)


def test_izhikevich_drift_against_a_high_precision_reference(capsys):
    """RS cell (a 0.02, b 0.2, c -65, d 8) at I = 14 (mV/ms), over 150 spikes.

    float arithmetic: RK2 at dt = 0.1 ms is second order, so within an interval of 32 ms its
    error is far below a step and what remains is the grid: each interval is at most one
    step longer (the crossing found at the next grid point; the 1.85 dt step after a spike
    moves the next one by less than a step): mean interval error in [0, dt].
    fixed point: the recovery rate a h is one s16.15 product, floor(a h), 655 x 3277 >> 15 =
    65 LSB for 0.002 (-0.8%); at dt = 0.05 ms 32 LSB for 0.001 (-2.3%): the chip's
    Izhikevich recovers with a smaller a, so its intervals lengthen, the more the smaller dt.
    The fixed-point interval lies between the references with the model's a and with the
    chip's a_eff = floor(a h)/h, within a step (the other products, such as 0.04 stored as
    0.0400085, shorten it), and its error at dt = 0.05 ms is more than twice that at 0.1 ms.
    """
    izh = lifbridge.load("izhikevich")
    a, b, c, d, current, duration = 0.02, 0.2, -65.0, 8.0, 14.0, 5000.0
    exact = _izhikevich_reference(a, b, c, d, current, duration)
    assert len(exact) >= 100
    isi = np.mean(np.diff(exact[-20:]))
    lines, errors = [], []
    for dt in (0.1, 0.05):
        out = {}
        for arithmetic in ("float", "fixed"):
            spikes = run(izh, Stimulus.constant([current]), duration_ms=duration, dt_ms=dt,
                         options={"arithmetic": arithmetic}).spike_times_ms[0]
            n = min(len(spikes), len(exact))
            out[arithmetic] = (np.mean(np.diff(spikes[-20:])) - isi, spikes[n - 1] - exact[n - 1], n)
        h_bits, a_bits = round(dt * 32768), round(a * 32768)
        a_eff = ((a_bits * h_bits) >> 15) / h_bits
        chip = _izhikevich_reference(a_eff, b, c, d, current, duration)
        chip_isi = np.mean(np.diff(chip[-20:]))
        lines.append(f"dt={dt}: float interval error {out['float'][0]:+.4f} ms (drift {out['float'][1]:+.3f} ms "
                     f"over {out['float'][2]} spikes); fixed {out['fixed'][0]:+.4f} ms (drift {out['fixed'][1]:+.3f} "
                     f"ms); a_eff = {a_eff:.6f} predicts {chip_isi - isi:+.4f} ms")
        assert 0.0 <= out["float"][0] <= dt, lines[-1]
        fixed_isi = isi + out["fixed"][0]
        assert min(isi, chip_isi) - dt <= fixed_isi <= max(isi, chip_isi) + dt, lines[-1]
        errors.append(out["fixed"][0])
    assert errors[1] > 2 * errors[0] > 0, lines
    with capsys.disabled():
        print("\n" + "\n".join(lines))


def test_weight_quantisation_of_the_worked_example():
    """IF_curr_exp, dt = 1 ms, tau_syn_E = 5 ms, one spike of 2.0 nA (research notes, section 8).

    By hand: the largest summed weight is 2.0, p = ceil(log2 2) = 1, and 2^1 <= 2 so p = 2;
    scale 2^(15-2) = 8192, w_int = 2.0 x 8192 = 16384, input bits 16384 << 2 = 65536 (2.0 nA).
    dt/tau = kdivk(32768, 163840) = 6553 LSB; decay = floor(exp(-6553/32768) 2^32) (the chip's
    expulr: within 1e-6); init = (163840 (2^32 - 1 - decay)) >> 15; jump = (65536 init) >> 32
    = 59393 LSB = 1.8125305 nA, the number the research notes give with the chip's expulr
    (exactly (tau/dt)(1 - e^(-dt/tau)) x 2 = 1.8126924 nA).
    """
    decay = math.floor(math.exp(-6553 / 32768) * 2 ** 32)
    init = (163840 * (2 ** 32 - 1 - decay)) >> 15
    jump_bits = (65536 * init) >> 32
    assert jump_bits == 59393 and abs(jump_bits * LSB - 1.8125305) < 1e-7
    lif = lifbridge.load("lif")
    stimulus = Stimulus(np.zeros(1), spikes=[SpikeTrain("exc_spikes", [10.0], 2000.0, [0])])
    result = run(lif, stimulus, duration_ms=20.0, dt_ms=1.0, record=("I_syn_exc",), tau_syn_exc=5.0)
    t, values, unit = result.traces["I_syn_exc"]
    assert unit == "pA" and result.versions["ring_buffer_shifts"] == {"E": 2}
    assert values[0, int(np.flatnonzero(t == 10.0)[0])] == jump_bits * LSB * 1000.0
    assert values[0, int(np.flatnonzero(t == 9.0)[0])] == 0.0


def test_out_of_range_values_are_one_line_errors_naming_the_parameter():
    lif = lifbridge.load("lif")
    with pytest.raises(ParameterError) as error:
        run(lif, Stimulus.constant([0.0]), duration_ms=1.0, E_L=-70000.0, V_reset=-70000.0)
    text = str(error.value)
    assert "\n" not in text and "v_rest = -70000 mV" in text and "[-65536, 65535.99997]" in text


def test_a_weight_below_the_resolution_is_an_error():
    lif = lifbridge.load("lif")
    stimulus = Stimulus(np.zeros(1), spikes=[SpikeTrain("exc_spikes", [5.0], 0.01, [0])])
    with pytest.raises(ParameterError, match=r"weight 0.01 pA onto exc_spikes rounds to 0 on SpiNNaker"):
        run(lif, stimulus, duration_ms=10.0)


def test_a_time_constant_shorter_than_dt_is_an_error():
    lif = lifbridge.load("lif")
    with pytest.raises(ParameterError, match=r"tau_syn_E = 0.05 ms is shorter than the time step dt = 0.1 ms"):
        run(lif, Stimulus.constant([0.0]), duration_ms=1.0, tau_syn_exc=0.05)


def test_a_wrap_around_is_a_divergence_with_time_and_value():
    """I R = 2000 nA x 40 MOhm = 80000 mV does not fit s16.15: never data."""
    lif = lifbridge.load("lif")
    result = run(lif, Stimulus.constant([0.0, 2.0e6]), duration_ms=5.0, dt_ms=0.1)
    assert result.diverged is not None and result.diverged_neurons == [1]
    text = result.diverged.describe()
    assert text.startswith("diverged at t = 0.1 ms (I R = 80000") and "wrap-around" in text


def test_models_without_a_spinnaker_cell_type_say_why_and_what_is_nearest():
    backend = lifbridge.backends.get("spinnaker.emulated")
    adaptive = backend.capability_of(lifbridge.load("adaptive_lif_cond_exp"))
    assert adaptive.support == "unsupported"
    assert adaptive.reason.startswith("not available on spinnaker: ") and "nearest: adaptive_lif_psc_exp" in \
        adaptive.reason
    # the nearest is mapped, approximate, with the difference stated
    nearest = backend.capability_of(lifbridge.load("adaptive_lif"))
    assert nearest.support == "approximate" and "IFCurrExpCa2Adaptive (nearest)" in nearest.reason
    assert "V_hold" in nearest.reason
    assert backend.capability_of(lifbridge.load("lif")).support == "approximate"


def test_the_ca2_adaptation_current_decays_every_step_and_grows_by_i_alpha_at_each_spike():
    """additional_input_ca2_adaptive_impl.h as emulated (float arithmetic): i_ca2 decays by
    exp(-dt/tau_ca2) every step, refractory or not, is subtracted from the input and grows by
    i_alpha at a spike; adaptive_lif maps i_alpha = g_a b (V_hold - E_K) with V_hold halfway
    between E_L and V_th (15 nS x 0.1 x 17.5 mV = 0.02625 nA)."""
    from lifbridge.overrides import resolve
    from lifbridge.spinnaker import emulate as em
    from lifbridge.spinnaker.mapping import translate

    model = lifbridge.load("adaptive_lif")
    resolved = resolve(model, {}, n=1)
    spinn = translate(model, resolved.parameter_values(), resolved.initial_values())
    assert spinn.parameters["i_alpha"] == pytest.approx(0.02625, rel=1e-12)
    assert spinn.parameters["tau_ca2"] == pytest.approx(100.0) and spinn.parameters["tau_m"] == pytest.approx(10.0)
    spinn.parameters["i_offset"] = np.asarray(1.0)                      # nA: fires every few ms
    A, ts, neuron, _ = em.initialise(model, spinn, 0.1, arithmetic="float", n=1)
    decay, expected, spikes = np.exp(-0.1 / 100.0), 0.0, 0
    for _ in range(400):
        spiked = neuron.update(np.zeros(1), np.zeros(1))
        expected = expected * decay + (0.02625 if spiked[0] else 0.0)
        spikes += int(spiked[0])
        assert neuron.i_ca2[0] == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert spikes >= 5


# ---------------------------------------------------------------------------- alpha synapses
def _alpha_current(times, weight=100.0, dt=0.1, duration=30.0, arithmetic="float", **params):
    model = lifbridge.load("lif_psc_alpha")
    stimulus = Stimulus(np.zeros(1), spikes=[SpikeTrain("exc_spikes", times, weight, [0])])
    result = run(model, stimulus, duration_ms=duration, dt_ms=dt, options={"arithmetic": arithmetic},
                 record=("I_syn_exc",), **params)
    t, values, _ = result.traces["I_syn_exc"]
    return np.asarray(t), np.asarray(values[0])


def test_one_alpha_input_is_the_alpha_function_sampled_on_the_grid():
    """synapse_types_alpha_impl.h, one input of weight w (sPyNNaker's charge e tau w_peak) at tick n:
    tick n gives lin x exp = 0 (exp = 1, lin = (0 + w c)(1 - 1/1)); each later tick adds w c to
    lin and decays exp, so tick n + k gives k w c d^k with c = dt/tau^2, d = e^(-dt/tau), i.e.
    w_peak e (k dt/tau) e^(-k dt/tau): NEST's alpha, peak w_peak at tau. Double precision: exact;
    s16.15: the weight on the ring buffer's 16 bits and the floors (bounded by 2% here)."""
    tau, spike = 2.0, 5.0
    t, got = _alpha_current([spike])
    s = t - spike
    closed = np.where(s >= 0, 100.0 * np.e * s / tau * np.exp(-s / tau), 0.0)
    assert np.max(np.abs(got - closed)) < 1e-9 * 100.0
    assert t[np.argmax(got)] == pytest.approx(spike + tau)
    _, fixed = _alpha_current([spike], arithmetic="fixed")
    assert np.max(np.abs(fixed - closed)) < 0.02 * 100.0


@pytest.mark.parametrize("gap_steps", [3, 10, 40])
def test_a_later_alpha_input_moves_the_earlier_ones_one_step_ahead(gap_steps):
    """Two inputs of equal weight, m steps apart. From the C: at the second input exp_buff is
    decayed once more than the first input's age (alpha_shaping at the end of the tick before,
    decay_s1615(exp, decay) + 1 in add_input_alpha), and lin_buff is rescaled by
    (1 - 1/exp_buff) so that lin x exp continues; worked through, tick m + j gives
    w c [(m + 1 + j) d^(m+1+j) + j d^j]: the first alpha one step ahead, the second exact,
    against the sum w c [(m + j) d^(m+j) + j d^j]."""
    tau, dt, spike, weight = 2.0, 0.1, 5.0, 100.0      # weight: the peak (pA), NEST's normalisation
    d = math.exp(-dt / tau)
    t, got = _alpha_current([spike, spike + gap_steps * dt], weight=weight)
    j = np.arange(0, 100)
    ticks = np.round((spike + gap_steps * dt) / dt).astype(int) + j
    wc = weight * np.e * dt / tau       # sPyNNaker's weight e tau w_peak times c = dt/tau^2
    chip = wc * ((gap_steps + 1 + j) * d ** (gap_steps + 1 + j) + j * d ** j)
    summed = wc * ((gap_steps + j) * d ** (gap_steps + j) + j * d ** j)
    assert np.max(np.abs(got[ticks] - chip)) < 1e-9 * weight
    # the difference from the true sum is what a step of the first alpha changes: up to about dt/tau of it
    assert np.max(np.abs(chip - summed)) > 0.01 * weight


def test_an_alpha_time_constant_the_chip_cannot_hold_is_an_error():
    """dt/tau^2 is kept as a u0.32 fraction: at dt = 0.5 ms, tau_syn = 0.6 ms gives 1.39 per ms."""
    with pytest.raises(ParameterError, match=r"tau_syn_E = 0.6 ms: dt/tau_syn_E\^2 = 1.39 per ms"):
        _alpha_current([5.0], dt=0.5, tau_syn_exc="0.6ms")


def test_a_non_zero_initial_alpha_current_is_an_error():
    """IF_curr_alpha keeps its current as exc_response x exc_exp_response: no value to give it."""
    with pytest.raises(ParameterError, match="I_syn_exc = 5: a non-zero initial alpha-synapse state"):
        _alpha_current([5.0], I_syn_exc="5pA")
