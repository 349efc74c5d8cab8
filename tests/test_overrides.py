"""Overrides: every value a user gives for a parameter or initial value is unit-checked."""

import numpy as np
import pytest

import lifbridge
from lifbridge import overrides
from lifbridge.overrides import resolve
from lifbridge.units import AMP, SECOND

LIF = lifbridge.load("lif")


def one_line(error):
    text = str(error.value)
    assert "\n" not in text and "Traceback" not in text
    return text


@pytest.mark.parametrize("value, expected", [
    ("250pF", 250.0), ("0.5 nF", 500.0), ("250", 250.0), (250, 250.0), (250.0, 250.0), (np.float32(250.0), 250.0),
])
def test_scalar_forms(value, expected):
    assert resolve(LIF, {"C_m": value}).parameters["C_m"] == pytest.approx(expected, rel=1e-15)


def test_per_neuron_forms():
    r = resolve(LIF, {"V_th": [-55, -50], "E_L": np.array([-70.0, -65.0]), "V_m": ["-60mV", "-61 mV"]}, n=2)
    assert np.array_equal(r.parameters["V_th"], [-55.0, -50.0])
    assert set(r.per_neuron) == {"V_th", "E_L", "V_m"}
    assert np.array_equal(r.initial_values()["V_m"], [-60.0, -61.0])
    # unset initial values follow the per-neuron parameters they are defined by
    r = resolve(LIF, {"E_L": [-70.0, -65.0]}, n=2)
    assert np.array_equal(r.initial_values()["V_m"], [-70.0, -65.0])


@pytest.mark.parametrize("value, message", [
    ("250mV", 'C_m: 250mV is a voltage, C_m needs a capacitance (pF), e.g. C_m="250pF"'),
    ("1 ms", "C_m: 1 ms is a time, C_m needs a capacitance (pF)"),
    ("250 pF pF", "C_m: "),
    ("nan", "C_m: "),
    (float("inf"), "C_m: inf is not a finite number"),
    (True, "C_m: True is not a number"),
    (None, "C_m: None is not a number"),
    ({"value": 1}, "C_m: {'value': 1} is not a number"),
])
def test_bad_scalars_are_one_line_errors(value, message):
    with pytest.raises(lifbridge.ParameterError) as error:
        resolve(LIF, {"C_m": value})
    assert message in one_line(error)


def test_brian2_quantities_are_dimension_checked():
    b2 = pytest.importorskip("brian2")
    assert resolve(LIF, {"C_m": 250 * b2.pF}).parameters["C_m"] == 250.0
    assert resolve(LIF, {"tau_m": 0.02 * b2.second}).parameters["tau_m"] == 20.0
    assert np.array_equal(resolve(LIF, {"V_th": [-50, -55] * b2.mV}, n=2).parameters["V_th"], [-50.0, -55.0])
    assert np.array_equal(resolve(LIF, {"V_th": [-50 * b2.mV, "-55mV"]}, n=2).parameters["V_th"], [-50.0, -55.0])
    with pytest.raises(lifbridge.ParameterError) as error:
        resolve(LIF, {"C_m": 250 * b2.mV})
    assert one_line(error) == 'C_m: 250. mV is a voltage, C_m needs a capacitance (pF), e.g. C_m="250pF"'
    with pytest.raises(lifbridge.ParameterError) as error:
        resolve(LIF, {"V_th": [-50, -55] * b2.second}, n=2)
    assert "V_th: [-50. -55.] s is a time, V_th needs a voltage (mV)" in one_line(error)
    with pytest.raises(lifbridge.ParameterError) as error:
        resolve(LIF, {"V_th": [-50 * b2.mV, 3 * b2.nA]}, n=2)
    assert "V_th[1]: 3. nA is a current, V_th needs a voltage (mV)" in one_line(error)
    with pytest.raises(lifbridge.ParameterError) as error:
        resolve(LIF, {"V_m": 1 * b2.pA})
    assert "V_m: 1. pA is a current, V_m needs a voltage (mV)" in one_line(error)
    # a dimensionless parameter refuses a quantity with a unit
    with pytest.raises(lifbridge.ParameterError, match="b: 1. mV is a voltage, b is dimensionless, e.g. b=0.1"):
        resolve(lifbridge.load("adaptive_lif"), {"b": 1 * b2.mV})


def test_to_unit_checks_brian2_quantities_too():
    b2 = pytest.importorskip("brian2")
    with pytest.raises(lifbridge.ParameterError, match="is a voltage"):
        LIF.with_parameters(C_m=250 * b2.mV)
    assert LIF.with_parameters(C_m=250 * b2.pF).parameters["C_m"].value == 250.0


def test_foreign_quantities_are_refused():
    class Fake:  # stands for a pint quantity: what matters is the module it comes from
        pass

    Fake.__module__ = "pint.registry"
    with pytest.raises(lifbridge.ParameterError, match="C_m: a pint quantity is not read; give a string with a unit"):
        resolve(LIF, {"C_m": Fake()})


def test_bounds_and_constraints_per_element():
    with pytest.raises(lifbridge.ParameterError) as error:
        resolve(LIF, {"tau_m": [10.0, 0.0]}, n=2)
    assert one_line(error) == "neuron 1: parameter tau_m = 0 ms is not allowed: it must be > 0 ms"
    with pytest.raises(lifbridge.ParameterError) as error:
        resolve(LIF, {"V_th": [-40.0, -60.0], "V_reset": -50.0}, n=2)
    assert one_line(error).startswith("neuron 1: constraint 'V_reset < V_th' does not hold (V_reset = -50 mV, V_th = -60 mV)")
    # a scalar that only fits with the per-neuron values given with it
    r = resolve(LIF, {"V_th": [-40.0, -45.0], "V_reset": -50.0}, n=2)
    assert r.model.parameters["V_reset"].value == -50.0
    with pytest.raises(lifbridge.ParameterError, match=r"V_th\[1\]: nan is not a finite number"):
        resolve(LIF, {"V_th": [-50.0, np.nan]}, n=2)


def test_array_lengths():
    with pytest.raises(lifbridge.ParameterError, match="V_th: 3 values given for 2 neurons"):
        resolve(LIF, {"V_th": [-50, -51, -52]}, n=2)
    with pytest.raises(lifbridge.ParameterError, match="V_th: 2 values given where one value is expected"):
        resolve(LIF, {"V_th": [-50, -51]})


def test_unknown_names_get_a_suggestion():
    with pytest.raises(lifbridge.ParameterError) as error:
        resolve(LIF, {"tau_mem": 3.0}, where="--param ")
    assert one_line(error).startswith("--param model 'lif' has no parameter or state variable 'tau_mem'; did you mean tau_m")
    with pytest.raises(lifbridge.ParameterError, match="I_stim is an input of model 'lif'"):
        resolve(LIF, {"I_stim": 3.0})


def test_nest_names_are_aliases():
    r = resolve(LIF, {"tau_syn_ex": "5ms", "tau_syn_in": 10.0})
    assert dict(r.parameters) == {"tau_syn_exc": 5.0, "tau_syn_inh": 10.0}
    cond = lifbridge.load("lif_cond")
    assert dict(resolve(cond, {"E_ex": 0.0, "E_in": -80.0, "g_ex": 1.0}).parameters) == {"E_exc": 0.0, "E_inh": -80.0}
    assert resolve(cond, {"g_in": "2nS"}).state["g_inh"] == 2.0
    hh = lifbridge.load("hh")
    assert dict(resolve(hh, {"Act_m": 0.1, "Inact_h": 0.5, "Act_n": 0.3}).state) == {"m": 0.1, "h": 0.5, "n": 0.3}
    # NEST's spelling of a name this model does not have is an unknown name, not another variable
    with pytest.raises(lifbridge.ParameterError, match="no parameter or state variable 'g_ex'"):
        resolve(LIF, {"g_ex": 1.0})
    with pytest.raises(lifbridge.ParameterError, match="no parameter or state variable 'E_ex'"):
        resolve(LIF, {"E_ex": 0.0})
    # NEST's iaf_psc_exp keeps I_syn_in negative, lifbridge's I_syn_inh is its magnitude
    with pytest.raises(lifbridge.ParameterError, match="I_syn_in is NEST's spelling of an inhibitory current"):
        resolve(LIF, {"I_syn_in": -50.0})
    with pytest.raises(lifbridge.ParameterError, match="tau_syn_exc is given twice"):
        resolve(LIF, {"tau_syn_ex": 1.0, "tau_syn_exc": 2.0})
    with pytest.raises(lifbridge.ParameterError, match="tau_syn_ex \\(= tau_syn_exc\\): 5 mV is a voltage, tau_syn_exc needs"):
        resolve(LIF, {"tau_syn_ex": "5 mV"})


def test_alias_table_covers_every_nest_name():
    """Every NEST name of lifbridge.nest.BUILTIN_EQUIVALENTS resolves to the variable it maps."""
    from lifbridge.nest import BUILTIN_EQUIVALENTS

    for name, equivalent in BUILTIN_EQUIVALENTS.items():
        model = lifbridge.load(name)
        negated = set(getattr(equivalent, "negated", ()))
        for table in (equivalent.parameters, equivalent.state):
            for ours, (theirs, _unit) in table.items():
                if theirs is None:
                    continue
                # a current or its derivative (hh_psc_alpha's dI_syn_in is internal, aeif_psc_alpha's not)
                current = ours in model.state and model.state[ours].unit.dim in (AMP, AMP / SECOND)
                if ours in negated or (current and ours.endswith("_inh")):
                    # NEST keeps it negative (or may): the spelling is refused, never mapped to the magnitude
                    with pytest.raises(lifbridge.ParameterError, match=f"here {ours} holds its magnitude"):
                        overrides.canonical_name(model, theirs)
                else:
                    assert overrides.canonical_name(model, theirs) == ours, (name, theirs)


def test_multisynapse_arrays_are_no_aliases():
    """NEST's *_multisynapse models keep receptor n's parameters in arrays (tau_syn, E_rev):
    such a name stands for several of ours and is refused with a "did you mean"; the
    recordables (I_syn_2, g_3) are our names."""
    from lifbridge.nest import builtin_equivalent

    for neuron, kinetics in (("lif", "psc_exp"), ("lif", "psc_alpha"), ("adex", "cond_alpha")):
        model = lifbridge.load(neuron, receptors=[(1, kinetics), (2, kinetics), (3, kinetics, {}, "inhibitory")])
        equivalent = builtin_equivalent(model)
        assert equivalent.elements
        for ours in equivalent.elements:
            theirs = equivalent.parameters[ours][0]
            with pytest.raises(lifbridge.ParameterError, match="did you mean"):
                overrides.canonical_name(model, theirs)
        for ours, (theirs, _unit) in equivalent.state.items():
            if theirs is not None:
                assert theirs == ours and overrides.canonical_name(model, theirs) == ours


def test_an_alias_never_hides_a_real_name():
    model = LIF.with_parameters()  # the alias table is derived, so check the rule on the derived table
    for nest_name, ours in overrides.aliases(model).items():
        assert nest_name not in model.parameters and nest_name not in model.state
        assert ours in model.parameters or ours in model.state
