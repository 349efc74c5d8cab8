"""sPyNNaker 7.4.1's per-tick neuron update, emulated on numpy arrays (one element per neuron).

The order of one tick is ``neuron_impl_standard.h`` (``neuron_impl_do_timestep_update``)
as called from ``c_main.c`` / ``neuron.c`` (sPyNNaker ``neural_modelling/src/neuron/``):

1. the ring-buffer slot of this tick is added to the synaptic state
   (``neuron_transfer`` -> ``synapse_types_add_neuron_input``): a weight arriving at tick
   n acts in the update of tick n;
2. ``soma_voltage = V`` (before this update), the synaptic input is read
   (``synapse_types_get_*_input``) and passed through the input type (conductance:
   ``>> 10``, ``input_type_conductance.h``; delta: times ``1/dt``, ``input_type_delta.h``);
3. V (before the update) and the synaptic inputs are recorded at index n;
4. the input becomes a current (conductance: ``g (E - V)`` with V from step 2);
5. the current source's offset for tick n is read (``current_source_get_offset``);
6. the neuron model's state update (``neuron_model_state_update``);
7. the threshold test on the new V (``threshold_type_static.h``: ``V >= V_thresh`` on
   the bits; also on refractory steps) and, on a spike, ``neuron_model_has_spiked``;
8. the synaptic state decays (``synapse_types_shape_input``; delta: zeroed).

Tick n advances the membrane from t = n dt to (n + 1) dt. sPyNNaker labels a spike found
in tick n with time n dt; lifbridge (like NEST) reports the grid point at which the
crossing is found, (n + 1) dt, and the runner does so.

Both arithmetics run the same code: :class:`Fixed` (the chip's s16.15 / u0.32, see
:mod:`lifbridge.spinnaker.fixed`) and :class:`Float` (double precision, exact
exponentials, no weight quantisation: the scheme's error alone).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ..errors import ParameterError
from . import fixed as fx
from .mapping import receptor


# ---------------------------------------------------------------------------- arithmetics
class Fixed:
    """The chip's arithmetic on s16.15 bits (int64 arrays), wrap-arounds collected in ``tracker``."""

    name = "fixed"

    def __init__(self, n: int):
        self.n = n
        self.tracker = fx.Tracker(n)

    def enc(self, value, name, unit=""):
        bits = fx.encode(np.broadcast_to(np.asarray(value, dtype=float), (self.n,)) if np.ndim(value) else value,
                         name, unit)
        shown = np.asarray(value, dtype=float)
        if np.any((np.broadcast_to(bits, np.shape(shown)) == 0) & (shown != 0)):
            warnings.warn(f"{name} = {float(np.ravel(shown)[np.flatnonzero(np.ravel(shown))[0]]):.3g} {unit} rounds "
                          f"to 0 in s16.15 (resolution {fx.LSB:.3g} {unit}) on SpiNNaker", stacklevel=3)
        return np.broadcast_to(np.asarray(bits, dtype=np.int64), (self.n,)).copy()

    def const(self, value):
        return fx.encode(value, "constant")

    def val(self, x):
        return fx.value(x)

    def mul(self, a, b, what="a product"):
        return fx.mul(a, b, self.tracker, what)

    def add(self, a, b, what="a sum"):
        return fx.add(a, b, self.tracker, what)

    def sub(self, a, b, what="a difference"):
        return fx.sub(a, b, self.tracker, what)

    def half(self, x):
        return fx.half(x)

    def decay(self, x, d):
        return fx.decay(x, d)

    def shift_down(self, x, k):
        return np.asarray(x, dtype=np.int64) >> k

    def ge(self, a, b):
        return np.asarray(a) >= np.asarray(b)

    def zeros(self):
        return np.zeros(self.n, dtype=np.int64)


class Float:
    """The same update in double precision: exact exponentials and quotients, no quantisation."""

    name = "float"

    def __init__(self, n: int):
        self.n = n
        self.tracker = None

    def enc(self, value, name, unit=""):
        return np.broadcast_to(np.asarray(value, dtype=float), (self.n,)).copy()

    def const(self, value):
        return float(value)

    def val(self, x):
        return np.asarray(x, dtype=float)

    def mul(self, a, b, what=""):
        return np.asarray(a) * b

    def add(self, a, b, what=""):
        return np.asarray(a) + b

    def sub(self, a, b, what=""):
        return np.asarray(a) - b

    def half(self, x):
        return np.asarray(x) * 0.5

    def decay(self, x, d):
        return np.asarray(x) * d

    def shift_down(self, x, k):
        return np.asarray(x) / (1 << k)

    def ge(self, a, b):
        return np.asarray(a) >= np.asarray(b)

    def zeros(self):
        return np.zeros(self.n)


def arithmetic_for(name: str, n: int):
    """:class:`Fixed` or :class:`Float` for ``n`` neurons."""
    return {"fixed": Fixed, "float": Float}[name](n)


# ---------------------------------------------------------------------------- initialisation
def _check_tau(tau, dt_ms, name):
    tau = np.asarray(tau, dtype=float)
    if np.any(tau < dt_ms):
        raise ParameterError(f"{name} = {float(np.min(tau)):g} ms is shorter than the time step dt = {dt_ms:g} ms: "
                             f"SpiNNaker's exp(-dt/{name}) is computed once per step; use dt <= {name}")


def ratio_dt_tau(A, ts, tau, dt_ms, name):
    """``kdivk(ts, tau)``: dt/tau as the chip computes it (truncated), checked to be positive."""
    if isinstance(A, Float):
        return ts / tau
    q = fx.kdivk(ts, tau, name)
    if np.any(q == 0):
        raise ParameterError(f"{name}: dt/{name} rounds to 0 in s16.15 (dt = {dt_ms:g} ms): the chip's decay "
                             f"would be expulr(0) = 0; use {name} < {dt_ms * fx.ONE:g} ms")
    return q


def accum_exp(A, x):
    """``expk(x)`` (the chip's, see fixed.expk) or exp(x)."""
    return np.exp(x) if isinstance(A, Float) else fx.expk(x)


def u032_exp(A, x):
    return np.exp(x) if isinstance(A, Float) else fx.expulr(x)


class LIF:
    """``neuron_model_lif_impl.h``: initialisation (``neuron_model_initialise``) and the closed form.

    R = kdivk(tau_m, cm); exp_TC = expk(-kdivk(ts, tau_m)); T_refract = ceil(kdivk(tau_refrac, ts))
    steps; V <- alpha - exp_TC (alpha - V) with alpha = I R + V_rest (both products floor),
    skipped while refract_timer > 0 (which then counts down; V is held at v_reset).
    """

    def __init__(self, A, params, initial, ts, dt_ms):
        self.A = A
        cm, tau = A.enc(params["cm"], "cm", "nF"), A.enc(params["tau_m"], "tau_m", "ms")
        _check_tau(params["tau_m"], dt_ms, "tau_m")
        if isinstance(A, Float):
            self.R = tau / cm
        else:
            r = fx.kdivk(tau, cm, "tau_m/cm")
            if np.any(r > fx.MAX_BITS):
                raise ParameterError(f"R = tau_m/cm = {float(np.max(fx.value(r))):.6g} MOhm is outside the s16.15 "
                                     f"range {fx.RANGE_TEXT} on SpiNNaker; use a larger cm")
            self.R = r
        self.exp_TC = accum_exp(A, -ratio_dt_tau(A, ts, tau, dt_ms, "tau_m"))
        self.v_rest = A.enc(params["v_rest"], "v_rest", "mV")
        self.v_reset = A.enc(params["v_reset"], "v_reset", "mV")
        self.v_thresh = A.enc(params["v_thresh"], "v_thresh", "mV")
        refrac = A.enc(params["tau_refrac"], "tau_refrac", "ms")
        if isinstance(A, Float):
            self.T_refract = np.ceil(np.round(refrac / ts, 9)).astype(np.int64)
        else:
            steps = np.zeros(A.n, dtype=np.int64)
            positive = refrac > 0
            if positive.any():
                steps[positive] = fx.ceil_accum(fx.kdivk(refrac[positive], np.broadcast_to(ts, refrac.shape)[positive],
                                                         "tau_refrac"))
            self.T_refract = steps
        self.i_offset = A.enc(params["i_offset"], "i_offset", "nA")
        self.V = A.enc(initial["v"], "v", "mV")
        self.timer = np.zeros(A.n, dtype=np.int64)

    def update(self, current, ring_synaptic):
        """One step with the input current (nA, representation of A); returns the spike mask."""
        A = self.A
        free = self.timer <= 0
        I = A.add(A.add(ring_synaptic, self.i_offset, "the input current"), current, "the input current")
        alpha = A.add(A.mul(I, self.R, "I R"), self.v_rest, "alpha = I R + v_rest")
        V_new = A.sub(alpha, A.mul(self.exp_TC, A.sub(alpha, self.V, "alpha - V"), "exp_TC (alpha - V)"), "V")
        self.V = np.where(free, V_new, self.V)
        self.timer = np.where(free, self.timer, self.timer - 1)
        spiked = A.ge(self.V, self.v_thresh)
        self.V = np.where(spiked, self.v_reset, self.V)
        self.timer = np.where(spiked, self.T_refract, self.timer)
        return spiked

    def voltage(self):
        return self.V

    def state(self):
        return {"V_m": self.A.val(self.V)}


class LIFCa2(LIF):
    """The LIF with ``additional_input_ca2_adaptive_impl.h`` (extra_models.IFCurrExpCa2Adaptive):
    exp_tau_ca2 = expk(-kdivk(ts, tau_ca2)); every step, refractory or not, before the membrane
    update i_ca2 = i_ca2 exp_tau_ca2 (floor) and the input gets -i_ca2 (``external_bias``); at a
    spike i_ca2 += i_alpha. Currents in nA."""

    def __init__(self, A, params, initial, ts, dt_ms):
        super().__init__(A, params, initial, ts, dt_ms)
        tau = A.enc(params["tau_ca2"], "tau_ca2", "ms")
        self.exp_tau_ca2 = accum_exp(A, -ratio_dt_tau(A, ts, tau, dt_ms, "tau_ca2"))
        self.i_alpha = A.enc(params["i_alpha"], "i_alpha", "nA")
        self.i_ca2 = A.enc(initial.get("i_ca2", 0.0), "i_ca2", "nA")

    def update(self, current, ring_synaptic):
        A = self.A
        self.i_ca2 = A.mul(self.i_ca2, self.exp_tau_ca2, "i_ca2 exp(-dt/tau_ca2)")
        spiked = super().update(A.sub(current, self.i_ca2, "the input current"), ring_synaptic)
        self.i_ca2 = np.where(spiked, A.add(self.i_ca2, self.i_alpha, "i_ca2 + i_alpha"), self.i_ca2)
        return spiked

    def state(self):
        return {**super().state(), "i_ca2": self.A.val(self.i_ca2)}


class Izhikevich:
    """``neuron_model_izh_impl.h``: RK2 explicit midpoint (``rk2_kernel_midpoint``), in the order
    of the 7.4.1 binary (every product floor; M = 0.04 as s16.15, 1311/32768). After a
    spike V = c, U += d and the next step is 1.85 dt long (``SIMPLE_TQ_OFFSET``); the cut-off
    is 30 mV (``_IZK_THRESHOLD``), tested as V >= 30 on the updated V."""

    THRESHOLD = 30.0
    TQ_OFFSET = 1.85

    def __init__(self, A, params, initial, ts, dt_ms):
        self.A = A
        self.a, self.b = A.enc(params["a"], "a", "1/ms"), A.enc(params["b"], "b", "1/ms")
        self.c, self.d = A.enc(params["c"], "c", "mV"), A.enc(params["d"], "d", "mV/ms")
        self.i_offset = A.enc(params["i_offset"], "i_offset", "nA")
        self.V, self.U = A.enc(initial["v"], "v", "mV"), A.enc(initial["u"], "u", "mV/ms")
        self.reset_h = np.broadcast_to(ts, (A.n,)).copy()
        self.this_h = self.reset_h.copy()
        self.M, self.five, self.k140 = A.const(0.04), A.const(5.0), A.const(140.0)
        self.thresh = A.const(self.THRESHOLD)
        self.tq = A.const(self.TQ_OFFSET)

    def update(self, current, ring_synaptic):
        A, V, U, h = self.A, self.V, self.U, self.this_h
        pre_alph = A.add(A.add(A.add(ring_synaptic, self.i_offset, "I"), current, "I"), A.sub(self.k140, U), "140 + I - U")
        alpha = A.add(A.mul(A.add(A.mul(V, self.M), self.five), V, "(0.04 V + 5) V"), pre_alph, "dV/dt")
        eta = A.add(V, A.half(A.mul(alpha, h, "h dV/dt")), "the midpoint V")
        ah = A.mul(h, self.a)
        beta = A.half(A.mul(A.sub(A.mul(self.b, V), U), ah, "a h (b V - U)"))
        U_new = A.add(U, A.mul(ah, A.sub(A.mul(self.b, eta), A.add(U, beta)), "a h (b eta - U - beta)"), "U")
        dv = A.add(A.mul(A.add(A.mul(eta, self.M), self.five), eta, "(0.04 eta + 5) eta"), A.sub(pre_alph, beta))
        V_new = A.add(V, A.mul(h, dv, "h dV/dt"), "V")
        self.V, self.U = V_new, U_new
        self.this_h = self.reset_h.copy()
        spiked = A.ge(self.V, self.thresh)
        self.V = np.where(spiked, self.c, self.V)
        self.U = np.where(spiked, A.add(self.U, self.d, "U + d"), self.U)
        self.this_h = np.where(spiked, A.mul(self.reset_h, self.tq), self.this_h)
        return spiked

    def voltage(self):
        return self.V

    def state(self):
        return {"V_m": self.A.val(self.V), "U_m": self.A.val(self.U)}


# ---------------------------------------------------------------------------- synapses
class ExpSynapse:
    """``synapse_types_exponential_impl.h`` / ``exp_synapse_utils.h``: decay = expulr(-kdivk(ts, tau)),
    init = decay_s1615_to_u032(kdivk(tau, ts), 1.0ulr - decay) (the weight factor
    (tau/dt)(1 - e^(-dt/tau))); add: isyn += decay_s1615(input, init); shape: isyn = decay_s1615(isyn, decay)."""

    def __init__(self, A, tau, initial, ts, dt_ms, name):
        self.A = A
        _check_tau(tau, dt_ms, name)
        tau_bits = A.enc(tau, name, "ms")
        q = ratio_dt_tau(A, ts, tau_bits, dt_ms, name)
        self.decay_factor = u032_exp(A, -q)
        if isinstance(A, Float):
            self.init = (tau_bits / ts) * (1.0 - self.decay_factor)
        else:
            # 1.0ulr - decay: 1.0ulr is u0.32's largest value, 0xFFFFFFFF
            self.init = fx.decay_to_u032(fx.kdivk(tau_bits, np.broadcast_to(ts, tau_bits.shape), name),
                                         fx.U032_MAX - self.decay_factor)
        self.isyn = A.enc(initial, f"isyn of {name}", "")

    def add(self, inputs):
        self.isyn = self.A.add(self.isyn, self.A.decay(inputs, self.init), "the synaptic input")

    def value(self):
        return self.isyn

    def shape(self):
        self.isyn = self.A.decay(self.isyn, self.decay_factor)


class AlphaSynapse:
    """``synapse_types_alpha_impl.h`` (sPyNNaker 7.4.1): the current is lin_buff x exp_buff.

    Initialisation (``get_alpha_state``): decay = expulr(-kdivk(ts, tau)); the slope
    dt/tau^2 = kdivk(ts, tau x tau), held as a ``decay_t`` (u0.32) and stored back into an
    accum, so the C is defined only for dt/tau^2 < 1 per ms (above, the u0.32 conversion
    saturates or wraps, which lifbridge does not emulate: a one-line error).
    A tick with input > 0 (``add_input_alpha``): q = input; exp = decay_s1615(exp, decay) + 1;
    lin = (lin + input x slope) x (1 - kdivk(1, exp)). Every tick (``alpha_shaping``):
    lin += q x slope; exp = decay_s1615(exp, decay).
    One spike of weight w at tick n therefore gives the current w (k dt/tau^2) e^(-k dt/tau)
    at tick n + k: the alpha function sampled at the grid, 0 in the spike's own tick. A later
    spike replaces q (the slope of lin belongs to the latest input), so overlapping inputs are
    not summed exactly: that is the chip's model, emulated as the C does it.
    """

    def __init__(self, A, tau, initial, ts, dt_ms, name):
        self.A = A
        _check_tau(tau, dt_ms, name)
        tau_bits = A.enc(tau, name, "ms")
        self.decay_factor = u032_exp(A, -ratio_dt_tau(A, ts, tau_bits, dt_ms, name))
        if isinstance(A, Float):
            self.slope = ts / (tau_bits * tau_bits)
            self.one = 1.0
        else:
            square = A.mul(tau_bits, tau_bits, f"{name}^2")
            self.slope = fx.kdivk(np.broadcast_to(ts, square.shape), square, f"dt/{name}^2")
            self.one = fx.ONE
        slope_per_ms = np.asarray(A.val(self.slope), float)
        if np.any(slope_per_ms >= 1.0):
            shortest = float(np.min(np.asarray(tau, float)))
            raise ParameterError(f"{name} = {shortest:g} ms: dt/{name}^2 = {float(np.max(slope_per_ms)):.3g} per ms "
                                 f"is 1 or more, which sPyNNaker's alpha synapse holds as a u0.32 fraction "
                                 f"(synapse_types_alpha_impl.h, get_alpha_state); lifbridge does not emulate that "
                                 f"overflow: use {name} > {math.sqrt(dt_ms):.3g} ms (sqrt(dt x 1 ms))")
        if np.any(np.asarray(initial, float) != 0):
            raise ParameterError(f"{name}: a non-zero initial alpha-synapse current is not emulated (sPyNNaker keeps "
                                 f"it as lin_buff x exp_buff); start it at 0")
        self.lin, self.exp, self.q = A.zeros(), A.zeros(), A.zeros()

    def _quotient(self, a, b):
        if isinstance(self.A, Float):
            return a / b
        return fx.kdivk(np.broadcast_to(a, np.shape(b)), b, "1/exp_buff")

    def add(self, inputs):
        A = self.A
        inputs = np.broadcast_to(inputs, np.shape(self.lin))
        arrived = np.asarray(inputs) > 0                  # synapse_types_add_neuron_input: input > ZERO
        if not arrived.any():
            return
        exp = A.add(A.decay(self.exp, self.decay_factor), self.one, "exp_buff + 1")
        keep = A.sub(self.one, self._quotient(self.one, exp), "1 - 1/exp_buff")
        lin = A.mul(A.add(self.lin, A.mul(inputs, self.slope, "input x dt/tau^2"), "lin_buff"), keep, "lin_buff")
        self.q = np.where(arrived, inputs, self.q)
        self.exp = np.where(arrived, exp, self.exp)
        self.lin = np.where(arrived, lin, self.lin)

    def value(self):
        return self.A.mul(self.lin, self.exp, "lin_buff x exp_buff")

    def shape(self):
        A = self.A
        self.lin = A.add(self.lin, A.mul(self.q, self.slope, "q x dt/tau^2"), "lin_buff")
        self.exp = A.decay(self.exp, self.decay_factor)


class DeltaSynapse:
    """``synapse_types_delta_impl.h``: add: isyn += input; shape: isyn = 0; read through
    ``input_type_delta.h`` as isyn * kdivk(1.0, ts) (a charge over one step)."""

    def __init__(self, A, ts):
        self.A = A
        self.isyn = A.zeros()
        self.scale = (1.0 / ts) if isinstance(A, Float) else fx.kdivk(fx.ONE, ts, "1/dt")

    def add(self, inputs):
        self.isyn = self.A.add(self.isyn, inputs, "the synaptic input")

    def value(self):
        return self.A.mul(self.isyn, self.scale, "input / dt")

    def shape(self):
        self.isyn = self.A.zeros()


#: Conductance input: weights are multiplied by 1024 on the host (input_type_conductance.py,
#: get_global_weight_scale) and the synaptic value is shifted right by 10 when read
#: (input_type_conductance.h; ">> 10" in the 7.4.1 binary).
CONDUCTANCE_SHIFT = 10
CONDUCTANCE_SCALE = float(1 << CONDUCTANCE_SHIFT)


# ---------------------------------------------------------------------------- a cell's initialisation
def synapses(model, A, spinn, ts, dt_ms) -> dict:
    """"E"/"I" -> (synapse emulation, kind) for the model's spike ports."""
    out = {}
    for port, syn in model.synapses.items():
        sign = receptor(model, port)
        state = "isyn_exc" if sign == "E" else "isyn_inh"
        if syn.kinetics == "psc_exp":
            out[sign] = (ExpSynapse(A, spinn.parameters[f"tau_syn_{sign}"], spinn.initial.get(state, 0.0), ts, dt_ms,
                                    f"tau_syn_{sign}"), "current")
        elif syn.kinetics == "cond_exp":
            initial = np.asarray(spinn.initial.get(state, 0.0), float) * CONDUCTANCE_SCALE
            out[sign] = (ExpSynapse(A, spinn.parameters[f"tau_syn_{sign}"], initial, ts, dt_ms,
                                    f"tau_syn_{sign}"), "conductance")
        elif syn.kinetics == "psc_delta":
            out[sign] = (DeltaSynapse(A, ts), "current")
        elif syn.kinetics == "psc_alpha":
            out[sign] = (AlphaSynapse(A, spinn.parameters[f"tau_syn_{sign}"], spinn.initial.get(state, 0.0), ts,
                                      dt_ms, f"tau_syn_{sign}"), "current")
        else:
            raise ParameterError(f"{model.name}.{port}: {syn.kinetics} synapses are not emulated on spinnaker")
    return out


def initialise(model, spinn, dt_ms: float, *, arithmetic="fixed", n=None, strict=False, where=""):
    """The chip's initialisation of ``model``'s cells from sPyNNaker's values ``spinn``
    (:func:`lifbridge.spinnaker.mapping.translate`) at time step ``dt_ms`` (ms):
    (arithmetic, ts, neuron, synapses). Every value is encoded and every derived quantity
    checked as the chip computes it (range, wrap-around, time constants shorter than dt).
    ``strict``: a non-zero value that rounds to 0 in s16.15 is an error, not a warning (the
    check before deployment); ``where`` prefixes the one-line error."""
    if n is None:
        sizes = [np.size(v) for v in (*spinn.parameters.values(), *spinn.initial.values())]
        n = max(sizes) if sizes else 1
    try:
        with warnings.catch_warnings():
            if strict:
                warnings.simplefilter("error", UserWarning)
            A = arithmetic_for(arithmetic, n)
            # ts = kdivui(time_step, n_steps_per_timestep), n_steps_per_timestep = 1
            ts = fx.kdivui(fx.encode(dt_ms, "dt", "ms"), 1) if arithmetic == "fixed" else float(dt_ms)
            neuron_class = {"lif": LIF, "adaptive_lif": LIFCa2}.get(spinn.family, Izhikevich)
            neuron = neuron_class(A, spinn.parameters, spinn.initial, ts, dt_ms)
            receptors = synapses(model, A, spinn, ts, dt_ms)
    except UserWarning as warning:
        raise ParameterError(f"{where}{warning}; SpiNNaker would run with 0") from None
    except ParameterError as error:
        if where:
            raise ParameterError(f"{where}{error}") from None
        raise
    return A, ts, neuron, receptors


# ---------------------------------------------------------------------------- weights
def ring_buffer_shift(max_summed_weight: float) -> int:
    """sPyNNaker's ring-buffer left shift for the largest summed weight per slot (times the global
    scale): ``population_vertex.py`` ``get_ring_buffer_shifts``."""
    if max_summed_weight <= 0:
        return 0
    p = math.ceil(max(0.0, math.log2(max_summed_weight)))
    if 2 ** p <= max_summed_weight:
        p += 1
    return p


def quantise_weight(weight, shift: int, global_scale: float = 1.0):
    """(16-bit weight, its input bits): |w| as s16.15 (host, round half to even), times the
    scale 2^(15 - p) x global scale, rounded half up to 16 bits (synapse_expander
    ``generator_types.h`` ``rescale_weight``), then ``<< p`` (``synapse_row.h``)."""
    w_bits = fx.encode(np.abs(np.asarray(weight, dtype=float)), "weight")
    scaled = np.asarray(w_bits, dtype=float) * fx.LSB * (2.0 ** (15 - shift)) * global_scale
    w_int = np.floor(scaled + 0.5).astype(np.int64) & 0xFFFF
    return w_int, w_int << shift


def weight_resolution(shift: int, global_scale: float = 1.0) -> float:
    """The step between two weights the chip can represent (sPyNNaker's units): 2^(p - 15) / global scale."""
    return 2.0 ** (shift - 15) / global_scale
