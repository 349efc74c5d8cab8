#!/usr/bin/env python
"""Tutorial 1: the f-I curve of the leaky integrate-and-fire neuron in Brian2.

Getting started
---------------
From the repository root, with lifbridge installed (``pip install -e .``)::

    python tutorials/01_lif_brian2_fi.py              # about 15 s (plus a one-off compilation)
    python tutorials/01_lif_brian2_fi.py --quick      # shorter runs, no C compilation
    python tutorials/01_lif_brian2_fi.py --out figs   # write the figure somewhere else

It prints the model's parameters and a table of simulated and theoretical rates, and
saves ``tutorial-output/01_lif_fi.png``.

What you learn
--------------
* ``lifbridge.load("lif")`` reads the model file ``models/lif.toml``: equations,
  parameters with units, threshold, reset and refractory period.
* ``lifbridge.brian2.neuron_group(model, N)`` turns it into a ready Brian2
  ``NeuronGroup``. The bias current ``I_e`` is a per-neuron variable, so one group with
  one neuron per current measures a whole f-I curve in a single run.
* The firing rate of the LIF under a constant current has a closed form
  (``lifbridge.analytic.lif_rate``)::

      r(I) = 1 / (t_ref + tau_m ln((R I + E_L - V_reset) / (R I + E_L - V_th)))   (R = tau_m / C_m)

  for R I > V_th - E_L, and 0 below the rheobase current I_rh = (V_th - E_L) / R.
* Why a simulation on a time grid cannot match it exactly, and by how much it may differ.

Exercises
---------
1. Run with a coarser step (change ``DT_COARSE`` to 0.5 ms). Does the error stay below
   the bound? Where on the f-I curve is it largest, and why (look at the r^2 in the bound)?
2. Set ``t_ref`` to 0 with ``neuron_group(model, N, t_ref="0ms")`` and the analytic rate
   with ``t_ref=0``. What is the slope of the f-I curve far above rheobase now?
"""

import argparse
import os
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # write files only, never open a window
import matplotlib.pyplot as plt
import numpy as np

import brian2 as b2
from brian2 import mV, ms, pA, second

import lifbridge
from lifbridge.analytic import lif_rate
from lifbridge.brian2 import neuron_group


def parse_args():
    parser = argparse.ArgumentParser(description="Tutorial 1: the LIF f-I curve in Brian2")
    parser.add_argument("--out", default="tutorial-output", help="directory for the figure (default: %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        default=os.environ.get("LIFBRIDGE_TUTORIAL_QUICK", "") not in ("", "0"),
                        help="short runs with Brian2's numpy target (also: LIFBRIDGE_TUTORIAL_QUICK=1)")
    return parser.parse_args()


args = parse_args()
out_dir = Path(args.out)
out_dir.mkdir(parents=True, exist_ok=True)
started = time.perf_counter()
if args.quick:
    # numpy target: no C compiler needed and nothing to compile (slower per step).
    b2.prefs.codegen.target = "numpy"
b2.BrianLogger.suppress_name("method_choice")  # the method comes from the model file

# ------------------------------------------------------------------------------------
# 1. The model
# ------------------------------------------------------------------------------------
model = lifbridge.load("lif")
print(f"Model {model.name!r}: {model.description}")
print(f"  source: {model.reference}")
for name, p in model.parameters.items():
    print(f"  {name:12s} = {p.value:8g} {p.unit.name:3s}  {p.description}")
print()

# The analytic formulas take plain numbers in the model's units (pF, ms, mV, pA).
p = {name: par.value for name, par in model.parameters.items()}
LIF_ARGS = dict(C_m=p["C_m"], tau_m=p["tau_m"], E_L=p["E_L"], V_th=p["V_th"], V_reset=p["V_reset"],
                t_ref=p["t_ref"])
R_GOhm = p["tau_m"] / p["C_m"]                # membrane resistance: 10 ms / 250 pF = 0.04 GOhm = 40 MOhm
I_rheobase = (p["V_th"] - p["E_L"]) / R_GOhm  # 15 mV / 0.04 GOhm = 375 pA
print(f"Membrane resistance R = tau_m / C_m = {R_GOhm * 1e3:g} MOhm; rheobase I_rh = {I_rheobase:g} pA")

# ------------------------------------------------------------------------------------
# 2. Parameters of the experiment
# ------------------------------------------------------------------------------------
CURRENTS = np.linspace(0.0, 1000.0, 21 if args.quick else 41) * pA   # one neuron per current
DURATION = (0.4 if args.quick else 1.0) * second
DT_COARSE = 0.1 * ms    # the usual simulation step
DT_FINE = 0.01 * ms     # ten times finer, to see the error shrink
TRACE_CURRENTS = [300.0, 500.0, 800.0] * pA  # below, just above and well above rheobase
TRACE_WINDOW = 80 * ms


def simulate(dt):
    """Spike trains of one LIF neuron per current, and voltage traces of a few of them."""
    group = neuron_group(model, len(CURRENTS), dt=dt)
    group.I_e = CURRENTS                        # the per-neuron bias current
    spikes = b2.SpikeMonitor(group)
    traced = [int(np.argmin(np.abs(CURRENTS - I))) for I in TRACE_CURRENTS]
    voltage = b2.StateMonitor(group, "V_m", record=traced, dt=dt)
    net = b2.Network(group, spikes, voltage)   # an explicit network: no hidden "magic" collection
    net.run(DURATION)
    return spikes.spike_trains(), voltage


def rate_from_isis(train):
    """1 / mean interspike interval (Hz), ignoring the first spike.

    The neuron starts at E_L = V_reset, so its first spike comes after T, the later
    ones after t_ref + T: only interspike intervals measure the steady rate.
    """
    train = np.asarray(train / ms)
    return 1000.0 / np.mean(np.diff(train)) if len(train) >= 3 else 0.0


results = {}
for dt in (DT_COARSE, DT_FINE):
    trains, voltage = simulate(dt)
    rates = np.array([rate_from_isis(trains[i]) for i in range(len(CURRENTS))])
    results[float(dt / ms)] = (rates, voltage)

theory = lif_rate(CURRENTS / pA, **LIF_ARGS)   # Hz; lif_rate also accepts Brian2 quantities

# ------------------------------------------------------------------------------------
# 3. The time-step bound
# ------------------------------------------------------------------------------------
# Brian2 (like NEST) tests the threshold only on the time grid: the spike is found at
# the first grid point after the true crossing, up to one step dt late. The reset and
# the refractory period are also tied to the grid, so every simulated interspike
# interval differs from the exact one, 1/r, by less than one step: |ISI_sim - 1/r| < dt.
# Converting to rates, |r_sim - r| < dt r_sim^2 / (1 - dt r_sim) ~ dt r^2: the error
# grows with the square of the rate, and shrinks linearly with dt.
#
# The sign: a spike is found at the grid point after the true crossing, and lifbridge's
# groups (like NEST's models) hold the clamp until the grid point t_spike + t_ref, so
# every interval comes out a fraction of a step LONG (rates slightly low): the closed
# form's interval rounded up to the grid. (Brian2's plain refractory=t_ref would release
# one step earlier; lifbridge writes the refractory condition so that Brian2 and NEST
# release on the same grid point.)
print()
print(f"{'I (pA)':>8} {'theory (Hz)':>12} " + " ".join(f"{'dt=' + format(k, 'g') + ' ms':>12}" for k in results)
      + f" {'bound dt=' + format(float(DT_COARSE / ms), 'g'):>14}")
bound = {}
for dt_ms, (rates, _) in results.items():
    dt_s = dt_ms * 1e-3
    bound[dt_ms] = dt_s * rates ** 2 / (1.0 - dt_s * rates)
for k, I in enumerate(CURRENTS / pA):
    if k % (2 if args.quick else 4) == 0 or k == len(CURRENTS) - 1:
        row = " ".join(f"{results[d][0][k]:12.3f}" for d in results)
        print(f"{I:8.0f} {theory[k]:12.3f} {row} {bound[float(DT_COARSE / ms)][k]:14.3f}")
for dt_ms, (rates, _) in results.items():
    error = np.abs(rates - theory)
    within = np.all(error <= bound[dt_ms] + 1e-9)
    print(f"dt = {dt_ms:g} ms: max |r_sim - r| = {error.max():.3f} Hz, "
          f"{'every rate within' if within else 'NOT all within'} the bound dt r^2/(1 - dt r)")

# ------------------------------------------------------------------------------------
# 4. Figure
# ------------------------------------------------------------------------------------
fig, (ax_v, ax_fi, ax_err) = plt.subplots(1, 3, figsize=(15, 4.6), constrained_layout=True)

_, voltage = results[float(DT_COARSE / ms)]
window = voltage.t < TRACE_WINDOW
for row, I in enumerate(TRACE_CURRENTS):
    ax_v.plot(voltage.t[window] / ms, voltage.V_m[row][window] / mV, label=f"I_e = {I / pA:g} pA")
ax_v.axhline(p["V_th"], color="k", ls="--", lw=1)
ax_v.text(1.0, p["V_th"] - 0.3, "V_th", ha="left", va="top")
# The LIF has no spike shape: at threshold V_m is simply set to V_reset (and held for t_ref).
ax_v.set(xlabel="time (ms)", ylabel="V_m (mV)", title="a) membrane potential (dt = 0.1 ms)")
ax_v.legend(loc="lower right", fontsize=9)

I_fine = np.linspace(0.0, float(CURRENTS[-1] / pA), 1001)
r_fine = lif_rate(I_fine, **LIF_ARGS)
ax_fi.plot(I_fine, r_fine, "k-", lw=1.5, label="lif_rate (closed form)")
markers = {float(DT_COARSE / ms): "o", float(DT_FINE / ms): "x"}
for dt_ms, (rates, _) in results.items():
    ax_fi.plot(CURRENTS / pA, rates, markers[dt_ms], ms=5, mfc="none" if markers[dt_ms] == "o" else None,
               label=f"Brian2, dt = {dt_ms:g} ms")
ax_fi.axvline(I_rheobase, color="gray", ls=":", lw=1)
ax_fi.text(I_rheobase, 0.5 * r_fine.max(), "rheobase ", color="gray", fontsize=9, ha="right")
ax_fi.set(xlabel="bias current I_e (pA)", ylabel="firing rate (Hz)", title="b) f-I curve")
ax_fi.legend(loc="upper left", fontsize=9)

firing = theory > 0
for dt_ms, (rates, _) in results.items():
    line, = ax_err.semilogy(CURRENTS[firing] / pA, np.abs(rates - theory)[firing], markers[dt_ms],
                            mfc="none" if markers[dt_ms] == "o" else None, label=f"|error|, dt = {dt_ms:g} ms")
    dt_s = dt_ms * 1e-3
    ax_err.semilogy(I_fine[r_fine > 0], dt_s * r_fine[r_fine > 0] ** 2 / (1 - dt_s * r_fine[r_fine > 0]), "--",
                    color=line.get_color(), label=f"bound dt r²/(1 - dt r), dt = {dt_ms:g} ms")
ax_err.set(xlabel="bias current I_e (pA)", ylabel="|r_sim - r| (Hz)", title="c) error against the time-step bound")
ax_err.legend(loc="lower right", fontsize=8)

figure_path = out_dir / "01_lif_fi.png"
fig.suptitle("LIF (models/lif.toml) in Brian2 against the closed-form f-I curve", fontsize=12)
fig.savefig(figure_path, dpi=110)
print(f"\nsaved {figure_path} ({time.perf_counter() - started:.1f} s)")
