"""lifbridge's LIF family as NIR graphs (the neuromorphic intermediate representation, ``nir`` 1.0.8).

NIR is read by Lava/Loihi, SpiNNaker2, Xylo/Rockpool, snnTorch, Norse, Sinabs and Spyx. Its
neuron nodes are the continuous-time equations documented in the docstrings of
``nir/ir/neuron.py`` (neuromorphs/NIR, release 1.0.8), which these graphs follow:

* ``LIF``:      tau dv/dt = (v_leak - v) + R I;  v > v_threshold: spike, v = v_reset
* ``CubaLIF``:  tau_syn dI/dt = -I + w_in S;  tau_mem dv/dt = (v_leak - v) + R I;  same threshold and reset
* ``IF``:       dv/dt = R I;  same threshold and reset
* ``LI``:       tau dv/dt = (v_leak - v) + R I  (here: the synaptic current of ``pif_psc_exp``)

Which lifbridge model is which graph (:func:`mapping`):

====================  ===========================  =====================================================
lifbridge model       NIR nodes                    values
====================  ===========================  =====================================================
``lif_psc_exp``       ``CubaLIF``                  tau_mem = tau_m, R = tau_m/C_m, tau_syn, w_in = tau_syn
``lif_psc_delta``     ``LIF``                      tau = tau_m, R = tau_m/C_m
``pif_psc_delta``     ``IF``                       R = 1/C_m
``pif_psc_exp``       ``LI`` -> ``IF``             LI: tau = tau_syn, R = tau_syn, v_leak = 0; IF: R = 1/C_m
====================  ===========================  =====================================================

**Units.** NIR is unitless. lifbridge writes PyNN's units (:data:`UNITS`): times in ms,
voltages in mV, currents in nA, R = tau_m/C_m in MOhm (mV/nA), IF's R = 1/C_m in 1/nF
(mV per nA ms), charges in pC (nA ms). NIR's own table of primitives
(``docs/source/primitives.md``) names ms and mV and writes R in Ohm; lifbridge keeps ms
and mV and writes R in MOhm so that R I is in mV with I in nA. Every value is converted
with :mod:`lifbridge.units` from the model's own units. NIR fixes no voltage scale, and
platforms that read NIR use their own (some a threshold of 1, some fixed-point integers):
a platform that rescales voltages by k must scale v_leak, v_threshold, v_reset and R by
the same k, and a platform counting time in steps must divide every time (tau, tau_syn,
w_in) by its step in ms. The semantics are NIR 1.0.8's continuous-time equations, not
any platform's discretisation.

**Voltages are relative to the model's initial membrane potential** (E_L for ``lif``,
V_reset for ``pif``): v = V_m - V_0, so v_leak = 0 for ``lif``, and NIR's unstated initial
state (zero on the platforms that start from zero) is lifbridge's initial state. The
offset is in the graph's metadata (``v_offset_mV``).

**Input weights.** NIR documents CubaLIF's synapse as tau_syn dI/dt = -I + w_in S
(``CubaLIF`` docstring, ``nir/ir/neuron.py``, neuromorphs/NIR 1.0.8). One input spike of
size a is S = a delta(t - t0); integrating over the spike gives tau_syn Delta I = w_in a,
so it moves I by Delta I = w_in a / tau_syn. NEST's ``iaf_psc_exp`` (lifbridge's
``psc_exp``) moves I_syn by the weight w itself. The two agree when w_in a = w tau_syn:
for a unit spike (a = 1) that is ``w_in = w tau_syn``. A connection's weight belongs to
the edge, not to the neuron, so lifbridge writes w_in = tau_syn (ms) and an input spike
carries the weight w (nA): a spike of NEST weight w (pA, converted) moves I by w. The
same holds for ``pif_psc_exp``'s ``LI`` node (tau dv/dt = -v + R I with tau = R = tau_syn).
``LIF`` and ``IF`` take the current I itself (nA); a delta synapse's spike of NEST weight
w (mV) is a pulse of charge q = w C_m (pC), which moves v by R q / tau = w (LIF:
R/tau = 1/C_m) or R q = w (IF: R = 1/C_m).

**Not in NIR 1.0.** No neuron node has a refractory period: a model with t_ref > 0 is
refused unless it is dropped explicitly (``drop_refractory=True``, or ``--param
t_ref=0ms`` on the command line), and the graph's metadata then says that the exported
model differs. No node has a bias current: a nonzero I_e becomes an ``Affine`` node's
bias in front of the neuron (for ``CubaLIF`` it then reaches the membrane through the
synaptic filter and rises with tau_syn from t = 0). Conductance synapses, alpha-shaped
synapses, non-linear membranes and opsins are refused with the reason (:func:`refusal`).
The threshold is strict (v > v_threshold) where lifbridge's is V_m >= V_th: the two differ
only where v lands on the threshold exactly.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from .errors import LifbridgeError
from .units import parse_unit

#: The NIR release whose documented node equations the graphs follow.
NIR_VERSION = "1.0.8"

#: The units lifbridge writes into NIR graphs (PyNN's units): quantity -> unit text.
UNITS = MappingProxyType({
    "time": "ms",            # tau, tau_mem, tau_syn, w_in (w_in = tau_syn)
    "voltage": "mV",         # v_leak, v_threshold, v_reset, relative to v_offset_mV
    "current": "nA",         # I of LIF and CubaLIF, the LI's output, an Affine's bias
    "resistance": "MOhm",    # R of LIF, CubaLIF (mV/nA)
    "inverse_capacitance": "1/nF",   # R of IF (mV per nA ms)
    "charge": "pC",          # the area of an input pulse into LIF or IF
})

UNITS_TEXT = ("times in ms, voltages in mV relative to v_offset_mV, currents in nA, R of LIF and CubaLIF in MOhm, "
              "R of IF in 1/nF, w_in in ms (= tau_syn: a pulse of area w nA moves I by w nA), input pulses into "
              "LIF and IF in pC")

SEMANTICS = (f"NIR {NIR_VERSION} node equations as documented in nir/ir/neuron.py (continuous time, threshold "
             "v > v_threshold, reset to v_reset, no refractory period)")


class NIRExportError(LifbridgeError):
    """A model (or a value of it) that NIR 1.0 cannot express."""


@dataclass(frozen=True)
class Mapping:
    """How one lifbridge model becomes NIR nodes."""

    membrane: str          # "LIF", "CubaLIF" or "IF"
    synapse: str           # "" (none: delta synapses or CubaLIF's own), or "LI" (pif_psc_exp)
    note: str


_REFUSED_FAMILY = {
    "adex": "the exponential spike upswing is non-linear; NIR 1.0's neuron nodes are linear below threshold",
    "izhikevich": "the quadratic membrane is non-linear; NIR 1.0's neuron nodes are linear below threshold",
    "hh": "Hodgkin-Huxley channels are non-linear; NIR 1.0 has no conductance-based channel nodes",
    "hh_traub": "Hodgkin-Huxley channels are non-linear; NIR 1.0 has no conductance-based channel nodes",
    "adaptive_lif": "the spike-triggered adaptation conductance is a second state driven by the neuron's own spikes "
                    "and its driving force; no NIR 1.0 node has one",
    "optogenetic_lif": "the opsin's kinetics and its light input have no NIR 1.0 node",
    "lif_cond": "conductance synapses: the current g (E - V) depends on the membrane potential, and NIR 1.0's nodes "
                "take a current (R I) only",
    "pif_cond": "conductance synapses: the current g (E - V) depends on the membrane potential, and NIR 1.0's nodes "
                "take a current (R I) only",
}

_KINETICS = {
    ("lif", "psc_exp"): Mapping("CubaLIF", "", "CubaLIF: the exponential current is CubaLIF's I (one time constant "
                                "for both ports)"),
    ("lif", "psc_delta"): Mapping("LIF", "", "LIF: a spike is a pulse of charge w C_m into R I"),
    ("pif", "psc_delta"): Mapping("IF", "", "IF: a spike is a pulse of charge w C_m into R I"),
    ("pif", "psc_exp"): Mapping("IF", "LI", "LI -> IF: the exponential current is an LI node (tau = R = tau_syn, "
                                "v_leak = 0) whose output is the IF's input current"),
}


def family_and_kinetics(model) -> tuple:
    """(neuron family, synapse kinetics) of a model by its name: ``lif_psc_exp`` -> ("lif", "psc_exp");
    ``lif_cond_exp`` -> ("lif_cond", "cond_exp"); a model of its own: (its name, its synapses' kinetics)."""
    from .compose import neuron_and_kinetics

    return neuron_and_kinetics(model)


_SAME_FORM = ("its equations are not those of lif or pif (C_m dV_m/dt = -(C_m/tau_m)(V_m - E_L) + I, or C_m dV_m/dt "
              "= I, with I = I_syn + I_e + I_stim; V_m >= V_th: V_m = V_reset; refractory for t_ref)")


def membrane(model) -> tuple:
    """("lif" or "pif", "psc_exp", "psc_delta" or "") if ``model`` is, equation for equation, the LIF or the
    PIF with bundled exponential-current or delta synapses (or none), else ("", why not).

    The membrane equation is compared with the two forms numerically, at random values of its names."""
    from .expr import evaluate, symbols, to_text

    kinds = {s.kinetics for s in model.synapses.values()}
    if not kinds <= {"psc_exp", "psc_delta"} or len(kinds) > 1 or not all(s.bundled for s in model.synapses.values()):
        return "", f"its synapses ({', '.join(sorted(kinds))}) are not all bundled psc_exp or all psc_delta"
    kinetics = kinds.pop() if kinds else ""
    currents = {s.names["I_syn"]: (-1.0 if model.spike_inputs[p].sign == "inhibitory" else 1.0)
                for p, s in model.synapses.items() if kinetics == "psc_exp"}
    if set(model.state) != {"V_m", *currents} or "V_m" not in model.equations:
        return "", _SAME_FORM
    for name in currents:
        port = next(p for p, s in model.synapses.items() if s.names.get("I_syn") == name)
        tau = model.synapses[port].names["tau_syn"]
        if to_text(model.equations[name]) != f"-{name} / {tau}":
            return "", _SAME_FORM
    spike, refractory = model.spike, model.refractory
    if spike is None or to_text(spike.condition) != "V_m >= V_th" or len(spike.reset) != 1 \
            or (spike.reset[0].target, spike.reset[0].op, to_text(spike.reset[0].value)) != ("V_m", "=", "V_reset"):
        return "", _SAME_FORM
    if refractory is not None and (to_text(refractory.period) != "t_ref" or tuple(refractory.clamp) != ("V_m",)):
        return "", _SAME_FORM
    stim = model.input_current
    names = symbols(model.equations["V_m"])
    allowed = {"V_m", "C_m", "tau_m", "E_L", "I_e", *currents} | ({stim} if stim else set())
    if not names <= allowed or not {"C_m", "V_th", "V_reset"} <= set(model.parameters):
        return "", _SAME_FORM
    rng = np.random.default_rng(7)
    values = {name: rng.uniform(0.5, 2.0, 3) for name in allowed}
    drive = sum(sign * values[name] for name, sign in currents.items()) + values["I_e"] + (values[stim] if stim else 0)
    got = evaluate(model.equations["V_m"], values)
    forms = {"lif": -(values["V_m"] - values["E_L"]) / values["tau_m"] + drive / values["C_m"],
             "pif": drive / values["C_m"]}
    for family, expected in forms.items():
        if family == "lif" and not {"tau_m", "E_L"} <= set(model.parameters):
            continue
        if np.allclose(got, expected, rtol=1e-12, atol=0.0):
            return family, kinetics
    return "", _SAME_FORM


def refusal(model) -> str:
    """"" if NIR 1.0 can express ``model`` (refractory period aside), else why not, in one line."""
    family, kinetics = family_and_kinetics(model)
    if family in _REFUSED_FAMILY:
        return f"{model.name}: not expressible in NIR 1.0: {_REFUSED_FAMILY[family]}"
    kinds = {s.kinetics for s in model.synapses.values()} | ({kinetics} if kinetics else set())
    if any(s.type == "conductance" for s in model.synapses.values()) or any(k.startswith("cond_") for k in kinds):
        return f"{model.name}: not expressible in NIR 1.0: {_REFUSED_FAMILY['lif_cond']}"
    if "psc_alpha" in kinds:
        return (f"{model.name}: not expressible as one NIR 1.0 neuron node: the alpha-shaped current needs a second "
                f"synaptic state (CubaLIF's current is a single exponential); nearest: the same neuron with psc_exp")
    if model.light_input is not None:
        return f"{model.name}: not expressible in NIR 1.0: {_REFUSED_FAMILY['optogenetic_lif']}"
    found, why = membrane(model)
    if not found:
        return (f"{model.name}: no NIR mapping: {why}; NIR exports the LIF and PIF with exponential-current or "
                "delta synapses (lif_psc_exp, lif_psc_delta, pif_psc_exp, pif_psc_delta)")
    return ""


def mapping(model) -> Mapping:
    """The NIR nodes of ``model``; NIRExportError (one line, with the reason) if there are none."""
    reason = refusal(model)
    if reason:
        raise NIRExportError(reason)
    family, kinetics = membrane(model)
    return _KINETICS[(family, kinetics or "psc_delta")]


def _in(values: dict, model, name: str, unit: str) -> np.ndarray:
    """The model's value of ``name`` (its own unit; scalar or per neuron) in ``unit``."""
    return np.asarray(values[name], dtype=float) * model.unit_of(name).factor_to(parse_unit(unit))


def _ratio(a, a_unit: str, b, b_unit: str, unit: str) -> np.ndarray:
    """a / b in ``unit`` (a in a_unit, b in b_unit)."""
    return np.asarray(a, float) / np.asarray(b, float) * parse_unit(f"({a_unit})/({b_unit})").factor_to(
        parse_unit(unit))


def _spec_default(model, name):
    """The value of parameter ``name`` in the model's own file (before --param), or None if unknown."""
    from .spec import load

    for source in (model.name, model.source):
        try:
            return load(source).parameters[name].value
        except Exception:  # noqa: BLE001 - a model built in memory has no file to compare with
            continue
    return None


def graph(model, n: int = 1, *, drop_refractory: bool = False, values: dict | None = None, initial: dict | None = None,
          include_bias: bool = True):
    """The NIR graph (``nir.NIRGraph``) of ``n`` neurons of ``model``: Input -> [Affine] -> [LI] -> neuron -> Output.

    ``values``/``initial``: parameter and initial values (the model's names and units, scalar
    or per neuron), default the model's. A refractory period t_ref > 0 is NIRExportError
    unless ``drop_refractory``; then (and when the model's file has t_ref > 0 but the value
    given is 0) the metadata's ``differs`` says what the exported model lacks.
    ``include_bias=False`` leaves I_e out (a runner gives it as input current instead).
    Metadata (graph): the NIR version and semantics, the units, the voltage offset, the
    lifbridge model and what differs.
    """
    import nir

    from .overrides import resolve

    found = mapping(model)
    if values is None or initial is None:
        resolved = resolve(model, {}, n=n)
        values = resolved.parameter_values() if values is None else values
        initial = resolved.initial_values() if initial is None else initial
    shape = (n,)

    def full(x):
        return np.broadcast_to(np.asarray(x, dtype=float), shape).copy()

    t_ref = full(_in(values, model, "t_ref", "ms")) if "t_ref" in values else np.zeros(shape)
    differs = []
    if np.any(t_ref > 0):
        if not drop_refractory:
            raise NIRExportError(f"{model.name} t_ref = {float(t_ref.max()):g} ms: NIR {NIR_VERSION}'s neuron nodes have "
                                 "no refractory period; export with --param t_ref=0ms (or drop_refractory=True), "
                                 "and the exported model fires without one")
        differs.append(f"t_ref = {float(t_ref.max()):g} ms dropped: NIR {NIR_VERSION} has no refractory period, the "
                       "exported neuron can fire again right after its reset")
    else:
        default = _spec_default(model, "t_ref")
        if default is not None and default > 0:
            unit = model.parameters["t_ref"].unit.name
            differs.append(f"t_ref = 0 (the model's file has {default:g} {unit}): NIR {NIR_VERSION} has no refractory "
                           "period, the exported neuron can fire again right after its reset")
    v0 = full(_in(initial, model, "V_m", "mV"))
    relative = {name: full(_in(values, model, name, "mV")) - v0 for name in ("V_th", "V_reset")}
    C_nF = full(_in(values, model, "C_m", "nF"))
    nodes = {"input": nir.Input(input_type={"input": np.array(shape)})}
    edges = []
    previous = "input"
    I_e = full(_in(values, model, "I_e", "nA")) if "I_e" in values else np.zeros(shape)
    tau_syn = None
    if found.membrane == "CubaLIF" or found.synapse == "LI":
        taus = {p: full(_in(values, model, s.names["tau_syn"], "ms")) for p, s in model.synapses.items()}
        first = next(iter(taus.values()))
        for port, tau in taus.items():
            if not np.allclose(tau, first, rtol=1e-12, atol=0.0):
                raise NIRExportError(f"{model.name} {model.synapses[port].names['tau_syn']} = {float(tau[0]):g} ms "
                                     f"differs from {float(first[0]):g} ms: NIR's {found.membrane if not found.synapse else 'LI'}"
                                     " has one synaptic time constant for all inputs; give both ports the same tau_syn")
        tau_syn = first
    if include_bias and np.any(I_e != 0):
        # NIR 1.0's neuron nodes have no bias: a constant input current is an Affine node's bias
        bias = I_e / tau_syn if tau_syn is not None else I_e   # into S (nA/ms) or into I (nA)
        nodes["bias"] = nir.Affine(weight=np.eye(n), bias=bias, metadata={
            "what": "the bias current I_e (nA" + (", entering S as I_e/w_in: I rises to I_e with tau_syn)"
                                                  if tau_syn is not None else ")")})
        edges.append((previous, "bias"))
        previous = "bias"
        if tau_syn is not None:
            differs.append("I_e enters through the synaptic filter (NIR's neuron nodes have no bias): it rises to its "
                           "value with tau_syn from t = 0 where lifbridge's is on from t = 0")
    if found.synapse == "LI":
        nodes["synapse"] = nir.LI(tau=tau_syn, r=tau_syn.copy(), v_leak=np.zeros(shape),
                                  metadata={"what": "the synaptic current (nA): tau = R = tau_syn (ms), so a pulse "
                                                    "of area w moves it by w"})
        edges.append((previous, "synapse"))
        previous = "synapse"
    if found.membrane == "CubaLIF":
        tau_m = full(_in(values, model, "tau_m", "ms"))
        neuron = nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_m, r=_ratio(tau_m, "ms", C_nF, "nF", UNITS["resistance"]),
                             v_leak=full(_in(values, model, "E_L", "mV")) - v0, v_threshold=relative["V_th"],
                             v_reset=relative["V_reset"], w_in=tau_syn.copy())
    elif found.membrane == "LIF":
        tau_m = full(_in(values, model, "tau_m", "ms"))
        neuron = nir.LIF(tau=tau_m, r=_ratio(tau_m, "ms", C_nF, "nF", UNITS["resistance"]),
                         v_leak=full(_in(values, model, "E_L", "mV")) - v0, v_threshold=relative["V_th"],
                         v_reset=relative["V_reset"])
    else:
        neuron = nir.IF(r=_ratio(np.ones(shape), "1", C_nF, "nF", UNITS["inverse_capacitance"]),
                        v_threshold=relative["V_th"], v_reset=relative["V_reset"])
    nodes["neuron"] = neuron
    nodes["output"] = nir.Output(output_type={"output": np.array(shape)})
    edges += [(previous, "neuron"), ("neuron", "output")]
    metadata = {"generator": "lifbridge", "lifbridge_model": model.name, "nir_version": NIR_VERSION,
                "semantics": SEMANTICS, "units": UNITS_TEXT, "v_offset_mV": v0,
                "mapping": found.note, "differs": "; ".join(differs) if differs else "nothing"}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


class Exported(bytes):
    """The bytes of a NIR file (HDF5), with ``notes``: what the exported model lacks, one line each."""

    notes: tuple = ()


def to_bytes(model) -> Exported:
    """``lifbridge generate MODEL --target nir``: the model's NIR graph (one neuron) as the bytes of an
    HDF5 file that ``nir.read`` reads. A refractory period must be set to 0 first (``--param t_ref=0ms``)."""
    import nir

    built = graph(model)
    buffer = io.BytesIO()
    nir.write(buffer, built)
    out = Exported(buffer.getvalue())
    differs = built.metadata["differs"]
    out.notes = () if differs == "nothing" else tuple(
        f"the exported NIR graph differs from {model.name}: {text}" for text in differs.split("; "))
    return out


def read_bytes(data: bytes):
    """The ``nir.NIRGraph`` in the bytes of a NIR file (``nir.read``)."""
    import nir

    return nir.read(io.BytesIO(bytes(data)))
