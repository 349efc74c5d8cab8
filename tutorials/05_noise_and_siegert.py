#!/usr/bin/env python
"""Tutorial 5: the LIF driven by white noise, against the Siegert formula.

Getting started
---------------
From the repository root, with lifbridge installed (``pip install -e .``)::

    python tutorials/05_noise_and_siegert.py            # about 20 s (plus a one-off compilation)
    python tutorials/05_noise_and_siegert.py --quick    # shorter runs, no C compilation
    python tutorials/05_noise_and_siegert.py --out figs

It prints simulated and theoretical rates and saves ``tutorial-output/05_siegert.png``.

What you learn
--------------
* The diffusion approximation (Brunel 2000, J Comput Neurosci 8:183-208). A neuron
  receiving many small, independent synaptic inputs sees a current with a mean and
  Gaussian fluctuations. In the limit of tiny, very frequent inputs its membrane
  potential obeys::

      tau_m dV/dt = -(V - E_L) + mu + sigma sqrt(tau_m) xi(t)

  with xi(t) Gaussian white noise. ``mu`` (mV) is the mean input, measured as the
  depolarisation it would cause on its own: mu = R I_mean, or for Poisson inputs
  tau_m * sum(J * C * nu) (J: PSP amplitude in mV, C: number of inputs, nu: their rate).
  ``sigma`` (mV) measures the fluctuations, sigma^2 = tau_m * sum(J^2 * C * nu); without
  a threshold V would fluctuate around E_L + mu with standard deviation sigma / sqrt(2).
* The stationary firing rate is the inverse of t_ref plus the mean first-passage time
  from V_reset to V_th (Siegert 1951; Amit & Tsodyks 1991; Brunel 2000)::

      1/r = t_ref + tau_m sqrt(pi) * integral of exp(u^2)(1 + erf u) du
            from (V_reset - E_L - mu)/sigma to (V_th - E_L - mu)/sigma

  (``lifbridge.analytic.siegert_rate``). With noise the neuron fires below the
  deterministic threshold mu = V_th - E_L: fluctuation-driven firing.
* A simulation observes V only on the time grid, so it misses brief excursions above
  threshold between grid points and fires a little less than the continuous theory
  says. For a random walk this acts like a threshold raised by 0.5826 sigma sqrt(dt /
  tau_m) (Siegmund 1979; used for integrate-and-fire neurons by Brette 2007 and
  Fourcaud & Brunel 2002). The validation harness judges simulators against this
  corrected rate: ``lifbridge.validation.references.siegert_reference(model, mu, sigma, dt)``.

How the noise is made in Brian2: the model's input ``I_stim`` is set at the start of
every step to an independent Gaussian number, ``I_stim = s * randn()`` (a
``run_regularly`` operation), held for the step. With s = sigma C_m / sqrt(tau_m dt)
the voltage increments over one step have the variance sigma^2 dt / tau_m of the
diffusion above.

Exercises
---------
1. Halve ``DT`` to 0.05 ms. By how much do the simulated rates move, and which theory
   curve do they move towards?
2. For Poisson inputs with J = 0.2 mV, C = 800 excitatory synapses at nu = 10 Hz (and no
   inhibition), compute mu and sigma (tau_m = 10 ms). Where on the figure is that neuron?
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
from lifbridge.analytic import lif_rate, siegert_rate
from lifbridge.brian2 import neuron_group
from lifbridge.validation.references import siegert_reference


def parse_args():
    parser = argparse.ArgumentParser(description="Tutorial 5: the LIF in white noise against the Siegert formula")
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
b2.seed(2000)   # Brian2's random numbers (randn) are reproducible from here on

# ------------------------------------------------------------------------------------
# 1. Model and parameters
# ------------------------------------------------------------------------------------
model = lifbridge.load("lif")
p = {name: par.value for name, par in model.parameters.items()}
theta = p["V_th"] - p["E_L"]              # 15 mV: the threshold relative to rest
R = p["tau_m"] / p["C_m"]                 # GOhm = mV/pA
# siegert_rate measures voltages from E_L (theta, V_reset) and takes times in ms.
SIEGERT_ARGS = dict(tau_m=p["tau_m"], t_ref=p["t_ref"], theta=theta, V_reset=p["V_reset"] - p["E_L"])

DT = 0.1 * ms
SIGMAS_MV = (2.0, 5.0)                                     # two noise amplitudes
MUS_MV = np.linspace(0.6, 1.4, 9 if args.quick else 17) * theta   # mean input, 9 to 21 mV
REPEATS = 2 if args.quick else 4                            # neurons per (mu, sigma)
DURATION = (2.0 if args.quick else 5.0) * second
TRANSIENT = 100 * ms                                        # V starts at E_L: skip the start
print(f"LIF: tau_m = {p['tau_m']:g} ms, theta = V_th - E_L = {theta:g} mV, V_reset - E_L = "
      f"{p['V_reset'] - p['E_L']:g} mV, t_ref = {p['t_ref']:g} ms, R = {R * 1e3:g} MOhm")
print(f"mu from {MUS_MV[0]:g} to {MUS_MV[-1]:g} mV, sigma = {SIGMAS_MV} mV, dt = {DT / ms:g} ms, "
      f"{REPEATS} x {DURATION / second:g} s per point\n")

# ------------------------------------------------------------------------------------
# 2. One group per sigma, one neuron per (mu, repeat)
# ------------------------------------------------------------------------------------
groups, monitors = {}, []
mu_of_neuron = np.repeat(MUS_MV, REPEATS)
for sigma in SIGMAS_MV:
    group = neuron_group(model, len(mu_of_neuron), dt=DT, name=f"lif_sigma_{sigma:g}mV")
    group.I_e = mu_of_neuron / R * pA                  # mean current: mu = R I
    # Fluctuations: a fresh Gaussian current every step, scaled so that V diffuses with sigma.
    group.namespace["noise_scale"] = sigma * p["C_m"] / np.sqrt(p["tau_m"] * float(DT / ms)) * pA
    group.run_regularly("I_stim = noise_scale * randn()", when="start")
    groups[sigma] = group
    monitors.append(b2.SpikeMonitor(group, name=f"spikes_sigma_{sigma:g}mV"))
traced = int(np.argmin(np.abs(mu_of_neuron - 0.9 * theta)))   # a neuron with a subthreshold mean
voltages = {sigma: b2.StateMonitor(groups[sigma], "V_m", record=[traced]) for sigma in SIGMAS_MV}
net = b2.Network(*groups.values(), *monitors, *voltages.values())
net.run(DURATION)

# ------------------------------------------------------------------------------------
# 3. Rates and theory
# ------------------------------------------------------------------------------------
measured, stderr, cvs = {}, {}, {}
counted = float((DURATION - TRANSIENT) / second)
for sigma, monitor in zip(SIGMAS_MV, monitors):
    trains = [np.asarray(t / ms) for t in monitor.spike_trains().values()]
    trains = [t[t >= TRANSIENT / ms] for t in trains]
    measured[sigma], stderr[sigma], cvs[sigma] = [], [], []
    for k in range(len(MUS_MV)):
        point = trains[k * REPEATS:(k + 1) * REPEATS]          # the repeats of this mu
        count = sum(len(t) for t in point)
        isis = np.concatenate([np.diff(t) for t in point])
        cv = isis.std() / isis.mean() if len(isis) > 10 else 1.0
        measured[sigma].append(count / (counted * REPEATS))
        # Standard error of a rate from a spike count: for a renewal process the count
        # variance is CV^2 times its mean (CV: coefficient of variation of the interspike
        # intervals; 1 for Poisson, smaller for the more regular firing at large mu).
        stderr[sigma].append(np.sqrt(max(count, 1) * cv ** 2) / (counted * REPEATS))
        cvs[sigma].append(cv)
    measured[sigma], stderr[sigma], cvs[sigma] = map(np.array, (measured[sigma], stderr[sigma], cvs[sigma]))

continuous = {s: siegert_rate(MUS_MV, s, **SIEGERT_ARGS) for s in SIGMAS_MV}
discrete = {s: siegert_reference(model, MUS_MV, s, float(DT / ms)) for s in SIGMAS_MV}
for sigma in SIGMAS_MV:
    shift = 0.5826 * sigma * np.sqrt(float(DT / ms) / p["tau_m"])
    print(f"sigma = {sigma:g} mV (grid correction: threshold raised by {shift:.3f} mV)")
    print(f"  {'mu (mV)':>8} {'simulated (Hz)':>16} {'CV':>5} {'Siegert':>9} {'dt-corrected':>13} {'z':>6}")
    for k, mu in enumerate(MUS_MV):
        z = (measured[sigma][k] - discrete[sigma][k]) / stderr[sigma][k]
        print(f"  {mu:8.2f} {measured[sigma][k]:9.2f} ± {stderr[sigma][k]:4.2f} {cvs[sigma][k]:5.2f} "
              f"{continuous[sigma][k]:9.2f} {discrete[sigma][k]:13.2f} {z:6.2f}")
    print("  (z: simulated minus dt-corrected theory, in standard errors)")
    for name, theory in (("Siegert", continuous[sigma]), ("dt-corrected", discrete[sigma])):
        z = (measured[sigma] - theory) / stderr[sigma]
        print(f"  vs {name:12s}: mean z = {z.mean():+.2f}, rms z = {np.sqrt(np.mean(z ** 2)):.2f}")
    print()

# ------------------------------------------------------------------------------------
# 4. Figure
# ------------------------------------------------------------------------------------
fig, (ax_v, ax_r, ax_z) = plt.subplots(1, 3, figsize=(16, 4.8), constrained_layout=True,
                                       gridspec_kw={"width_ratios": [1.2, 1.2, 1.0]})
colors = {SIGMAS_MV[0]: "C0", SIGMAS_MV[1]: "C3"}
shown = 300 * ms
for sigma in SIGMAS_MV:
    monitor = voltages[sigma]
    sel = monitor.t < shown
    ax_v.plot(monitor.t[sel] / ms, monitor.V_m[0][sel] / mV, color=colors[sigma], lw=0.7,
              label=f"sigma = {sigma:g} mV")
ax_v.axhline(p["V_th"], color="k", ls="--", lw=1)
ax_v.axhline(p["E_L"] + mu_of_neuron[traced], color="gray", ls=":", lw=1)
ax_v.text(shown / ms, p["V_th"], " V_th", va="center")
ax_v.text(shown / ms, p["E_L"] + mu_of_neuron[traced], " E_L + mu", va="center", color="gray")
ax_v.set(xlabel="time (ms)", ylabel="V_m (mV)", xlim=(0, shown / ms),
         title=f"a) mu = {mu_of_neuron[traced]:.1f} mV < theta: fluctuation-driven firing")
ax_v.legend(loc="lower right", fontsize=9)

mu_fine = np.linspace(MUS_MV[0], MUS_MV[-1], 200)
ax_r.plot(mu_fine, lif_rate(mu_fine / R, C_m=p["C_m"], tau_m=p["tau_m"], E_L=p["E_L"], V_th=p["V_th"],
                            V_reset=p["V_reset"], t_ref=p["t_ref"]),
          color="k", lw=1, ls=":", label="no noise (lif_rate)")
for sigma in SIGMAS_MV:
    c = colors[sigma]
    ax_r.plot(mu_fine, siegert_rate(mu_fine, sigma, **SIEGERT_ARGS), color=c, ls="--", lw=1)
    ax_r.plot(mu_fine, siegert_reference(model, mu_fine, sigma, float(DT / ms)), color=c, lw=1.5)
    ax_r.errorbar(MUS_MV, measured[sigma], yerr=2 * stderr[sigma], fmt="o", color=c, ms=4, capsize=2,
                  label=f"Brian2, sigma = {sigma:g} mV (±2 s.e.)")
ax_r.plot([], [], "k--", lw=1, label="siegert_rate (continuous time)")
ax_r.plot([], [], "k-", lw=1.5, label="siegert_reference (dt-corrected)")
ax_r.axvline(theta, color="gray", lw=0.8)
ax_r.set(xlabel="mu = R I_mean (mV)", ylabel="firing rate (Hz)", title="b) rate against the mean input")
ax_r.legend(loc="upper left", fontsize=8)

for sigma in SIGMAS_MV:
    c = colors[sigma]
    ax_z.plot(MUS_MV, (measured[sigma] - continuous[sigma]) / stderr[sigma], "x--", color=c, lw=0.8,
              label=f"sigma = {sigma:g} mV, vs siegert_rate")
    ax_z.plot(MUS_MV, (measured[sigma] - discrete[sigma]) / stderr[sigma], "o-", color=c, ms=4,
              label=f"sigma = {sigma:g} mV, vs dt-corrected")
ax_z.axhspan(-2, 2, color="0.9", zorder=0)
ax_z.axhline(0, color="k", lw=0.8)
ax_z.set(xlabel="mu (mV)", ylabel="(simulated - theory) / s.e.",
         title="c) deviation in standard errors (grey: ±2)")
ax_z.legend(loc="lower left", fontsize=8)

figure_path = out_dir / "05_siegert.png"
fig.suptitle(f"LIF (models/lif.toml) in white noise, Brian2 dt = {DT / ms:g} ms: the Siegert formula "
             f"and its discrete-time correction")
fig.savefig(figure_path, dpi=110)
print(f"saved {figure_path} ({time.perf_counter() - started:.1f} s)")
