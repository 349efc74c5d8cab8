#!/usr/bin/env python
"""Tutorial 9: exporting the LIF as a NIR graph, and what the exported neuron does.

Getting started
---------------
From the repository root, with lifbridge and its ``nir`` extra installed
(``pip install -e '.[nir]'``)::

    python tutorials/09_nir_export.py              # about 5 s
    python tutorials/09_nir_export.py --quick      # shorter runs
    python tutorials/09_nir_export.py --out figs   # write the files somewhere else

It writes ``tutorial-output/lif.nir`` (the same file as
``lifbridge generate lif --target nir --param t_ref=0ms -o lif.nir``), prints what
``nir.read`` finds in it, shows what NIR cannot express, and saves
``tutorial-output/09_nir.png``: the exported neuron's f-I curve against the closed forms,
and one post-synaptic potential against its closed form.

What you learn
--------------
* NIR (the neuromorphic intermediate representation, ``nir`` 1.0.8) describes neurons by
  the equations in the docstrings of ``nir/ir/neuron.py``. ``lif`` (exponential current
  synapses) is a ``CubaLIF`` node::

      tau_syn dI/dt = -I + w_in S        tau_mem dv/dt = (v_leak - v) + R I

  with tau_mem = tau_m, R = tau_m / C_m = 40 MOhm and w_in = tau_syn, so that one input
  spike of weight w moves I by w, as one spike of NEST weight w moves I_syn.
* NIR has no units. lifbridge writes ms, mV (relative to the initial membrane potential),
  nA and MOhm, and says so in the graph's metadata.
* NIR 1.0's neurons have no refractory period. The export refuses a model with t_ref > 0
  unless it is dropped explicitly; the exported neuron then fires faster than lifbridge's
  ``lif`` the harder it is driven (the closed form with t_ref = 0).
* The ``nir`` backend runs the file as NIR documents it, so ``lifbridge fi lif --backend
  nir`` and ``lifbridge validate --backends nir`` judge the export.

Exercises
---------
1. Export ``lif_psc_delta`` and ``pif`` the same way. Which NIR nodes do they become, and
   what is IF's R (in which unit)?
2. Give ``I_e = 200 pA`` with ``lifbridge.load("lif").with_parameters({"t_ref": 0.0,
   "I_e": 200.0})``. Which node carries it, and why does the metadata say the graph differs?
3. At which current is the exported neuron's rate twice the bundled lif's? (Use
   ``lifbridge.analytic.lif_rate`` with t_ref = 2 ms and 0 ms.)
"""

import argparse
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # write files only, never open a window
import matplotlib.pyplot as plt
import numpy as np

import lifbridge
from lifbridge import analytic
from lifbridge import backends
from lifbridge.errors import LifbridgeError
from lifbridge.nir_graph import to_bytes
from lifbridge.stimulus import SpikeTrain, Stimulus


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument("--out", default=os.environ.get("LIFBRIDGE_TUTORIAL_OUT", "tutorial-output"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    import nir

    # 1. export: t_ref must be dropped explicitly (NIR 1.0 has no refractory period)
    lif = lifbridge.load("lif")
    exported = lif.with_parameters({"t_ref": 0.0})
    data = to_bytes(exported)
    path = out / "lif.nir"
    path.write_bytes(data)
    for note in data.notes:
        print(f"note: {note}")
    graph = nir.read(str(path))
    print(f"\n{path}: nodes {', '.join(f'{k} ({type(v).__name__})' for k, v in graph.nodes.items())}")
    neuron = graph.nodes["neuron"]
    for field in ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in"):
        print(f"  {field:<12} {float(np.asarray(getattr(neuron, field))[0]):g}")
    print(f"  units: {graph.metadata['units']}")
    print(f"  voltages relative to {float(np.asarray(graph.metadata['v_offset_mV'])[0]):g} mV")

    # 2. what NIR cannot express: one line each, with the reason
    print("\nrefused:")
    for name in ("lif", "lif_cond_exp", "adex", "lif_psc_alpha"):
        try:
            to_bytes(lifbridge.load(name))
        except LifbridgeError as error:
            print(f"  {error}")

    # 3. the exported neuron, run as NIR documents it, against the closed forms
    runner = backends.require("nir")
    duration = 300.0 if args.quick else 1000.0
    currents = np.linspace(0.0, 2000.0, 21 if args.quick else 41)
    rates = runner.simulate(exported, Stimulus.constant(currents), duration_ms=duration).rates_hz(steady=True)
    p = {name: lif.parameters[name].value for name in ("C_m", "tau_m", "E_L", "V_th", "V_reset", "t_ref")}
    with_ref = analytic.lif_rate(currents, **p)
    without = analytic.lif_rate(currents, **{**p, "t_ref": 0.0})
    print(f"\n{'I [pA]':>8} {'NIR [Hz]':>10} {'t_ref 0 [Hz]':>13} {'lif [Hz]':>10}")
    for i in range(0, len(currents), max(1, len(currents) // 8)):
        print(f"{currents[i]:>8.0f} {rates[i]:>10.1f} {without[i]:>13.1f} {with_ref[i]:>10.1f}")

    # one spike of NEST weight 100 pA at 5 ms: the PSP of the CubaLIF node
    spike = Stimulus(np.zeros(1), spikes=[SpikeTrain("exc_spikes", [5.0], 100.0, [0])])
    t, V, _ = runner.simulate(exported, spike, duration_ms=60.0, record=("V_m",)).traces["V_m"]
    s = np.clip(t - 5.0, 0.0, None)
    tau_s, tau_m, C = 2.0, p["tau_m"], p["C_m"]
    closed = p["E_L"] + 100.0 / C * tau_s * tau_m / (tau_m - tau_s) * (np.exp(-s / tau_m) - np.exp(-s / tau_s))
    print(f"\nPSP: peak {V[0].max() - p['E_L']:.4f} mV, largest difference to the closed form "
          f"{np.max(np.abs(V[0] - closed)):.2e} mV")

    fig, (ax_fi, ax_psp) = plt.subplots(1, 2, figsize=(10, 4))
    ax_fi.plot(currents, with_ref, "k-", label="lif (t_ref = 2 ms), closed form")
    ax_fi.plot(currents, without, "k--", label="t_ref = 0, closed form")
    ax_fi.plot(currents, rates, "o", color="tab:olive", ms=4, label="NIR graph (CubaLIF)")
    ax_fi.set(xlabel="I (pA)", ylabel="rate (Hz)", title="f-I: the export has no refractory period")
    ax_fi.legend(fontsize=8)
    ax_psp.plot(t, closed, "k-", label="closed form")
    ax_psp.plot(t[::5], V[0][::5], "o", color="tab:olive", ms=3, label="NIR graph (CubaLIF)")
    ax_psp.set(xlabel="t (ms)", ylabel="V_m (mV)", title="one spike of 100 pA")
    ax_psp.legend(fontsize=8)
    fig.tight_layout()
    figure = out / "09_nir.png"
    fig.savefig(figure, dpi=120)
    print(f"\nsaved {figure}")


if __name__ == "__main__":
    main()
