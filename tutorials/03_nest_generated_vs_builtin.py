#!/usr/bin/env python
"""Tutorial 3: the generated NEST neuron against NEST's own iaf_psc_exp.

Getting started
---------------
From the repository root, with lifbridge installed with its NEST extra
(``pip install -e '.[nest]'``: NEST 3.10 and NESTML 9) and a C++ tool chain
(``apt-get install g++ cmake make libboost-dev libgsl-dev``)::

    python tutorials/03_nest_generated_vs_builtin.py            # seconds once the module is built
    python tutorials/03_nest_generated_vs_builtin.py --quick    # a shorter simulation
    python tutorials/03_nest_generated_vs_builtin.py --out figs

The FIRST run generates NESTML from ``models/lif.toml``, has NESTML generate C++ and
compiles it into a NEST extension module: this takes a minute or more. The module is
cached by content hash under ``~/.cache/lifbridge`` (``LIFBRIDGE_CACHE`` overrides),
so later runs load it at once. Without NEST/NESTML or a compiler the script says
"skipped: ..." and exits normally.

It prints the spike times of both neurons and their largest difference, and saves
``tutorial-output/03_nest.png``.

What you learn
--------------
* ``lifbridge.nest.install(["lif"])`` builds (or finds in the cache) and loads a module;
  afterwards ``nest.Create("lif_neuron")`` works like any NEST model. ``lif_neuron``
  keeps the names and units of the model file (pA, pF, ms, mV), which are NEST's.
* NEST has the same model built in: ``iaf_psc_exp``. ``lifbridge.nest.BUILTIN_EQUIVALENTS``
  maps every parameter name between the two (only the synaptic names differ:
  ``tau_syn_exc`` / ``tau_syn_ex``).
* Both integrate the linear subthreshold dynamics exactly (Rotter & Diesmann 1999,
  propagator matrices), so with the same input they must produce the SAME spike
  times, not merely similar ones. This is how a generated model is checked against a
  trusted implementation.
* NEST inputs: a ``dc_generator`` (a constant current in pA) and ``spike_generator``s
  connected through ``static_synapse`` with weights in pA: each spike makes the
  synaptic current jump by the weight (positive: excitatory port, negative: inhibitory),
  then decay with tau_syn_exc / tau_syn_inh.

Exercises
---------
1. Replace iaf_psc_exp by iaf_psc_delta (give it the same C_m, tau_m, E_L, V_th, V_reset,
   t_ref). The weights of iaf_psc_delta are voltage jumps in mV: what weight makes a
   single spike cause roughly the same peak depolarisation?
2. Change the resolution to 0.01 ms. Do the spike times of the two neurons still agree,
   and how do they move relative to the 0.1 ms run?
"""

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # write files only, never open a window
import matplotlib.pyplot as plt
import numpy as np

import lifbridge
import lifbridge.nest


def parse_args():
    parser = argparse.ArgumentParser(description="Tutorial 3: generated lif_neuron vs NEST's iaf_psc_exp")
    parser.add_argument("--out", default="tutorial-output", help="directory for the figure (default: %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        default=os.environ.get("LIFBRIDGE_TUTORIAL_QUICK", "") not in ("", "0"),
                        help="a shorter simulation (also: LIFBRIDGE_TUTORIAL_QUICK=1)")
    return parser.parse_args()


args = parse_args()
out_dir = Path(args.out)
started = time.perf_counter()

# ------------------------------------------------------------------------------------
# 0. Is NEST here?
# ------------------------------------------------------------------------------------
missing = [dist for module, dist in (("nest", "nest-simulator"), ("pynestml", "nestml"))
           if importlib.util.find_spec(module) is None]
if missing:
    print(f"skipped: this tutorial needs the Python package(s) {' and '.join(missing)} "
          f"(pip install -e '.[nest]' installs NEST 3.10 and NESTML 9)")
    sys.exit(0)

os.environ.setdefault("PYNEST_QUIET", "1")   # no NEST banner
import nest  # noqa: E402  (imported only once we know it is there)

nest.verbosity = nest.VerbosityLevel.WARNING
RESOLUTION_MS = 0.1           # NEST's time step (ms)
# Set the resolution before models are loaded and created (changing it later resets them).
nest.resolution = RESOLUTION_MS

# ------------------------------------------------------------------------------------
# 1. Build and load the generated model
# ------------------------------------------------------------------------------------
model = lifbridge.load("lif")
print("Building (or loading from the cache) the NEST module for 'lif' ...", flush=True)
build_started = time.perf_counter()
try:
    module = lifbridge.nest.install(["lif"])
except lifbridge.LifbridgeError as error:
    # A missing compiler or header is a property of this machine, not a failure of the
    # tutorial: say what to install and stop. Anything else is a real error.
    from lifbridge.nest_build import check_build_prerequisites

    try:
        check_build_prerequisites()
    except lifbridge.LifbridgeError as missing_tools:
        print(f"skipped: {missing_tools}")
        sys.exit(0)
    raise
print(f"  loaded {module} ({time.perf_counter() - build_started:.1f} s)\n")

# ------------------------------------------------------------------------------------
# 2. Parameters of the experiment
# ------------------------------------------------------------------------------------
DURATION_MS = 500.0 if args.quick else 2000.0
DC_PA = 300.0                 # constant current; alone it is subthreshold (V_inf = -58 mV)
DC_START_MS = 20.0
EXC_RATE_HZ, EXC_WEIGHT_PA = 1500.0, 50.0    # weights are current jumps in pA
INH_RATE_HZ, INH_WEIGHT_PA = 500.0, -50.0    # negative weight: the inhibitory port
DELAY_MS = 1.0
SEED = 1234

# The two models get the same parameter values: the table of lifbridge.nest translates
# the model's names into iaf_psc_exp's.
equivalent = lifbridge.nest.builtin_equivalent(model)
generated_params = lifbridge.nest.parameter_status(model)   # spec names and units
builtin_params = equivalent.builtin_parameters(model)        # NEST built-in names and units
print(f"{'lif_neuron':>14} {'value':>8}      {equivalent.builtin:<12} {'value':>8}")
for ours, (theirs, unit) in equivalent.parameters.items():
    ours_unit = model.parameters[ours].unit.name
    print(f"{ours:>14} {generated_params[ours]:8g} {ours_unit:3s}  {theirs:<12} {builtin_params[theirs]:8g} {unit}")
print(f"({equivalent.note})\n")

# Input spike trains: Poisson, drawn once with numpy (so both neurons get exactly the
# same spikes) and rounded to the time grid, as spike_generator requires.
rng = np.random.default_rng(SEED)


def poisson_train(rate_hz):
    count = rng.poisson(rate_hz * DURATION_MS / 1000.0)
    times = np.sort(rng.uniform(1.0, DURATION_MS - DELAY_MS, count))
    return np.unique(np.round(times / RESOLUTION_MS) * RESOLUTION_MS)


exc_times, inh_times = poisson_train(EXC_RATE_HZ), poisson_train(INH_RATE_HZ)

# ------------------------------------------------------------------------------------
# 3. The network: two neurons, one set of inputs
# ------------------------------------------------------------------------------------
# (nest.ResetKernel() would unload the module: call lifbridge.nest.install again after it.)
generated = nest.Create("lif_neuron", params=generated_params)
builtin = nest.Create(equivalent.builtin, params=builtin_params)
both = generated + builtin

dc = nest.Create("dc_generator", params={"amplitude": DC_PA, "start": DC_START_MS})
exc = nest.Create("spike_generator", params={"spike_times": exc_times.tolist()})
inh = nest.Create("spike_generator", params={"spike_times": inh_times.tolist()})
nest.Connect(dc, both)
for generator, weight in ((exc, EXC_WEIGHT_PA), (inh, INH_WEIGHT_PA)):
    nest.Connect(generator, both, syn_spec={"synapse_model": "static_synapse", "weight": weight,
                                            "delay": DELAY_MS})

spike_recorder = nest.Create("spike_recorder")
nest.Connect(both, spike_recorder)
multimeter = nest.Create("multimeter", params={"record_from": ["V_m"], "interval": RESOLUTION_MS})
nest.Connect(multimeter, both)

nest.Simulate(DURATION_MS)

# ------------------------------------------------------------------------------------
# 4. Compare
# ------------------------------------------------------------------------------------
events = spike_recorder.events
senders, times = np.asarray(events["senders"]), np.asarray(events["times"])
spikes = {"generated lif_neuron": np.sort(times[senders == generated.global_id]),
          f"built-in {equivalent.builtin}": np.sort(times[senders == builtin.global_id])}
mm = multimeter.events
v = {}
for label, node in zip(spikes, (generated, builtin)):
    mine = np.asarray(mm["senders"]) == node.global_id
    order = np.argsort(np.asarray(mm["times"])[mine])
    v[label] = (np.asarray(mm["times"])[mine][order], np.asarray(mm["V_m"])[mine][order])

(label_gen, t_gen), (label_bi, t_bi) = spikes.items()
print(f"{len(exc_times)} excitatory and {len(inh_times)} inhibitory input spikes, dc {DC_PA:g} pA "
      f"from {DC_START_MS:g} ms, resolution {RESOLUTION_MS:g} ms, {DURATION_MS:g} ms")
for label, train in spikes.items():
    rate = len(train) / (DURATION_MS / 1000.0)
    print(f"  {label:24s} {len(train):4d} spikes ({rate:5.1f} Hz), first: "
          + ", ".join(f"{t:.1f}" for t in train[:6]) + " ms")
if len(t_gen) == len(t_bi):
    max_diff = float(np.max(np.abs(t_gen - t_bi))) if len(t_gen) else 0.0
    print(f"max |spike time difference| = {max_diff:g} ms over {len(t_gen)} spikes")
else:
    max_diff = float("nan")
    print(f"DIFFERENT spike counts: {len(t_gen)} vs {len(t_bi)}")
dv = np.abs(v[label_gen][1] - v[label_bi][1])
print(f"max |V_m difference| = {dv.max():.3g} mV (rounding: the two codes order their arithmetic differently)")

# ------------------------------------------------------------------------------------
# 5. Figure
# ------------------------------------------------------------------------------------
window = (0.0, min(DURATION_MS, 400.0))
fig, (ax_in, ax_v, ax_dv) = plt.subplots(3, 1, figsize=(12, 8.5), sharex=True, constrained_layout=True,
                                         gridspec_kw={"height_ratios": [1.0, 2.4, 1.2]})
ax_in.eventplot([exc_times, inh_times], colors=["C2", "C3"], lineoffsets=[1, 0], linelengths=0.8, linewidths=0.6)
ax_in.set_yticks([1, 0], [f"exc (+{EXC_WEIGHT_PA:g} pA)", f"inh ({INH_WEIGHT_PA:g} pA)"])
ax_in.set_title(f"a) input: Poisson spikes ({EXC_RATE_HZ:g} Hz exc, {INH_RATE_HZ:g} Hz inh) "
                f"+ dc {DC_PA:g} pA from {DC_START_MS:g} ms", loc="left")

t, vm = v[label_gen]
ax_v.plot(t, vm, color="C0", lw=2.2, label=label_gen)
t, vm = v[label_bi]
ax_v.plot(t, vm, color="k", lw=0.9, ls="--", label=label_bi)
for train, y, color in ((t_gen, -52.5, "C0"), (t_bi, -51.5, "k")):
    ax_v.plot(train, np.full(len(train), y), "|", color=color, ms=10, mew=1.5)
ax_v.axhline(model.parameters["V_th"].value, color="gray", ls=":", lw=1)
ax_v.text(window[0] + 2, model.parameters["V_th"].value + 0.2, "V_th", color="gray", va="bottom")
ax_v.set_ylim(-71, -46)
ax_v.set_ylabel("V_m (mV)")
ax_v.set_title(f"b) membrane potential; ticks: spike times (max difference {max_diff:g} ms)", loc="left")
ax_v.legend(loc="upper right", ncol=2)

ax_dv.plot(v[label_gen][0], v[label_gen][1] - v[label_bi][1], color="C1", lw=0.8)
ax_dv.set_ylabel("ΔV_m (mV)")
ax_dv.set_xlabel("time (ms)")
ax_dv.set_title("c) generated minus built-in: floating-point rounding only", loc="left")
ax_dv.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
ax_dv.set_xlim(*window)

out_dir.mkdir(parents=True, exist_ok=True)
figure_path = out_dir / "03_nest.png"
fig.suptitle("NEST: lif_neuron generated from models/lif.toml vs the built-in iaf_psc_exp (same input)")
fig.savefig(figure_path, dpi=110)
print(f"\nsaved {figure_path} (first {window[1]:g} ms shown; {time.perf_counter() - started:.1f} s)")
