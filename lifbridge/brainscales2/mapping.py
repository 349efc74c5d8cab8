"""Which lifbridge model is which BrainScaleS-2 cell type, and its values in the hardware's units.

BrainScaleS-2 (chip HICANN-X) emulates neurons with analog circuits that run about 1000
times faster than biology, so a biological millisecond is a hardware microsecond. Its
PyNN backend, ``pynn_brainscales.brainscales2``, offers three neuron cell types
(``list_standard_models``): the calibrated ``CalibHXNeuronCuba`` (current-based synaptic
input) and ``CalibHXNeuronCoba`` (conductance-based: the current-based input's amplitude
modulated by the distance of the membrane from a reversal potential), whose parameters
are calix calibration targets, and the uncalibrated ``HXNeuron``, whose parameters are
the AdEx circuit's raw CapMem values.

Units of the calibrated cell types (pynn-brainscales ``standardmodels/cells.py``,
``CalibHXNeuronCuba.units``; calix ``spiking/neuron.py::check_target``):

* voltages in CADC units (the chip's 8-bit column ADC reading; dimensionless). The CADC
  has no published fixed relation to volts, and none to the model's mV: lifbridge maps
  the model's millivolts linearly, :data:`VOLTAGE_REFERENCE_MV` -> :data:`VOLTAGE_REFERENCE_CADC`
  with :data:`VOLTAGE_GAIN_CADC_PER_MV`, chosen so that the bundled LIF's E_L = -70 mV and
  V_th = -55 mV land on calix's default leak (80) and threshold (125) targets. Another map
  is a keyword of :func:`translate`.
* times in hardware microseconds: the model's time (ms, biological) divided by
  :data:`SPEEDUP` and converted with :mod:`lifbridge.units`.

:data:`RANGES` holds every limit lifbridge checks, each with its source. A value outside
is a one-line :class:`lifbridge.errors.ParameterError` naming the parameter, its value in
the model's units, its value in the hardware's units and the allowed range.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ParameterError
from ..text import one_line
from ..units import parse_unit

#: The acceleration factor: hardware time = biological time / SPEEDUP (about 1000 for BrainScaleS-2,
#: Pehle et al. 2022; calix's default tau_mem of 10 us stands for 10 ms; pynn-brainscales runs take
#: hardware ms, simulator.py "runtime in ms wall-clock time").
SPEEDUP = 1000.0
#: Unit of the calibrated cell types' time parameters (CalibHXNeuronCuba.units: 'us').
HW_TIME_UNIT = "us"
#: Linear map from the model's voltages to CADC units (lifbridge's choice, see the module docstring).
VOLTAGE_REFERENCE_MV = -70.0
VOLTAGE_REFERENCE_CADC = 80.0
VOLTAGE_GAIN_CADC_PER_MV = 3.0
#: Neuron circuits per chip (calix: arrays shaped (512,); brainscales2-demos: "512 neuron circuits").
NEURONS_PER_CHIP = 512
#: Largest weight of one synapse row (6 bit; pynn-brainscales projections.py round_up_63: larger
#: weights take ceil(w / 63) parallel rows).
WEIGHT_MAX_PER_ROW = 63
#: CapMem cell values (10 bit; 1023 means off: pynn-brainscales cells.py, HXNeuron.units comment).
CAPMEM_MAX = 1022


@dataclass(frozen=True)
class Range:
    """An allowed range of one hardware parameter, inclusive, in ``unit``, with its source."""

    low: float
    high: float
    unit: str      # "CADC" or "us"
    source: str

    def text(self) -> str:
        unit = f" {self.unit}" if self.unit != "CADC" else " CADC"
        return f"[{self.low:g}, {self.high:g}]{unit}"


_CHECK = "calix src/py/calix/spiking/neuron.py check_target"
#: hardware parameter name (pynn_brainscales) -> allowed range.
RANGES = {
    "v_rest": Range(50, 160, "CADC", f"{_CHECK} (leak); CalibHXNeuronCuba docstring"),
    "v_reset": Range(50, 160, "CADC", f"{_CHECK} (reset); CalibHXNeuronCuba docstring"),
    "v_thresh": Range(50, 220, "CADC", f"{_CHECK} (threshold); CalibHXNeuronCuba docstring"),
    "tau_m": Range(0.5, 60, "us", f"{_CHECK} (tau_mem)"),
    "tau_syn_E": Range(0.3, 30, "us", f"{_CHECK} (tau_syn)"),
    "tau_syn_I": Range(0.3, 30, "us", f"{_CHECK} (tau_syn)"),
    "tau_refrac": Range(0.04, 32, "us", f"{_CHECK} (refractory_time, 40 ns to 32 us)"),
}

CUBA, COBA, HXNEURON = "CalibHXNeuronCuba", "CalibHXNeuronCoba", "HXNeuron"


@dataclass(frozen=True)
class CellType:
    """One row of the translation table: the cell type, whether it is calibrated, and why."""

    cell_type: str          # CUBA, COBA, HXNEURON or "" (not available)
    calibrated: bool
    note: str
    emulated: bool = False

    @property
    def available(self) -> bool:
        return bool(self.cell_type)


_NO_DELTA = ("BrainScaleS-2's synaptic input is a first-order low-pass with tau_syn >= 0.3 us (calix check_target); "
             "there is no delta synapse")
_NO_ALPHA = "BrainScaleS-2's synaptic input is a first-order (exponential) low-pass; there is no alpha kernel"

TABLE = {
    ("lif", "psc_exp"): CellType(CUBA, True, "calibrated LIF with exponential current synapses (calix targets in "
                                 "CADC and hardware us)", emulated=True),
    ("lif", "cond_exp"): CellType(COBA, True, "calibrated LIF; the conductance-based input is the current-based "
                                  "input's amplitude scaled by (e_rev - V) / (e_rev - e_coba_reference) "
                                  "(calix e_coba_reversal, e_coba_reference), i.e. g (E - V) with g the exponential "
                                  "conductance"),
    ("adex", "psc_exp"): CellType(HXNEURON, False, "UNCALIBRATED: pynn_brainscales calibrates only the LIF "
                                  "(CalibHXNeuronCuba/Coba); the AdEx circuit's exponential and adaptation terms are "
                                  "raw CapMem values (0-1022) of HXNeuron that must be tuned on the chip"),
    ("adex", "cond_exp"): CellType(HXNEURON, False, "UNCALIBRATED: as adex_psc_exp, with conductance-based input "
                                   "configured by hand"),
}


_FAMILY = {
    "adaptive_lif": "the AdEx circuit with its exponential term off adapts, but only as the uncalibrated HXNeuron, "
                    "and lifbridge does not map adaptive_lif to it",
    "pif": "the calibrated cell types keep a leak (tau_m <= 60 us, calix check_target); a non-leaky neuron would be an "
           "uncalibrated HXNeuron with the leak at its minimum, which lifbridge does not map",
}


def family_and_kinetics(model) -> tuple:
    """(neuron family, synapse kinetics) of a model: ``lif_cond_exp`` -> ("lif", "cond_exp")."""
    from ..compose import neuron_and_kinetics

    neuron, kinetics = neuron_and_kinetics(model)
    return neuron.removesuffix("_cond"), kinetics


def cell_type(model) -> CellType:
    """The table's row for ``model`` (not available, with the reason, when BrainScaleS-2 has none)."""
    family, kinetics = family_and_kinetics(model)
    if (family, kinetics) in TABLE:
        return TABLE[(family, kinetics)]
    if family in ("lif", "adex") and kinetics.endswith("delta"):
        return CellType("", False, _NO_DELTA)
    if family in ("lif", "adex") and kinetics.endswith("alpha"):
        return CellType("", False, _NO_ALPHA)
    if family in _FAMILY:
        return CellType("", False, _FAMILY[family])
    return CellType("", False, f"BrainScaleS-2's neuron circuit is the AdEx (and its LIF reduction); it has no "
                    f"{one_line(family)[:60]} dynamics")


def not_available(model) -> str:
    return f"not available on BrainScaleS-2: {cell_type(model).note}; nearest: lif_psc_exp (CalibHXNeuronCuba)"


# ---------------------------------------------------------------------------- units
def time_to_hw(value, unit) -> np.ndarray:
    """A biological time (``unit``, e.g. ms) as hardware time in :data:`HW_TIME_UNIT` (us)."""
    return np.asarray(value, float) * parse_unit(str(unit)).factor_to(parse_unit(HW_TIME_UNIT)) / SPEEDUP


def time_from_hw(value_us, unit="ms") -> np.ndarray:
    """A hardware time (us) as biological time in ``unit``."""
    return np.asarray(value_us, float) * SPEEDUP * parse_unit(HW_TIME_UNIT).factor_to(parse_unit(str(unit)))


@dataclass(frozen=True)
class VoltageMap:
    """The model's voltages -> CADC units: ``reference_cadc + gain (V - reference_mV)``."""

    reference_mV: float = VOLTAGE_REFERENCE_MV
    reference_cadc: float = VOLTAGE_REFERENCE_CADC
    gain_cadc_per_mV: float = VOLTAGE_GAIN_CADC_PER_MV

    def to_cadc(self, value, unit="mV"):
        mV = np.asarray(value, float) * parse_unit(str(unit)).factor_to(parse_unit("mV"))
        return self.reference_cadc + self.gain_cadc_per_mV * (mV - self.reference_mV)

    def from_cadc(self, cadc, unit="mV"):
        mV = self.reference_mV + (np.asarray(cadc, float) - self.reference_cadc) / self.gain_cadc_per_mV
        return mV * parse_unit("mV").factor_to(parse_unit(str(unit)))

    def drive_to_cadc_per_us(self, value, unit="mV/ms"):
        """A rate of change of the membrane (``unit``, biological time) as CADC per hardware us."""
        per_bio_ms = np.asarray(value, float) * parse_unit(str(unit)).factor_to(parse_unit("mV/ms"))
        return per_bio_ms * self.gain_cadc_per_mV / float(time_to_hw(1.0, "ms"))


DEFAULT_MAP = VoltageMap()


@dataclass
class Hardware:
    """A model's values as one BrainScaleS-2 cell type takes them.

    ``parameters``: pynn_brainscales name -> value (CADC or hardware us, float or per-neuron
    array); ``user``: the same name -> (the model's parameter name, its value, its unit) for
    messages; ``drive``: constant input as CADC per hardware us (I_e / C_m, emulation only);
    ``leak_shift``: the rest potential that a constant I_e sets (E_L + R I_e, CADC), which is
    how a calibrated cell takes a constant current ("leak over threshold").
    """

    cell_type: CellType
    family: str
    kinetics: str
    voltage_map: VoltageMap
    parameters: dict = field(default_factory=dict)
    user: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)


def _value(model, values, name):
    unit = model.parameters[name].unit if name in model.parameters else model.state[name].unit
    return np.asarray(values[name], float), unit


def translate(model, values: dict | None = None, *, voltage_map: VoltageMap = DEFAULT_MAP, check=True,
              where: str = "") -> Hardware:
    """``model``'s parameter ``values`` (its names and units; default: its own) as the BrainScaleS-2
    cell type's parameters in CADC and hardware us; with ``check``, every range of :data:`RANGES`
    is checked (a violation is a one-line ParameterError, the first one found)."""
    row = cell_type(model)
    family, kinetics = family_and_kinetics(model)
    if not row.available:
        raise ParameterError(f"{where}model {one_line(model.name)[:60]!r}: {not_available(model)}")
    if values is None:
        values = {n: p.value for n, p in model.parameters.items()}
    if family == "adex" and voltage_map is DEFAULT_MAP:
        voltage_map = adex_voltage_map(model, values)
    hw = Hardware(row, family, kinetics, voltage_map)

    def put_voltage(hw_name, name, value=None, unit=None):
        if value is None:
            value, unit = _value(model, values, name)
        hw.parameters[hw_name] = voltage_map.to_cadc(value, unit.name)
        hw.user[hw_name] = (name, value, unit.name)

    def put_time(hw_name, name, value=None, unit=None):
        if value is None:
            value, unit = _value(model, values, name)
        hw.parameters[hw_name] = time_to_hw(value, unit.name)
        hw.user[hw_name] = (name, value, unit.name)

    put_voltage("v_rest", "E_L")
    hw.parameters["v_leak"] = hw.parameters["v_rest"]   # E_L itself (the emulation adds I_e as a drive)
    put_voltage("v_reset", "V_reset")
    put_voltage("v_thresh", "V_peak" if family == "adex" else "V_th")
    put_time("tau_refrac", "t_ref")
    C, C_unit = _value(model, values, "C_m")
    if "tau_m" in values:
        put_time("tau_m", "tau_m")
        tau, tau_unit = _value(model, values, "tau_m")
    else:   # tau_m = C_m / g_L
        g, g_unit = _value(model, values, "g_L")
        tau = C / g * C_unit.factor_to(parse_unit("pF")) / g_unit.factor_to(parse_unit("nS")) \
            * parse_unit("pF/nS").factor_to(parse_unit("ms"))
        tau_unit = parse_unit("ms")
        put_time("tau_m", "C_m/g_L", tau, tau_unit)
    # a constant current: as drive I/C (emulation) and as the shifted rest E_L + R I (the script)
    I, I_unit = _value(model, values, "I_e")
    drive = I / C * I_unit.factor_to(parse_unit("pA")) / C_unit.factor_to(parse_unit("pF"))   # pA/pF
    hw.parameters["drive"] = voltage_map.drive_to_cadc_per_us(drive, "pA/pF")
    tau_ms = np.asarray(tau, float) * tau_unit.factor_to(parse_unit("ms"))
    shift_mV = drive * parse_unit("pA/pF").factor_to(parse_unit("mV/ms")) * tau_ms
    if np.any(shift_mV != 0):
        E, E_unit = _value(model, values, "E_L")
        rest = E * E_unit.factor_to(parse_unit("mV")) + shift_mV
        hw.parameters["v_rest"] = voltage_map.to_cadc(rest, "mV")
        hw.user["v_rest"] = ("E_L + R*I_e", rest, "mV")
        hw.notes.append("the constant current I_e is set as the rest potential E_L + R I_e (CalibHXNeuron* have no "
                        "calibrated current source; leak over threshold)")
    for port, syn in model.synapses.items():
        suffix = "I" if model.spike_inputs[port].sign == "inhibitory" else "E"
        if "tau_syn" in syn.names:
            put_time(f"tau_syn_{suffix}", syn.names["tau_syn"])
        if "E" in syn.names:
            # calix accepts any reversal potential (e_coba_reversal: ParameterRange(-inf, inf))
            put_voltage(f"e_rev_{suffix}", syn.names["E"])
    if family == "adex":
        # targets of the AdEx terms for tuning HXNeuron's CapMem values on the chip (not checked)
        g, g_unit = _value(model, values, "g_L")
        g_nS = g * g_unit.factor_to(parse_unit("nS"))
        put_voltage("exponential_v_exp", "V_th")
        slope, slope_unit = _value(model, values, "Delta_T")
        hw.parameters["delta_t"] = voltage_map.gain_cadc_per_mV * slope * slope_unit.factor_to(parse_unit("mV"))
        put_time("tau_w", "tau_w")
        a, a_unit = _value(model, values, "a")
        hw.parameters["a_over_g_L"] = a * a_unit.factor_to(parse_unit("nS")) / g_nS
        b, b_unit = _value(model, values, "b")
        hw.parameters["b_over_g_L"] = voltage_map.gain_cadc_per_mV * b * b_unit.factor_to(parse_unit("pA")) / g_nS \
            * parse_unit("pA/nS").factor_to(parse_unit("mV"))
        hw.notes.append(f"voltage map of this AdEx: E_L -> {ADEX_REST_CADC:g} CADC, V_peak -> {ADEX_PEAK_CADC:g} CADC "
                        f"({voltage_map.gain_cadc_per_mV:.4g} CADC/mV)")
    if check:
        check_ranges(hw, where)
    return hw


#: The AdEx's voltage map: E_L -> calix's default leak, V_peak (where the spike is detected) -> 200 CADC,
#: inside the threshold's range with room below the CADC's reliable limit (210, calix constants.py).
ADEX_REST_CADC, ADEX_PEAK_CADC = 80.0, 200.0


def adex_voltage_map(model, values) -> VoltageMap:
    E, E_unit = _value(model, values, "E_L")
    P, P_unit = _value(model, values, "V_peak")
    E_mV = float(np.ravel(E)[0]) * E_unit.factor_to(parse_unit("mV"))
    P_mV = float(np.ravel(P)[0]) * P_unit.factor_to(parse_unit("mV"))
    if P_mV <= E_mV:
        raise ParameterError(f"V_peak = {P_mV:g} mV is not above E_L = {E_mV:g} mV; the AdEx needs V_peak > E_L")
    return VoltageMap(E_mV, ADEX_REST_CADC, (ADEX_PEAK_CADC - ADEX_REST_CADC) / (P_mV - E_mV))


def check_ranges(hw: Hardware, where: str = "") -> None:
    """A one-line ParameterError for the first parameter of ``hw`` outside :data:`RANGES`."""
    for name, limit in RANGES.items():
        if name not in hw.parameters:
            continue
        values = np.atleast_1d(np.asarray(hw.parameters[name], float))
        bad = np.flatnonzero((values < limit.low - 1e-9) | (values > limit.high + 1e-9))
        if len(bad):
            i = int(bad[0])
            ours, user_value, user_unit = hw.user[name]
            user_value = float(np.ravel(np.broadcast_to(user_value, values.shape))[i])
            shown_hw = f"{values[i]:.4g} {limit.unit}"
            fix = _fix(name, limit, hw.voltage_map)
            raise ParameterError(f"{where}{ours} = {user_value:g} {user_unit} is {name} = {shown_hw} on BrainScaleS-2, "
                                 f"outside {limit.text()} ({limit.source}); {fix}")


def _fix(name, limit, voltage_map):
    if limit.unit == "us":
        low, high = (float(time_from_hw(x, "ms")) for x in (limit.low, limit.high))
        return f"use {low:g} ms to {high:g} ms (biological time at {SPEEDUP:g}x)"
    low, high = (float(voltage_map.from_cadc(x, "mV")) for x in (limit.low, limit.high))
    return f"use {low:.4g} mV to {high:.4g} mV (or another voltage map)"


def weight_rows(weight_lsb) -> np.ndarray:
    """Parallel synapse rows a weight of ``weight_lsb`` LSB needs (``ceil(w / 63)``, at least 1)."""
    w = np.abs(np.asarray(weight_lsb, float))
    return np.maximum(1, np.ceil(w / WEIGHT_MAX_PER_ROW)).astype(int)


def check_population(n, where: str = "") -> None:
    """A one-line ParameterError when ``n`` neurons do not fit on one chip (512 neuron circuits)."""
    if int(n) > NEURONS_PER_CHIP or int(n) < 1:
        raise ParameterError(f"{where}population of {int(n)} neurons: one BrainScaleS-2 chip has {NEURONS_PER_CHIP} "
                             f"neuron circuits; use 1 to {NEURONS_PER_CHIP} neurons per chip")
