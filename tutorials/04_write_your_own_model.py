#!/usr/bin/env python
"""Tutorial 4: write your own model file - a quadratic integrate-and-fire neuron.

Getting started
---------------
From the repository root, with lifbridge installed (``pip install -e .``)::

    python tutorials/04_write_your_own_model.py            # about 20 s (plus a one-off compilation)
    python tutorials/04_write_your_own_model.py --quick    # shorter runs, no C compilation
    python tutorials/04_write_your_own_model.py --out figs

It writes ``qif.toml`` (the model), ``qif_with_a_mistake.toml``, ``qif_brian2.py`` and
``qif_neuron.nestml`` (the generated code) and ``04_custom.png`` to
``tutorial-output/``, and prints what it does.

What you learn
--------------
* A model is one TOML file: parameters with units, state variables with initial values,
  the right-hand side of each differential equation, the spike condition, the reset,
  the refractory period and the inputs (see ``models/lif.toml`` and the docstring of
  ``lifbridge/spec.py`` for every table). Nothing in it is executed: expressions are
  parsed by a restricted parser.
* Every expression is checked for units when the file is loaded. A wrong unit is caught
  at once, with a message naming the file, the table and the field.
* The same file gives Brian2 code, NESTML code (for NEST) and runs in lifbridge's
  reference integrator (scipy's DOP853 with tight tolerances and exact event location):
  the judge against which the fixed-step simulators are measured.

The model: the quadratic integrate-and-fire neuron (QIF), the normal form of a neuron
that starts firing through a saddle-node bifurcation (Ermentrout & Kopell (1986) SIAM J
Appl Math 46:233-253; Latham et al. (2000) J Neurophysiol 83:808-827), in Izhikevich's
parametrisation with the regular-spiking values of Izhikevich (2007) Dynamical Systems
in Neuroscience, MIT Press, Ch. 8::

    C_m dV/dt = k (V - V_r)(V - V_t) + I        V >= V_peak: V -> V_reset

Below the current k (V_t - V_r)^2 / 4 = 70 pA the neuron has a stable resting state
and an unstable threshold; above it the two merge and disappear, and it fires at a rate
that rises from zero like sqrt(I - 70 pA). ``lifbridge.analytic.qif_rate`` has the
closed form.

Exercises
---------
1. Add a recovery variable to turn the QIF into Izhikevich's simple model:
   ``C_m dV/dt = k (V - V_r)(V - V_t) - U + I``, ``dU/dt = a (b (V - V_r) - U)``,
   ``U += d`` at each spike (a = 0.03/ms, b = -2 nS, d = 100 pA). Which units must
   a, b and d have? Let the loader tell you when you get one wrong.
2. Make the threshold move: add a state variable ``theta`` (mV) that jumps by 2 mV at
   each spike and relaxes back to V_t with a time constant of 50 ms, and use it in
   place of V_t in the equation. How does the f-I curve change?
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
import lifbridge.brian2
import lifbridge.nestml
from lifbridge.analytic import qif_rate
from lifbridge.brian2 import neuron_group
from lifbridge.reference import reference_simulate


def parse_args():
    parser = argparse.ArgumentParser(description="Tutorial 4: write, check, generate and simulate your own model")
    parser.add_argument("--out", default="tutorial-output", help="directory for the files (default: %(default)s)")
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
# 1. The model file
# ------------------------------------------------------------------------------------
QIF_TOML = '''\
# Quadratic integrate-and-fire neuron (Izhikevich's parametrisation, no recovery variable).
#
#   C_m dV_m/dt = k (V_m - V_r)(V_m - V_t) + I_e + I_stim
#   V_m >= V_peak: spike, V_m = V_reset, V_m held at V_reset for t_ref.

[model]
name = "qif"
description = "Quadratic integrate-and-fire neuron"
reference = "Ermentrout & Kopell (1986) SIAM J Appl Math 46:233; Izhikevich (2007) Dynamical Systems in Neuroscience, MIT Press, Ch. 8 (RS values)"

[parameters]
C_m     = { value = 100.0, unit = "pF",    above = 0.0, description = "membrane capacitance" }
k       = { value = 0.7,   unit = "nS/mV", above = 0.0, description = "curvature of the I-V relation" }
V_r     = { value = -60.0, unit = "mV",    description = "resting potential" }
V_t     = { value = -40.0, unit = "mV",    description = "instantaneous threshold potential" }
V_peak  = { value = 35.0,  unit = "mV",    description = "spike cut-off" }
V_reset = { value = -50.0, unit = "mV",    description = "reset potential" }
t_ref   = { value = 0.0,   unit = "ms",    min = 0.0, description = "absolute refractory period" }
I_e     = { value = 0.0,   unit = "pA",    description = "constant bias current" }

[state]
V_m = { unit = "mV", initial = "V_r", description = "membrane potential" }

[equations]
# the right-hand side of dV_m/dt: it must come out in mV per time unit
V_m = "(k*(V_m - V_r)*(V_m - V_t) + I_e + I_stim)/C_m"

[spike]
condition = "V_m >= V_peak"
reset = ["V_m = V_reset"]

[refractory]
period = "t_ref"
clamp = ["V_m"]

[inputs]
I_stim = { kind = "current", unit = "pA", description = "continuous input current" }

[[constraints]]
check = "V_reset < V_peak"
reason = "a reset at or above the cut-off would fire again at once"

[hints]
# nonlinear: no exact solution, so Brian2 integrates with 4th-order Runge-Kutta
brian2_method = "rk4"
'''

model_path = out_dir / "qif.toml"
model_path.write_text(QIF_TOML)
model = lifbridge.load(model_path)       # a path (anything ending in .toml), or a bundled name
print(f"Loaded {model_path}: {model}")
for name, p in model.parameters.items():
    print(f"  {name:8s} = {p.value:7g} {p.unit.name:6s} {p.description}")

# ------------------------------------------------------------------------------------
# 2. Unit checking catches a mistake
# ------------------------------------------------------------------------------------
# A classic slip: k given in nS. Then k (V - V_r)(V - V_t) is nS*mV*mV, not a current
# (nS*mV = pA), and cannot be added to I_e.
mistake_path = out_dir / "qif_with_a_mistake.toml"
mistake_path.write_text(QIF_TOML.replace('unit = "nS/mV"', 'unit = "nS"   '))
print(f"\nLoading {mistake_path} (k declared in nS instead of nS/mV):")
try:
    lifbridge.load(mistake_path)
    raise SystemExit("the mistake was not caught")
except lifbridge.SpecError as error:
    print(f"  SpecError: {error}")
# Out-of-range values are caught the same way (a ParameterError):
try:
    model.with_parameters(C_m="-100pF")
except lifbridge.ParameterError as error:
    print(f"  ParameterError: {error}")

# ------------------------------------------------------------------------------------
# 3. Generated code
# ------------------------------------------------------------------------------------
brian2_code = lifbridge.brian2.generate_script(model)   # plain Brian2, to paste anywhere
nestml_code = lifbridge.nestml.to_nestml(model)          # a NESTML neuron "qif_neuron"
(out_dir / "qif_brian2.py").write_text(brian2_code)
(out_dir / "qif_neuron.nestml").write_text(nestml_code)


def show(title, text, start, count):
    lines = text.splitlines()
    print(f"\n{title} (lines {start + 1}-{start + count} of {len(lines)}):")
    for line in lines[start:start + count]:
        print("  | " + line)


show(f"Brian2 code, {out_dir / 'qif_brian2.py'}", brian2_code, 5, 16)
first_model_line = next(i for i, line in enumerate(nestml_code.splitlines()) if line.startswith("model "))
show(f"NESTML, {out_dir / 'qif_neuron.nestml'}", nestml_code, first_model_line, 16)
print("  (lifbridge.nest.install([model]) compiles it into a NEST module, as in tutorial 3)")

# ------------------------------------------------------------------------------------
# 4. Simulate: Brian2 and the reference integrator
# ------------------------------------------------------------------------------------
p = {name: par.value for name, par in model.parameters.items()}
QIF_ARGS = dict(C_m=p["C_m"], k=p["k"], V_r=p["V_r"], V_t=p["V_t"], V_peak=p["V_peak"], V_reset=p["V_reset"],
                t_ref=p["t_ref"])
I_bifurcation = p["k"] * (p["V_t"] - p["V_r"]) ** 2 / 4   # pA: 0.7 nS/mV * (20 mV)^2 / 4 = 70 pA
CURRENTS = np.linspace(0.0, 400.0, 11 if args.quick else 21)   # pA, one neuron each
DURATION_MS = 500.0 if args.quick else 1000.0
DTS_MS = (0.1, 0.01)
SPIKE_TIME_CURRENTS = [CURRENTS[np.argmin(np.abs(CURRENTS - I))] for I in (160.0, 320.0)]


def rate_hz(train_ms):
    return 1000.0 / np.mean(np.diff(train_ms)) if len(train_ms) >= 3 else 0.0


brian2_trains, brian2_v = {}, None
for dt_ms in DTS_MS:
    group = neuron_group(model, len(CURRENTS), dt=dt_ms * ms)
    group.I_e = CURRENTS * pA
    spikes = b2.SpikeMonitor(group)
    monitors = [spikes]
    if dt_ms == DTS_MS[0]:
        voltage = b2.StateMonitor(group, "V_m", record=[int(np.flatnonzero(CURRENTS == SPIKE_TIME_CURRENTS[0])[0])])
        monitors.append(voltage)
    b2.Network(group, *monitors).run(DURATION_MS * ms)
    # Brian2 stamps a spike with the START of the step in which V_m crossed V_peak; the
    # crossing is found at the END of that step. Add dt to report that grid point (as
    # NEST does, and as lifbridge's runners do).
    brian2_trains[dt_ms] = [np.asarray(t / ms) + dt_ms for t in spikes.spike_trains().values()]
    if dt_ms == DTS_MS[0]:
        brian2_v = (np.asarray(voltage.t / ms), np.asarray(voltage.V_m[0] / mV))

# The reference integrator: no time grid, spike times located to ~1e-9 ms.
reference = reference_simulate(model, duration_ms=DURATION_MS, bias_pA=CURRENTS, record=["V_m"])
ref_trains = reference.spike_times_ms
ref_t, ref_v, _ = reference.traces["V_m"]

theory = qif_rate(CURRENTS, **QIF_ARGS)
ref_rates = np.array([rate_hz(s) for s in ref_trains])
print(f"\nf-I curve ({DURATION_MS:g} ms per neuron; bifurcation current {I_bifurcation:g} pA):")
print(f"  {'I (pA)':>7} {'qif_rate':>9} {'reference':>10} " + " ".join(f"{'Brian2 ' + format(d, 'g'):>12}" for d in DTS_MS))
for k, I in enumerate(CURRENTS):
    row = " ".join(f"{rate_hz(brian2_trains[d][k]):12.3f}" for d in DTS_MS)
    print(f"  {I:7.0f} {theory[k]:9.3f} {ref_rates[k]:10.4f} {row}")
print(f"  reference vs closed form: max |difference| = {np.max(np.abs(ref_rates - theory)):.2g} Hz")

print("\nSpike times, Brian2 minus reference (ms):")
for I in SPIKE_TIME_CURRENTS:
    k = int(np.flatnonzero(CURRENTS == I)[0])
    for dt_ms in DTS_MS:
        b, r = brian2_trains[dt_ms][k], ref_trains[k]
        n = min(len(b), len(r))
        diff = b[:n] - r[:n]
        print(f"  I = {I:5.0f} pA, dt = {dt_ms:<5g}: first spike {diff[0]:+.4f}, "
              f"spike {n}: {diff[-1]:+.4f} ({len(b)} vs {len(r)} spikes)")
# Each spike is found at the first grid point after the crossing (late by less than
# dt), and the reset happens there too, so the next interval starts late: every
# interval is the exact one, T, rounded UP to whole steps, and the delays add up from
# spike to spike (by ceil(T/dt) dt - T each: tiny when T is just below a multiple of
# dt, almost dt when just above). The rate error stays bounded by ~dt r^2
# (tutorial 1) while the spike times drift; a smaller dt shrinks both.

# ------------------------------------------------------------------------------------
# 5. Figure
# ------------------------------------------------------------------------------------
fig, (ax_v, ax_fi, ax_dt) = plt.subplots(1, 3, figsize=(16, 4.8), constrained_layout=True)
k_trace = int(np.flatnonzero(CURRENTS == SPIKE_TIME_CURRENTS[0])[0])
shown = 120.0
sel = ref_t < shown
ax_v.plot(ref_t[sel], ref_v[k_trace][sel], color="k", lw=2.5, alpha=0.35, label="reference integrator")
sel = brian2_v[0] < shown
ax_v.plot(brian2_v[0][sel], brian2_v[1][sel], color="C0", lw=1.0, label=f"Brian2, dt = {DTS_MS[0]:g} ms")
for level, label in ((p["V_peak"], "V_peak"), (p["V_t"], "V_t"), (p["V_r"], "V_r")):
    ax_v.axhline(level, color="gray", ls=":", lw=1)
    ax_v.text(shown, level, f" {label}", va="center", color="gray", fontsize=9)
ax_v.set(xlabel="time (ms)", ylabel="V_m (mV)", xlim=(0, shown),
         title=f"a) V_m at I_e = {SPIKE_TIME_CURRENTS[0]:g} pA (samples every 0.1 ms)")
ax_v.legend(loc="center left", fontsize=9)

I_fine = np.linspace(0.0, CURRENTS[-1], 801)
ax_fi.plot(I_fine, qif_rate(I_fine, **QIF_ARGS), "k-", lw=1.5, label="qif_rate (closed form)")
ax_fi.plot(CURRENTS, ref_rates, "s", ms=9, mfc="none", mec="0.4", label="reference integrator")
for dt_ms, marker in zip(DTS_MS, ("o", "x")):
    ax_fi.plot(CURRENTS, [rate_hz(s) for s in brian2_trains[dt_ms]], marker, mfc="none" if marker == "o" else None,
               label=f"Brian2, dt = {dt_ms:g} ms")
ax_fi.axvline(I_bifurcation, color="gray", ls=":", lw=1)
ax_fi.text(I_bifurcation, 40, "saddle-node \nbifurcation ", color="gray", fontsize=9, ha="right")
ax_fi.set(xlabel="bias current I_e (pA)", ylabel="firing rate (Hz)", title="b) f-I curve")
ax_fi.legend(loc="upper left", fontsize=9)

for I, color in zip(SPIKE_TIME_CURRENTS, ("C2", "C3")):
    k = int(np.flatnonzero(CURRENTS == I)[0])
    T = 1000.0 / qif_rate(I, **QIF_ARGS)    # exact interspike interval (ms)
    for dt_ms, marker in zip(DTS_MS, ("o", "x")):
        b, r = brian2_trains[dt_ms][k], ref_trains[k]
        n = min(len(b), len(r))
        number = np.arange(1, n + 1)
        ax_dt.semilogy(number, np.abs(b[:n] - r[:n]), marker, color=color, ms=4, mfc="none" if marker == "o" else None,
                       label=f"I_e = {I:g} pA, dt = {dt_ms:g} ms")
        # Prediction: every interval is T rounded UP to whole steps (spike and reset both
        # happen at the first grid point after the crossing), so each spike adds
        # ceil(T/dt) dt - T to the delay of the first one.
        per_spike = np.ceil(T / dt_ms - 1e-9) * dt_ms - T
        ax_dt.semilogy(number, (b[0] - r[0]) + (number - 1) * per_spike, "-", color=color, lw=0.8, alpha=0.7)
ax_dt.plot([], [], "-", color="0.3", lw=0.8, label="first delay + (n - 1)(ceil(T/dt) dt - T)")
for dt_ms in DTS_MS:
    ax_dt.axhline(dt_ms, color="gray", ls=":", lw=1)
    ax_dt.text(ax_dt.get_xlim()[1], dt_ms * 1.1, f"dt = {dt_ms:g} ms ", color="gray", fontsize=9, va="bottom",
               ha="right")
ax_dt.set(xlabel="spike number n", ylabel="|t_Brian2 - t_reference| (ms)",
          title="c) spike times: late by < dt, and the delays add up")
ax_dt.legend(loc="lower right", fontsize=8)

figure_path = out_dir / "04_custom.png"
fig.suptitle(f"Your own model: {model_path.name} (quadratic integrate-and-fire) in Brian2 and the reference integrator")
fig.savefig(figure_path, dpi=110)
print(f"\nsaved {figure_path} ({time.perf_counter() - started:.1f} s)")
