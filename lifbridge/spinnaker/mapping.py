"""Which lifbridge model is which sPyNNaker 7.4.1 cell type, and its parameters in PyNN's units.

:data:`TABLE` maps (neuron family, synapse kinetics) to a :class:`CellType`:

* ``same``: sPyNNaker's cell type is the lifbridge model; only the arithmetic and the
  time-stepping scheme differ (the emulation shows how much);
* ``nearest``: the closest thing sPyNNaker has, with the difference stated;
* ``None`` (not available): why, and the nearest alternative.

:func:`translate` converts a model's values (its own names and units) into sPyNNaker's
names in PyNN's units (ms, mV, nA, nF, uS) with :mod:`lifbridge.units`, never with
hand-typed factors. Cell types and defaults are those of sPyNNaker's
``spynnaker/pyNN/models/neuron/builds/*.py`` and ``extra_models/__init__.py`` (7.4.1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError
from ..units import parse_unit

SAME, NEAREST = "same", "nearest"

#: Where a nearest mapping holds a driving force: this fraction of the way from E_L to V_th.
HOLDING_FRACTION = 0.5


@dataclass(frozen=True)
class CellType:
    """One row of the translation table."""

    cell_type: str          # sPyNNaker's class ("IF_curr_exp", "extra_models.Izhikevich_cond"), "" if none
    relation: str | None    # SAME, NEAREST or None (not available)
    note: str               # what differs (same/nearest) or why it is not available
    nearest: str = ""       # not available: the nearest alternative
    emulated: bool = False  # whether lifbridge.spinnaker.emulate runs it

    @property
    def available(self) -> bool:
        return self.relation is not None and self.emulated


_ARITH = "s16.15 fixed point with floor multiplies"
_LIF = (f"{_ARITH}; the membrane is advanced by the exact LIF closed form with the input held constant over "
        "each step (neuron_model_lif_impl.h)")
_IZH = (f"{_ARITH}; RK2 explicit midpoint at dt, and the step after each spike is 1.85 dt long "
        "(neuron_model_izh_impl.h, SIMPLE_TQ_OFFSET); the cut-off is fixed at 30 mV")

TABLE = {
    ("lif", "psc_exp"): CellType("IF_curr_exp", SAME, _LIF + "; each weight is scaled by (tau/dt)(1 - exp(-dt/tau)), "
                                 "so the current held over a step is the step's mean of the exact one", emulated=True),
    ("lif", "psc_delta"): CellType("IF_curr_delta", SAME, _LIF + "; sPyNNaker's delta weight is a charge (nA ms): "
                                   "the weight is translated so that the jump is the model's (mV)", emulated=True),
    ("lif", "cond_exp"): CellType("IF_cond_exp", SAME, _LIF + "; the conductance current g (E - V) is taken at the "
                                  "start of the step and held, so the conductance does not shorten the membrane time "
                                  "constant within a step (first order in dt g / C_m); weights are in uS x 1024, read "
                                  ">> 10", emulated=True),
    ("lif", "psc_alpha"): CellType("IF_curr_alpha", SAME, _LIF + "; sPyNNaker's alpha weight is the charge "
                                   "(I(t) = w t/tau^2 exp(-t/tau)): the weight is translated by e tau so that the peak "
                                   "is the model's (NEST's normalisation); one input's current is the alpha function "
                                   "sampled on the grid and held over each step, but a later input replaces the "
                                   "growth of the earlier ones (synapse_types_alpha_impl.h), so overlapping inputs are "
                                   "not summed exactly", emulated=True),
    ("lif", "cond_alpha"): CellType("", None, "IF_cond_alpha exists in sPyNNaker 7.4.1 but its constructor raises "
                                    "'not supported'", nearest="lif_cond_exp (IF_cond_exp)"),
    ("adaptive_lif", "psc_exp"): CellType(
        "extra_models.IFCurrExpCa2Adaptive", NEAREST,
        _LIF + "; lifbridge's adaptation is a conductance g_a a (E_K - V_m), sPyNNaker's a current -i_ca2 that "
        "decays with tau_ca2 = tau_a and grows by i_alpha at each spike (additional_input_ca2_adaptive_impl.h): "
        "i_alpha = g_a b (V_hold - E_K) holds the driving force at V_hold, halfway between E_L and V_th, so the "
        "adaptation current is off by |V_m - V_hold| / (V_hold - E_K) of itself (43% at reset for the defaults)",
        emulated=True),
    ("izhikevich", "psc_exp"): CellType("Izhikevich", SAME, _IZH, emulated=True),
    ("izhikevich", "cond_exp"): CellType("extra_models.Izhikevich_cond", SAME, _IZH + "; conductance current taken "
                                         "at the start of the step", emulated=True),
    ("izhikevich", "psc_delta"): CellType(
        "Izhikevich with delta synapses (a custom sPyNNaker build: neuron_model_izh_impl.h with "
        "synapse_types_delta_impl.h and input_type_delta.h; not a shipped cell type)", NEAREST,
        _IZH + "; a voltage jump is a charge w/dt added to dV/dt over the one step that ends at the spike's time, "
        "so the jump is w to first order in dt (the RK2 step's curvature adds O(dt w))", emulated=True),
    ("izhikevich", "psc_alpha"): CellType("", None, "sPyNNaker 7.4.1 ships Izhikevich only with exponential current "
                                          "or conductance synapses", nearest="izhikevich_psc_exp (Izhikevich)"),
    ("izhikevich", "cond_alpha"): CellType("", None, "sPyNNaker 7.4.1 ships Izhikevich only with exponential current "
                                           "or conductance synapses",
                                           nearest="izhikevich_cond_exp (extra_models.Izhikevich_cond)"),
}

_FAMILY = {
    "adaptive_lif": CellType(
        "", None, "sPyNNaker's adapting LIF with exponential current synapses, extra_models.IFCurrExpCa2Adaptive, "
        "is the only one lifbridge maps (as the nearest of adaptive_lif_psc_exp)",
        nearest="adaptive_lif_psc_exp (extra_models.IFCurrExpCa2Adaptive)"),
    "pif": CellType("", None, "sPyNNaker's LIF closed form needs a leak: with tau_m long enough exp(-dt/tau_m) "
                    "rounds to 1 in s16.15 and the membrane stops moving",
                    nearest="extra_models.IFTruncDelta (non-leaky, delta synapses, V_m bounded below by v_reset)"),
    "adex": CellType("", None, "EIF_cond_alpha_isfa_ista exists in sPyNNaker 7.4.1 but its constructor raises "
                     "'not supported'", nearest="none with an exponential upswing; IF_curr_exp"),
    "hh": CellType("", None, "HH_cond_exp exists in sPyNNaker 7.4.1 but its constructor raises 'not supported'",
                   nearest="none (Hodgkin-Huxley channels are not available); Izhikevich"),
    "hh_traub": CellType("", None, "HH_cond_exp exists in sPyNNaker 7.4.1 but its constructor raises 'not "
                         "supported'", nearest="none (Hodgkin-Huxley channels are not available); Izhikevich"),
    "optogenetic_lif": CellType("", None, "sPyNNaker has no light input or opsin kinetics",
                                nearest="IF_curr_exp with the photocurrent precomputed at a held driving force "
                                        "(opt-in, approximate: lifbridge.pynn.spinnaker.approximate_optogenetic)"),
}


def family_and_kinetics(model) -> tuple:
    """(neuron family, synapse kinetics) of a model: ``lif_cond_exp`` -> ("lif", "cond_exp")."""
    from ..compose import neuron_and_kinetics

    neuron, kinetics = neuron_and_kinetics(model)
    return neuron.removesuffix("_cond"), kinetics


def receptor(model, port: str) -> str:
    """sPyNNaker's receptor of a spike port, "E" or "I" (its parameters are ``tau_syn_E``, ``isyn_inh``, ...)."""
    return "I" if model.spike_inputs[port].sign == "inhibitory" else "E"


def cell_type(model) -> CellType:
    """The table's row for ``model`` (not available, with the reason, for an unknown model)."""
    family, kinetics = family_and_kinetics(model)
    if (family, kinetics) in TABLE:
        return TABLE[(family, kinetics)]
    if family in _FAMILY:
        return _FAMILY[family]
    return CellType("", None, f"no sPyNNaker cell type is known for the model {model.name!r} "
                    f"(neuron {family!r}, kinetics {kinetics!r})", nearest="IF_curr_exp")


def not_available(model) -> str:
    """'not available on spinnaker: <reason>; nearest: <alternative>' (the capability's reason)."""
    row = cell_type(model)
    if row.relation is not None and not row.emulated:
        return (f"{row.cell_type} is {row.relation} but not yet emulated here ({row.note}); nearest emulated: "
                "lif_psc_exp (IF_curr_exp)")
    return f"not available on spinnaker: {row.note}; nearest: {row.nearest}"


# ---------------------------------------------------------------------------- parameters
def _factor(source: str, target: str) -> float:
    return parse_unit(source).factor_to(parse_unit(target))


def _in(values: dict, model, name: str, target: str):
    """The model's value of ``name`` (its own unit) in ``target`` units."""
    unit = model.parameters[name].unit if name in model.parameters else model.state[name].unit
    return np.asarray(values[name], dtype=float) * unit.factor_to(parse_unit(target))


#: Izhikevich currents: lifbridge reads I (pA) through R = 1 GOhm as mV/ms; sPyNNaker adds I (nA)
#: to dV/dt directly, i.e. through R = 1 MOhm (neuron_model_izh_impl.h).
IZH_CURRENT = ("pA*GOhm", "nA*MOhm")


@dataclass
class Translated:
    """sPyNNaker's parameters and initial values (PyNN names, PyNN units) of one run."""

    cell_type: CellType
    family: str
    kinetics: str
    parameters: dict      # name -> float or per-neuron array
    initial: dict         # name -> float or per-neuron array
    units: dict           # name -> unit text
    current_factor: float  # one of the model's pA in sPyNNaker's current unit (nA, or nA x MOhm/GOhm)


def translate(model, parameters: dict, initial: dict) -> Translated:
    """The model's ``parameters`` and ``initial`` values (its names and units, as
    :meth:`lifbridge.overrides.Resolved.parameter_values` gives them) in sPyNNaker's names
    and PyNN's units."""
    row = cell_type(model)
    family, kinetics = family_and_kinetics(model)
    if not row.available:
        raise ParameterError(f"model {model.name!r}: {not_available(model)}")
    p, s, units = {}, {}, {}

    def put(table, name, value, unit):
        table[name] = value
        units[name] = unit

    if family in ("lif", "adaptive_lif"):
        put(p, "cm", _in(parameters, model, "C_m", "nF"), "nF")
        if "tau_m" in parameters:
            put(p, "tau_m", _in(parameters, model, "tau_m", "ms"), "ms")
        else:   # lif_cond: tau_m = C_m / g_L
            tau = (np.asarray(parameters["C_m"], float) / np.asarray(parameters["g_L"], float)
                   * (model.parameters["C_m"].unit.scale / model.parameters["g_L"].unit.scale) * _factor("s", "ms"))
            put(p, "tau_m", tau, "ms")
        for ours, theirs in (("E_L", "v_rest"), ("V_th", "v_thresh"), ("V_reset", "v_reset")):
            put(p, theirs, _in(parameters, model, ours, "mV"), "mV")
        put(p, "tau_refrac", _in(parameters, model, "t_ref", "ms"), "ms")
        put(p, "i_offset", _in(parameters, model, "I_e", "nA"), "nA")
        put(s, "v", _in(initial, model, "V_m", "mV"), "mV")
        per_pA = _factor("pA", "nA")
        if family == "adaptive_lif":
            # the adaptation current g_a a (V_hold - E_K) (nA) with the driving force held at V_hold
            hold = np.asarray(p["v_rest"], float) + HOLDING_FRACTION * (np.asarray(p["v_thresh"], float)
                                                                         - np.asarray(p["v_rest"], float))
            force = hold - _in(parameters, model, "E_K", "mV")
            per_a = _in(parameters, model, "g_a", "uS") * force * _factor("uS*mV", "nA")
            put(p, "tau_ca2", _in(parameters, model, "tau_a", "ms"), "ms")
            put(p, "i_alpha", per_a * np.asarray(parameters["b"], float), "nA")
            put(s, "i_ca2", per_a * np.asarray(initial["a"], float), "nA")
    elif family == "izhikevich":
        threshold = np.asarray(_in(parameters, model, "V_th", "mV"))
        if np.any(threshold != 30.0):
            raise ParameterError(f"V_th = {float(threshold.ravel()[0]):g} mV: sPyNNaker's Izhikevich cuts spikes at "
                                 f"30 mV (fixed, izk_curr_exp_base.py _IZK_THRESHOLD); set V_th to 30 mV")
        put(p, "a", np.asarray(parameters["a"], float), "1/ms")
        put(p, "b", np.asarray(parameters["b"], float), "1/ms")
        put(p, "c", _in(parameters, model, "c", "mV"), "mV")
        put(p, "d", _in(parameters, model, "d", "mV"), "mV/ms")
        per_pA = _factor(*IZH_CURRENT)   # x pA through 1 GOhm is x nA through 1 MOhm
        put(p, "i_offset", _in(parameters, model, "I_e", "pA") * per_pA, "nA")
        put(s, "v", _in(initial, model, "V_m", "mV"), "mV")
        put(s, "u", _in(initial, model, "U_m", "mV"), "mV/ms")
    else:  # pragma: no cover - the table admits no other family
        raise ParameterError(f"model {model.name!r}: {not_available(model)}")
    for port, syn in model.synapses.items():
        suffix = receptor(model, port)
        if "tau_syn" in syn.names:
            put(p, f"tau_syn_{suffix}", _in(parameters, model, syn.names["tau_syn"], "ms"), "ms")
        if "E" in syn.names:
            put(p, f"e_rev_{suffix}", _in(parameters, model, syn.names["E"], "mV"), "mV")
        if syn.kinetics == "psc_alpha":
            # IF_curr_alpha keeps its current as exc_response x exc_exp_response (synapse_types_alpha_impl.h):
            # only a synapse at rest has a value lifbridge can give it
            for state in (v for k, v in syn.names.items() if k in ("I_syn", "dI_syn")):
                if np.any(np.asarray(initial.get(state, 0.0), float) != 0):
                    raise ParameterError(f"{state} = {float(np.ravel(initial[state])[0]):g}: a non-zero initial "
                                         f"alpha-synapse state has no sPyNNaker value (IF_curr_alpha keeps "
                                         f"exc_response x exc_exp_response); start it at 0")
        elif "I_syn" in syn.names:
            put(s, f"isyn_{'exc' if suffix == 'E' else 'inh'}",
                _in(initial, model, syn.names["I_syn"], "pA") * per_pA, "nA")
        if "g" in syn.names:
            put(s, f"isyn_{'exc' if suffix == 'E' else 'inh'}", _in(initial, model, syn.names["g"], "uS"), "uS")
    return Translated(row, family, kinetics, p, s, units, per_pA)


def weight_factor(model, port: str, dt_ms: float, translated: Translated) -> float:
    """sPyNNaker's weight per unit of the model's weight on ``port`` (the port's unit).

    * exponential currents: pA -> nA (the same jump before the chip's init factor);
    * conductances: nS -> uS;
    * delta (LIF): the model's jump (mV) as sPyNNaker's charge (nA ms) whose jump after
      one step of the closed form is that jump: w_q = w cm dt / (tau_m (1 - exp(-dt/tau_m))),
      i.e. w / (R (1 - e^(-dt/tau_m)) / dt) (input_type_delta.h divides by dt);
    * delta (Izhikevich): the jump (mV) as a charge of (nA MOhm) ms, w_q = w;
    * alpha currents: the peak (pA) as sPyNNaker's alpha weight e tau w (nA ms).
    Returns a float (or per-neuron array for the delta LIF).
    """
    syn = model.synapses[port]
    unit = model.spike_inputs[port].unit
    if syn.type == "conductance":
        return unit.factor_to(parse_unit("uS"))
    if syn.type == "jump":
        jump = unit.factor_to(parse_unit("mV"))
        if translated.family == "izhikevich":
            return jump * _factor("mV/MOhm*ms", "nA*ms")
        tau = np.asarray(translated.parameters["tau_m"], float)
        cm = np.asarray(translated.parameters["cm"], float)
        resistance = tau / cm * _factor("ms/nF", "MOhm")
        return jump * dt_ms / (resistance * -np.expm1(-dt_ms / tau)) * _factor("mV/MOhm*ms", "nA*ms")
    current = unit.factor_to(parse_unit("pA")) * translated.current_factor
    if syn.kinetics == "psc_alpha":
        tau = np.asarray(translated.parameters[f"tau_syn_{receptor(model, port)}"], float)
        return current * math.e * tau
    return current
