"""Checks are chosen by what a model declares, and the declarations are checked like every hint.

[hints].role (the biophysical reference the HH-derived equivalents are measured on),
[hints].opsin_states (which states are the opsin's open and desensitized fractions),
[hints].runaway_bounds (divergence bounds per state), [hints].analytic (the closed form,
which also selects the Siegert checks), and the membrane potential (the voltage state
the spike condition reads).
"""

import re

import pytest

import lifbridge
from lifbridge.divergence import membrane_potential, runaway_bounds
from lifbridge.errors import SpecError
from lifbridge.judge import biophysical_reference, is_biophysical_reference
from lifbridge.validation.harness import _siegert_applies
from lifbridge.validation.protocols import build_batch, opsin_states


def with_hints(tmp_path, model, lines):
    """The bundled ``model`` written to tmp_path with ``lines`` added to its [hints]."""
    text = (lifbridge.models_dir() / f"{model}.toml").read_text()
    assert text.count("\n[hints]\n") == 1
    path = tmp_path / f"{model}.toml"
    path.write_text(text.replace("\n[hints]\n", "\n[hints]\n" + "\n".join(lines) + "\n"))
    return path


def test_bundled_declarations():
    assert biophysical_reference().name == "hh"
    assert [n for n in lifbridge.bundled_models() if is_biophysical_reference(lifbridge.load(n))] == ["hh"]
    assert opsin_states(lifbridge.load("optogenetic_lif")) == {"open": "O", "desensitized": "D"}
    assert _siegert_applies(lifbridge.load("lif")) and not _siegert_applies(lifbridge.load("pif"))
    for name in lifbridge.bundled_models():
        assert membrane_potential(lifbridge.load(name)) == "V_m"


def test_checks_follow_the_declaration_not_the_name(tmp_path):
    model = lifbridge.load("optogenetic_lif")
    batch = build_batch(model, quick=True)
    assert batch.record == ("V_m", "O", "D")
    assert batch.protocol("light_pulse").info["open_state"] == "O"
    assert batch.protocol("step").info["membrane"] == "V_m"
    # the same file with the declaration swapped: the light protocol follows the declaration
    path = with_hints(tmp_path, "optogenetic_lif", [])
    path.write_text(path.read_text().replace('opsin_states = { open = "O", desensitized = "D" }',
                                             'opsin_states = { open = "D", desensitized = "O" }'))
    swapped = build_batch(lifbridge.load(path.as_posix()), quick=True)
    assert swapped.protocol("light_pulse").info["open_state"] == "D"
    assert swapped.record == ("V_m", "D", "O")


def test_role_is_checked(tmp_path):
    model = lifbridge.load(with_hints(tmp_path, "lif", ['role = "biophysical_reference"']).as_posix())
    assert is_biophysical_reference(model)
    path = with_hints(tmp_path, "lif", ['role = "biophysical_referense"'])
    with pytest.raises(SpecError, match=re.escape("[hints].role") + ".*did you mean 'biophysical_reference'"):
        lifbridge.load(path.as_posix())


@pytest.mark.parametrize("value, phrase", [
    ('{ open = "X", desensitized = "D" }', '"X" is not a state variable'),
    ('{ opened = "O" }', "unknown key"),
    ('"O"', "must be a table"),
])
def test_opsin_states_are_checked(tmp_path, value, phrase):
    path = with_hints(tmp_path, "optogenetic_lif", [f"opsin_states = {value}"])
    text = path.read_text().replace('opsin_states = { open = "O", desensitized = "D" }\n', "", 1)
    path.write_text(text)
    with pytest.raises(SpecError, match=re.escape("[hints].opsin_states") + ".*" + re.escape(phrase)):
        lifbridge.load(path.as_posix())


def test_runaway_bounds_hint(tmp_path):
    model = lifbridge.load(with_hints(tmp_path, "lif", ['runaway_bounds = { V_m = "0.5 V" }']).as_posix())
    assert runaway_bounds(model)["V_m"] == pytest.approx(500.0)
    model = lifbridge.load(with_hints(tmp_path, "lif", ["runaway_bounds = { V_m = 300.0 }"]).as_posix())
    assert runaway_bounds(model)["V_m"] == pytest.approx(300.0)
    for value, phrase in (('{ V_m = "300 pA" }', "V_m"), ('{ W = "1 mV" }', "unknown key"),
                          ("{ V_m = -5.0 }", "positive"), ("{ V_m = true }", "must be a number")):
        path = with_hints(tmp_path, "lif", [f"runaway_bounds = {value}"])
        with pytest.raises(SpecError, match=re.escape("[hints].runaway_bounds")) as info:
            lifbridge.load(path.as_posix())
        assert phrase in str(info.value), str(info.value)
        assert "\n" not in str(info.value)
