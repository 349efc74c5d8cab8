"""Tutorial 7: one PyNN network script, three simulators (NEST, Brian2, NEURON).

The Brette et al. (2007) CUBA benchmark (J Comput Neurosci 23:349, benchmark 2): 4000
leaky integrate-and-fire neurons (3200 excitatory, 800 inhibitory), exponential current
synapses, 2% random connectivity, self-sustained irregular activity. The network is built
from lifbridge's ``lif`` with ``lifbridge.pynn.cell_type`` and nothing else changes between
simulators: the script takes the PyNN backend's name.

The published weights are voltage jumps (we = 1.62 mV, wi = -9 mV with dv/dt = -(v - E_L)/tau_m
+ g/tau_m); with current synapses they are currents w * C_m / tau_m (nA), the inhibitory
one negative (PyNN's sign for a current-based inhibitory synapse).

Run:  python tutorials/07_pynn_cuba_three_simulators.py [nest brian2 neuron] [--seeds 1 2 3] [--quick]
Writes 07_cuba.png (raster and rate of each simulator) and prints the network statistics;
``--json FILE`` writes them as data.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

# Brette et al. (2007) CUBA, as in Brian2's examples/CUBA.py; times in ms, potentials in mV
CUBA = dict(N=4000, N_exc=3200, p=0.02, tau_m=20.0, tau_exc=5.0, tau_inh=10.0, V_t=-50.0, V_r=-60.0, E_L=-49.0,
            t_ref=5.0, w_exc_mV=60 * 0.27 / 10, w_inh_mV=-20 * 4.5 / 10)
C_M_NF = 0.25   # any capacitance gives the same voltage dynamics; the current weights scale with it


def import_simulator(name: str):
    """``pyNN.<name>`` (NEURON's PyNN backend through lifbridge, which compiles PyNN's mechanisms first)."""
    if name == "neuron":
        from lifbridge.pynn.neuron import import_pynn_neuron

        return import_pynn_neuron()
    return importlib.import_module(f"pyNN.{name}")


def cuba(simulator: str, seed: int, *, n: int = CUBA["N"], duration_ms: float = 1000.0, dt_ms: float = 0.1) -> dict:
    """Build and run the CUBA network on ``pyNN.<simulator>``; returns its spikes and statistics."""
    from lifbridge.pynn import cell_type

    sim = import_simulator(simulator)
    started = time.perf_counter()
    sim.setup(timestep=dt_ms, min_delay=dt_ms)
    lif = cell_type("lif", sim)(cm=C_M_NF, tau_m=CUBA["tau_m"], v_rest=CUBA["E_L"], v_thresh=CUBA["V_t"],
                                v_reset=CUBA["V_r"], tau_refrac=CUBA["t_ref"], tau_syn_E=CUBA["tau_exc"],
                                tau_syn_I=CUBA["tau_inh"], i_offset=0.0)
    cells = sim.Population(n, lif, label="CUBA")
    rng = sim.NumpyRNG(seed=seed)
    cells.initialize(v=sim.RandomDistribution("uniform", low=CUBA["V_r"], high=CUBA["V_t"], rng=rng))
    n_exc = n * CUBA["N_exc"] // CUBA["N"]
    exc, inh = cells[:n_exc], cells[n_exc:]
    # the connection probability keeps each neuron's number of inputs at the published 80 (+20)
    p = CUBA["p"] * CUBA["N"] / n
    w_exc = CUBA["w_exc_mV"] * C_M_NF / CUBA["tau_m"]   # nA
    w_inh = CUBA["w_inh_mV"] * C_M_NF / CUBA["tau_m"]   # nA, negative
    connector = sim.FixedProbabilityConnector(p, rng=rng)
    sim.Projection(exc, cells, connector, sim.StaticSynapse(weight=w_exc, delay=dt_ms), receptor_type="excitatory")
    sim.Projection(inh, cells, connector, sim.StaticSynapse(weight=w_inh, delay=dt_ms), receptor_type="inhibitory")
    cells.record("spikes")
    built = time.perf_counter()
    sim.run(duration_ms)
    trains = [np.asarray(t.magnitude, dtype=float) for t in cells.get_data().segments[-1].spiketrains]
    sim.end()
    return dict(simulator=simulator, seed=seed, n=n, duration_ms=duration_ms, build_s=built - started,
                run_s=time.perf_counter() - built, **statistics(trains, duration_ms), trains=trains)


def statistics(trains, duration_ms: float, skip_ms: float = 100.0) -> dict:
    """Mean rate (Hz) and mean coefficient of variation of the inter-spike intervals (neurons
    with at least 3 intervals), after the first ``skip_ms``."""
    kept = [t[t >= skip_ms] for t in trains]
    rate = sum(len(t) for t in kept) / len(kept) / ((duration_ms - skip_ms) / 1000.0)
    cvs = [np.std(np.diff(t)) / np.mean(np.diff(t)) for t in kept if len(t) >= 4]
    return dict(rate_hz=float(rate), cv_isi=float(np.mean(cvs)) if cvs else float("nan"), cv_neurons=len(cvs))


def plot(results, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = {}
    for r in results:
        first.setdefault(r["simulator"], r)
    fig, axes = plt.subplots(len(first), 1, figsize=(8, 2.2 * len(first)), sharex=True, squeeze=False)
    for ax, (name, r) in zip(axes[:, 0], first.items()):
        shown = range(min(400, len(r["trains"])))
        for i in shown:
            ax.plot(r["trains"][i], np.full(len(r["trains"][i]), i), "|", ms=2, color="k")
        ax.set_ylabel(f"pyNN.{name}\nneuron")
        ax.set_title(f"seed {r['seed']}: {r['rate_hz']:.1f} Hz, CV(ISI) {r['cv_isi']:.2f}", fontsize=9)
    axes[-1, 0].set_xlabel("time (ms)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("simulators", nargs="*", default=["nest", "brian2", "neuron"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1])
    parser.add_argument("--quick", action="store_true", help="1000 neurons for 500 ms")
    parser.add_argument("--out", default="tutorial-output", help="directory of the figure")
    parser.add_argument("--json", help="write the statistics to this file")
    args = parser.parse_args(argv)
    size = dict(n=1000, duration_ms=500.0) if args.quick else {}
    results = []
    for simulator in args.simulators:
        for seed in args.seeds:
            print(f"pyNN.{simulator}, seed {seed} ...", flush=True)
            r = cuba(simulator, seed, **size)
            results.append(r)
            print(f"  {r['rate_hz']:.2f} Hz, CV(ISI) {r['cv_isi']:.3f}  (build {r['build_s']:.1f} s, "
                  f"run {r['run_s']:.1f} s)", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot(results, out / "07_cuba.png")
    print(f"figure: {out / '07_cuba.png'}")
    if args.json:
        Path(args.json).write_text(json.dumps([{k: v for k, v in r.items() if k != "trains"} for r in results]))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYNEST_QUIET", "1")
    sys.exit(main())
