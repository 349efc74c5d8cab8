#!/usr/bin/env python
"""Tutorial 2: firing patterns of the AdEx and Izhikevich neurons under a current step.

Getting started
---------------
From the repository root, with lifbridge installed (``pip install -e .``)::

    python tutorials/02_adex_firing_patterns.py            # about 15 s (plus a one-off compilation)
    python tutorials/02_adex_firing_patterns.py --quick    # shorter runs, no C compilation
    python tutorials/02_adex_firing_patterns.py --out figs

It prints the interspike intervals of every neuron and saves
``tutorial-output/02_patterns.png``.

What you learn
--------------
* Two variables are enough for a rich repertoire. The adaptive exponential
  integrate-and-fire model (AdEx, Brette & Gerstner 2005; ``models/adex.toml``)::

      C_m dV/dt = -g_L (V - E_L) + g_L Delta_T exp((V - V_th)/Delta_T) - w + I
      tau_w dw/dt = a (V - E_L) - w          at V = V_peak: V -> V_reset, w -> w + b

  adapts (b > 0: every spike adds to the hyperpolarising current w), bursts (a reset
  V_reset above the exponential threshold V_th fires again quickly, until w has grown),
  or accelerates (a < 0: w depolarises) depending on a handful of parameters.
  The parameter sets are Table 1 of Naud, Marcille, Clopath & Gerstner (2008) Firing
  patterns in the adaptive exponential integrate-and-fire model. Biol Cybern 99:335-347
  (see also Gerstner, Kistler, Naud & Paninski (2014) Neuronal Dynamics, Ch. 6.1).
* ``neuron_group(model, N, C_m="200pF", ...)`` overrides parameters with units. A list
  of N values makes that parameter per-neuron, so all eight AdEx cell types run as
  ONE group of eight neurons.
* Presets: ``lifbridge.load("izhikevich").with_preset("FS")`` is the Izhikevich (2003)
  neuron with the (a, b, c, d) of one cell class (Izhikevich (2003) Simple model of
  spiking neurons. IEEE Trans Neural Netw 14:1569-1572, Fig. 2).

Exercises
---------
1. "adapting": set b to 0 pA. Which of the two adaptation mechanisms (a or b) is left,
   and how much does the late firing rate change?
2. "tonic spiking" has b = 0 and tau_w = 30 ms. Increase the step amplitude: can you make
   the AdEx fire with a rate that does not adapt at all? Compare with
   ``lifbridge.analytic.eif_rate`` (the AdEx with a = b = 0).
3. Izhikevich: the presets differ only in (a, b, c, d). Which parameter turns RS into IB
   into CH? (Hint: look at c, the reset.)
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
from brian2 import mV, ms, pA

import lifbridge
from lifbridge.brian2 import neuron_group


def parse_args():
    parser = argparse.ArgumentParser(description="Tutorial 2: AdEx and Izhikevich firing patterns in Brian2")
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
    b2.prefs.codegen.target = "numpy"   # nothing to compile
b2.BrianLogger.suppress_name("method_choice")

# ------------------------------------------------------------------------------------
# 1. AdEx: Naud et al. (2008), Table 1
# ------------------------------------------------------------------------------------
# Common to all rows: V_T = -50 mV (lifbridge's V_th, NEST's name), Delta_T = 2 mV,
# spikes cut at V_peak = 0 mV, no refractory period.
ADEX_COMMON = dict(V_th="-50mV", Delta_T="2mV", V_peak="0mV", t_ref="0ms")
# One row per firing pattern: parameters with units, and the amplitude of the step.
NAUD_2008 = {
    #                          C_m      g_L     E_L      a        tau_w    b       V_reset   step
    "tonic spiking":        ("200pF", "10nS", "-70mV", "2nS",   "30ms",  "0pA",   "-58mV", "500pA"),
    "adaptation":           ("200pF", "12nS", "-70mV", "2nS",   "300ms", "60pA",  "-58mV", "500pA"),
    "initial burst":        ("130pF", "18nS", "-58mV", "4nS",   "150ms", "120pA", "-50mV", "400pA"),
    "regular bursting":     ("200pF", "10nS", "-58mV", "2nS",   "120ms", "100pA", "-46mV", "210pA"),
    "delayed accelerating": ("200pF", "12nS", "-70mV", "-10nS", "300ms", "0pA",   "-58mV", "300pA"),
    "delayed bursting":     ("100pF", "10nS", "-65mV", "-10nS", "90ms",  "30pA",  "-47mV", "110pA"),
    "transient spiking":    ("100pF", "10nS", "-65mV", "10nS",  "90ms",  "100pA", "-47mV", "180pA"),
    "irregular spiking":    ("100pF", "12nS", "-60mV", "-11nS", "130ms", "30pA",  "-48mV", "160pA"),
}
COLUMNS = ("C_m", "g_L", "E_L", "a", "tau_w", "b", "V_reset")
patterns = list(NAUD_2008)
# Per-neuron parameters: one list of N values (strings with units) per column.
per_neuron = {name: [NAUD_2008[p][k] for p in patterns] for k, name in enumerate(COLUMNS)}
steps = b2.Quantity([float(NAUD_2008[p][-1].removesuffix("pA")) for p in patterns]) * pA

ADEX_DT = 0.02 * ms      # rk4 with a small step: the exponential upswing is fast
BEFORE = 50 * ms         # rest, then the current step until the end
STEP = (300 if args.quick else 500) * ms

adex = lifbridge.load("adex")
adex_group = neuron_group(adex, len(patterns), dt=ADEX_DT, **ADEX_COMMON, **per_neuron)
adex_spikes = b2.SpikeMonitor(adex_group)
adex_trace = b2.StateMonitor(adex_group, ["V_m", "w"], record=True)
net = b2.Network(adex_group, adex_spikes, adex_trace)
# I_stim is the model's continuous input: a per-neuron variable, 0 unless set. A step is
# two runs: rest, then set the current and continue.
net.run(BEFORE)
adex_group.I_stim = steps
net.run(STEP)


def isis_text(train_ms, shown=5):
    isi = np.diff(train_ms)
    if len(isi) == 0:
        return "-"
    head = ", ".join(f"{x:.1f}" for x in isi[:shown])
    tail = f" ... {isi[-1]:.1f}" if len(isi) > shown else ""
    return head + tail


print(f"AdEx, Naud et al. (2008) Table 1, current step at {BEFORE / ms:g} ms (dt = {ADEX_DT / ms:g} ms, "
      f"method {adex.hints['brian2_method']}):")
print(f"  {'pattern':22s} {'step':>7s} {'w at end':>9s} {'spikes':>6s}  interspike intervals (ms)")
adex_trains = adex_spikes.spike_trains()
for k, pattern in enumerate(patterns):
    train = adex_trains[k] / ms
    w_end = adex_trace.w[k][-1] / pA   # the adaptation current that has built up
    print(f"  {pattern:22s} {steps[k] / pA:5.0f}pA {w_end:7.1f}pA {len(train):6d}  {isis_text(train)}")

# ------------------------------------------------------------------------------------
# 2. Izhikevich (2003): presets
# ------------------------------------------------------------------------------------
# V in mV, t in ms; NEST's convention: the current is in pA with R = 1 GOhm, so
# I = 10 pA is the paper's I = 10. One group per preset, made from with_preset().
PRESETS = ["RS", "IB", "CH", "FS", "LTS", "TC"]
PRESET_NAMES = {"RS": "regular spiking", "IB": "intrinsically bursting", "CH": "chattering",
                "FS": "fast spiking", "LTS": "low-threshold spiking", "TC": "thalamo-cortical"}
IZH_STEP = 10 * pA
IZH_DT = 0.1 * ms
IZH_BEFORE = 20 * ms
IZH_DURATION = (150 if args.quick else 250) * ms

izhikevich = lifbridge.load("izhikevich")
# with_preset(name) returns a copy of the model with that preset's a, b, c, d. Each copy
# could go into a group of its own; here their values become per-neuron lists, so that
# all six cells share ONE group (and one compiled code object).
cells = {preset: izhikevich.with_preset(preset) for preset in PRESETS}
izh_per_neuron = {name: [cells[preset].parameters[name].value for preset in PRESETS] for name in "abcd"}
izh_group = neuron_group(izhikevich, len(PRESETS), dt=IZH_DT, **izh_per_neuron)
# The initial recovery variable U_m = b * (-65 mV) (see the model file) follows each b.
izh_spikes = b2.SpikeMonitor(izh_group)
izh_trace = b2.StateMonitor(izh_group, "V_m", record=True)
net = b2.Network(izh_group, izh_spikes, izh_trace)
net.run(IZH_BEFORE)
izh_group.I_stim = IZH_STEP
net.run(IZH_DURATION - IZH_BEFORE)
izh_trains = izh_spikes.spike_trains()

print(f"\nIzhikevich (2003) presets, step of {IZH_STEP / pA:g} pA at {IZH_BEFORE / ms:g} ms "
      f"(dt = {IZH_DT / ms:g} ms):")
for k, preset in enumerate(PRESETS):
    preset_params = izhikevich.presets[preset]
    train = izh_trains[k] / ms
    abcd = ", ".join(f"{k}={preset_params[k]:g}" for k in ("a", "b", "c", "d"))
    print(f"  {preset:3s} {PRESET_NAMES[preset]:22s} ({abcd:32s}) {len(train):3d} spikes, ISIs: {isis_text(train)}")

# ------------------------------------------------------------------------------------
# 3. Figure
# ------------------------------------------------------------------------------------
# The monitors see V_m after the reset: the spike itself is never recorded. For the
# picture, the sample at each spike time is replaced by the spike cut-off (V_peak for
# the AdEx, V_th = 30 mV for Izhikevich), as in the original figures.


def with_spikes_drawn(t, v, train, peak):
    v = np.array(v, copy=True)
    index = np.searchsorted(t, train)
    v[index[index < len(v)]] = peak
    return v


fig = plt.figure(figsize=(16, 10.5), constrained_layout=True)
top, bottom = fig.subfigures(2, 1, height_ratios=[1.25, 1.0])
top.suptitle("AdEx (models/adex.toml) with the parameters of Naud et al. (2008), Table 1: "
             "one Brian2 group, per-neuron parameters", fontsize=12)
axes = top.subplots(2, 4, sharex=True)
t_adex = adex_trace.t / ms
for k, (ax, pattern) in enumerate(zip(axes.flat, patterns)):
    v = with_spikes_drawn(t_adex, adex_trace.V_m[k] / mV, adex_trains[k] / ms, 0.0)
    ax.plot(t_adex, v, lw=0.8, color="C0")
    row = dict(zip(COLUMNS, NAUD_2008[pattern]))
    ax.set_title(f"{pattern}\na={row['a']}, b={row['b']}, tau_w={row['tau_w']}, V_reset={row['V_reset']}",
                 fontsize=9)
    ax.set_ylim(-80, 5)
    ax.axvspan(BEFORE / ms, t_adex[-1], color="0.93", zorder=0)
    ax.text(0.98, 0.04, f"step {steps[k] / pA:g} pA", transform=ax.transAxes, ha="right", fontsize=8)
    if k % 4 == 0:
        ax.set_ylabel("V_m (mV)")
    if k >= 4:
        ax.set_xlabel("time (ms)")

bottom.suptitle(f"Izhikevich (models/izhikevich.toml): the presets of izhikevich.with_preset(...), "
                f"step of {IZH_STEP / pA:g} pA at {IZH_BEFORE / ms:g} ms", fontsize=12)
axes = bottom.subplots(2, 3, sharex=True, sharey=True)
for k, (ax, preset) in enumerate(zip(axes.flat, PRESETS)):
    t = izh_trace.t / ms
    train = izh_trains[k] / ms
    ax.plot(t, with_spikes_drawn(t, izh_trace.V_m[k] / mV, train, izhikevich.parameters["V_th"].value),
            lw=0.8, color="C3")
    ax.axvspan(IZH_BEFORE / ms, t[-1], color="0.93", zorder=0)
    values = izhikevich.presets[preset]
    ax.set_title(f"{preset}: {PRESET_NAMES[preset]} (a={values['a']:g}, b={values['b']:g}, "
                 f"c={values['c']:g} mV, d={values['d']:g} mV)", fontsize=9)
    if k % 3 == 0:
        ax.set_ylabel("V_m (mV)")
    if k >= 3:
        ax.set_xlabel("time (ms)")

figure_path = out_dir / "02_patterns.png"
fig.savefig(figure_path, dpi=100)
print(f"\nsaved {figure_path} ({time.perf_counter() - started:.1f} s)")
