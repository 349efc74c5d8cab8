#!/usr/bin/env python
"""Tutorial 10: the LIF on BrainScaleS-2 before queueing for the chip.

Getting started
---------------
From the repository root, with lifbridge installed (numpy and matplotlib only)::

    python tutorials/10_brainscales2.py              # about 10 s
    python tutorials/10_brainscales2.py --quick      # fewer neurons and currents
    python tutorials/10_brainscales2.py --out figs   # write the files somewhere else

It writes ``tutorial-output/lif_brainscales2.py`` (the same file as
``lifbridge generate lif --target brainscales2``), shows the one-line errors for values
the chip cannot take, and saves ``tutorial-output/10_brainscales2.png``: the f-I curve of
emulated hardware neurons (each with its own calibration residuals) against the closed
form, and the spread of their rates.

What you learn
--------------
* BrainScaleS-2 runs about 1000 times faster than biology: a biological ms is a hardware
  us. Its calibrated cell type for the LIF, ``CalibHXNeuronCuba``, takes voltages in CADC
  units (rest and reset 50-160, threshold 50-220) and times in hardware us (tau_m 0.5-60,
  tau_syn 0.3-30, refractory 0.04-32): calix's ranges. lifbridge maps -70 mV to 80 CADC at
  3 CADC/mV, so lif's E_L, V_th land on calix's default targets 80 and 125.
* A value outside a range is refused when the script is written, in one line naming the
  parameter in your units, in the chip's units and the range.
* ``brainscales2.emulated`` runs the calibrated LIF in hardware units with quantised
  parameters and, with ``mismatch="calibrated"``, per-neuron residuals: the spread shown is
  what the analog substrate does, not an error of the model.

Exercises
---------
1. Generate ``lif_cond_exp``. Which value does the chip refuse, and what fixes it?
2. Halve every spread (``lifbridge.brainscales2.emulate.Spreads().scaled(0.5)``) and
   compare the standard deviation of the rates: is it halved?
3. Which spread dominates the rates' spread? Set all but one of ``Spreads``' fields to 0
   and pass ``spreads=`` to ``brainscales2_emulated.simulate``.
"""

import argparse
from pathlib import Path

import numpy as np

import lifbridge
from lifbridge import backends
from lifbridge.analytic import lif_rate
from lifbridge.errors import ParameterError
from lifbridge.overrides import resolve
from lifbridge.runners import brainscales2_emulated
from lifbridge.stimulus import Stimulus, steady_rate


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="tutorial-output")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    model = lifbridge.load("lif")
    script = backends.generator("brainscales2")(model)
    (out / "lif_brainscales2.py").write_text(script)
    print(next(line for line in script.splitlines() if "CalibHXNeuronCuba(" in line))

    for name, value in (("tau_m", "100 ms"), ("V_reset", "-90 mV")):
        try:
            backends.generator("brainscales2")(resolve(model, {name: value}).model)
        except ParameterError as error:
            print("refused:", error)

    n = 16 if args.quick else 64
    currents = np.linspace(300.0, 1500.0, 5 if args.quick else 13)
    duration = 500.0 if args.quick else 2000.0
    rates = np.empty((len(currents), n))
    for i, current in enumerate(currents):
        result = brainscales2_emulated.simulate(model, Stimulus(np.full(n, current)), duration_ms=duration,
                                                dt_ms=0.1, mismatch="calibrated")
        rates[i] = [steady_rate(s, duration) for s in result.spike_times_ms]
    exact = lif_rate(currents, C_m=250.0, tau_m=10.0, E_L=-70.0, V_th=-55.0, V_reset=-70.0, t_ref=2.0)
    for c, e, r in zip(currents, exact, rates):
        print(f"{c:7.1f} pA: closed form {e:6.1f} Hz, emulated median {np.median(r):6.1f} Hz, SD {np.std(r):4.1f} Hz")

    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(currents, rates, color="tab:gray", lw=0.4, alpha=0.5)
    left.plot(currents, np.median(rates, axis=1), "o", color="tab:olive", label=f"median of {n} neurons")
    left.plot(currents, exact, "k", label="closed form")
    left.set(xlabel="current (pA)", ylabel="rate (Hz)", title="f-I on emulated BrainScaleS-2 neurons")
    left.legend()
    right.plot(currents, np.std(rates, axis=1, ddof=1), "o-", color="tab:olive")
    right.set(xlabel="current (pA)", ylabel="SD across neurons (Hz)", title="spread from calibration residuals")
    fig.tight_layout()
    fig.savefig(out / "10_brainscales2.png", dpi=120)
    print("saved", out / "10_brainscales2.png")


if __name__ == "__main__":
    main()
