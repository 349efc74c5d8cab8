#!/usr/bin/env python
"""Tutorial 6: one PyNN script, two simulators, the same lifbridge model.

Getting started
---------------
From the repository root, with lifbridge installed with its NEST and PyNN extras
(``pip install -e '.[nest,pynn]'``: NEST 3.10, NESTML 9, PyNN 0.13) and a C++ tool chain::

    python tutorials/06_pynn_one_script_two_simulators.py            # 1 s of network activity
    python tutorials/06_pynn_one_script_two_simulators.py --quick    # 300 ms
    python tutorials/06_pynn_one_script_two_simulators.py --out figs

It runs the PyNN function ``network(sim, model)`` below twice, once with ``pyNN.nest`` and once
with ``pyNN.brian2`` (each in its own process, as a PyNN user switches simulators by
changing one import), prints both simulators' spike counts and the largest spike-time
difference, and saves ``tutorial-output/06_pynn.png``. ``--model adex_cond_exp`` runs the
AdEx instead of ``lif_psc_alpha``. The first run compiles the model's NEST module (a minute
or more; cached afterwards). Without PyNN, NEST or
a compiler the script says "skipped: ..." and exits normally.

What you learn
--------------
* ``lifbridge.pynn.cell_type("lif_psc_alpha", sim)`` is a PyNN cell type for whichever
  PyNN backend ``sim`` is. Parameters take PyNN's names and units where PyNN has the same
  quantity (``cm`` in nF, ``i_offset`` in nA, ``tau_syn_E`` in ms, ``a`` in nS, ``b`` in nA)
  and the model's own otherwise (``g_L`` in uS).
* Projections use PyNN's receptor names and weight units (nA for currents, uS for
  conductances); current sources reach the model's current input.
* The model is the same on both simulators: the cell type is lifbridge's model on both (the
  generated NESTML neuron on NEST, the generated equations on Brian2), and lifbridge's
  registered backends ``pynn.nest`` and ``pynn.brian2`` give the nest and brian2 backends'
  spike times to 1e-13 ms (``lifbridge run lif_psc_alpha --backend pynn.brian2``).
* A raw PyNN script still sees PyNN's own conventions differ between its backends:
  pyNN.nest relays a ``SpikeSourceArray`` through a parrot neuron with a delay of
  ``min_delay`` (hence ``min_delay=0.1`` here; with "auto" the input arrives one
  connection delay late), pyNN.brian2 stamps a spike one step earlier than NEST (shifted
  here), and current sources start at slightly different steps. With those, the script
  prints the same spike count for every neuron and spike times within a few steps
  (measured: 0.2 ms without the current step, 1 ms with it, for lif_psc_alpha, 300 ms).
* ``--model adex_cond_exp``: NEST integrates the AdEx with adaptive RKF45, Brian2 with RK4
  at the 0.1 ms step; the exponential upswing magnifies the difference. ``lifbridge
  validate`` gives the number for each against the reference integrator.

Exercises
---------
1. Run ``--model adex_cond_exp`` with ``sim.setup(timestep=0.01)``: how close do the two
   simulators come?
2. Pass ``cm="250 mV"`` to the cell type: read the one-line error.
3. Record ``"w"`` and plot the adaptation current next to ``v``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

#: (cell type parameters, excitatory weight): nA for current-based synapses, uS for conductances
MODELS = {
    "lif_psc_alpha": (dict(cm=0.25, tau_syn_E=5.0, tau_syn_I=8.0), 0.15),
    "adex_cond_exp": (dict(cm=0.281, tau_syn_E=5.0, tau_syn_I=10.0), 0.004),
}
N = 20


def network(sim, model, duration_ms):
    """A PyNN script: 20 neurons of ``model`` driven by fixed spike trains and a current step.
    Returns ({neuron: spike times in ms}, (t in ms, v of neuron 0 in mV))."""
    from lifbridge.pynn import cell_type

    # min_delay=0.1: pyNN.nest relays a SpikeSourceArray through a parrot neuron with a
    # delay of min_delay ("auto": the smallest delay, here 1 ms, so input would arrive 1 ms
    # later than on pyNN.brian2)
    sim.setup(timestep=0.1, min_delay=0.1)
    rng = np.random.default_rng(7)
    trains = [np.unique(np.round(np.sort(rng.uniform(1.0, duration_ms, 60)), 1)) for _ in range(40)]
    parameters, weight = MODELS[model]
    Cell = cell_type(model, sim)
    cells = sim.Population(N, Cell(i_offset=np.linspace(0.3, 0.7, N), **parameters))
    inputs = sim.Population(len(trains), sim.SpikeSourceArray(spike_times=trains))
    connections = [(i, j) for i in range(len(trains)) for j in range(N) if (i + 3 * j) % 7 == 0]
    sim.Projection(inputs, cells, sim.FromListConnector(connections), sim.StaticSynapse(weight=weight, delay=1.0),
                   receptor_type="excitatory")
    sim.DCSource(amplitude=0.2, start=0.3 * duration_ms, stop=0.6 * duration_ms).inject_into(cells)
    cells.record(["spikes", "v"])
    sim.run(duration_ms)
    block = cells.get_data().segments[0]
    # pyNN.brian2 stamps a spike with the start of the step whose update crossed the threshold,
    # pyNN.nest (and lifbridge's runners) with the grid point where the crossing is found
    shift = 0.1 if sim.__name__ == "pyNN.brian2" else 0.0
    spikes = {i: (np.asarray(st.magnitude, dtype=float) + shift).tolist() for i, st in enumerate(block.spiketrains)}
    v = next(s for s in block.analogsignals if s.name == "v")
    trace = (np.asarray(v.times.rescale("ms").magnitude).tolist(), np.asarray(v.rescale("mV").magnitude)[:, 0].tolist())
    sim.end()
    return spikes, trace


def run_one(backend, model, duration_ms, path):
    """Run ``network`` with pyNN.<backend> and write its spikes and trace as JSON to ``path``."""
    import importlib

    sim = importlib.import_module(f"pyNN.{backend}")
    spikes, trace = network(sim, model, duration_ms)
    Path(path).write_text(json.dumps({"spikes": spikes, "trace": trace}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--quick", action="store_true", help="300 ms instead of 1 s")
    parser.add_argument("--out", default="tutorial-output", help="directory for the figure")
    parser.add_argument("--model", choices=sorted(MODELS), default="lif_psc_alpha", help="the lifbridge model")
    parser.add_argument("--one", nargs=2, metavar=("BACKEND", "JSON"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    duration = 300.0 if args.quick else 1000.0
    if args.one:
        run_one(args.one[0], args.model, duration, args.one[1])
        return
    try:
        import pyNN  # noqa: F401
        from lifbridge import backends

        for name in ("pynn.nest", "pynn.brian2"):
            backends.require(name)
    except Exception as error:  # noqa: BLE001 - a missing extra is a skip, said in one line
        print(f"skipped: {str(error).splitlines()[0]}")
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for backend in ("nest", "brian2"):
        path = out / f"06_pynn_{backend}.json"
        command = [sys.executable, __file__, "--one", backend, str(path), "--model", args.model] + \
            (["--quick"] if args.quick else [])
        proc = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, MPLBACKEND="Agg"))
        if proc.returncode != 0:
            sys.exit(f"pyNN.{backend} failed: {proc.stderr.strip().splitlines()[-1]}")
        results[backend] = json.loads(path.read_text())
        path.unlink()
    counts = {b: sum(len(s) for s in r["spikes"].values()) for b, r in results.items()}
    diffs = [np.max(np.abs(np.asarray(results["nest"]["spikes"][k]) - np.asarray(results["brian2"]["spikes"][k])))
             for k in results["nest"]["spikes"]
             if len(results["nest"]["spikes"][k]) == len(results["brian2"]["spikes"][k]) and results["nest"]["spikes"][k]]
    same = all(len(results["nest"]["spikes"][k]) == len(results["brian2"]["spikes"][k]) for k in results["nest"]["spikes"])
    print(f"{args.model}: pyNN.nest {counts['nest']} spikes, pyNN.brian2 {counts['brian2']} spikes; "
          f"same count for every neuron: {same}; largest spike-time difference {max(diffs, default=0.0):.3g} ms")

    import matplotlib.pyplot as plt

    fig, (raster, trace) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for backend, marker, color in (("nest", "|", "tab:red"), ("brian2", "_", "tab:blue")):
        for k, times in results[backend]["spikes"].items():
            raster.plot(times, [int(k)] * len(times), marker, color=color, ms=6,
                        label=f"pyNN.{backend}" if k == "0" else None)
        t, v = results[backend]["trace"]
        trace.plot(t, v, color=color, lw=0.8, label=f"pyNN.{backend}")
    raster.set_ylabel("neuron")
    raster.legend(loc="upper right")
    raster.set_title(f"lifbridge {args.model} as a PyNN cell type on two simulators")
    trace.set_xlabel("time (ms)")
    trace.set_ylabel("v of neuron 0 (mV)")
    trace.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(out / "06_pynn.png", dpi=100)
    print(f"saved {out / '06_pynn.png'}")


if __name__ == "__main__":
    main()
