"""Simulation time of each generated NEST model against its NEST built-in equivalent.

    python benchmarks/nest_vs_builtin.py [--n 10000] [--t 1000] [--dt 0.1] [--repeats 5] [--models lif adex]

For each pair of lifbridge.nest.BUILTIN_EQUIVALENTS (lif/iaf_psc_exp, lif_cond/iaf_cond_exp,
adex/aeif_psc_exp, izhikevich/izhikevich, hh/hh_psc_alpha) both populations get the same
N, dt, parameters and input:

* a per-neuron bias current (uniform over the model's ``BIAS_PA`` range, same seed: most
  neurons fire, at different rates);
* spikes through the excitatory and inhibitory ports, as in a network: ``SOURCES``
  parrot neurons relay Poisson trains (``SOURCE_RATE_HZ``); each neuron receives
  ``K_EXC`` excitatory and ``K_INH`` inhibitory connections (fixed in-degree, positive
  and negative weights of ``WEIGHT``), with the same kernel seed on both sides, so both
  populations receive identical spike trains (about 10^7 spikes delivered per
  simulated second for N = 10,000).

Only ``nest.Simulate`` is timed (kernel reset, module install, creation and connection
are not). Each model is simulated ``--repeats`` times, generated and built-in
alternating; the median of each side is reported, wall-clock and CPU time of the
process, with the ratio generated / built-in of both. The CPU-time ratio is the one
checked: on a shared machine other processes inflate wall-clock time but hardly the CPU
time of a single-threaded process. One thread (NEST's default). The generated LIF must
be no slower than 1.25x iaf_psc_exp (exit status 1 otherwise).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

os.environ.setdefault("PYNEST_QUIET", "1")

import lifbridge  # noqa: E402
from lifbridge import nest as lnest  # noqa: E402
from lifbridge.nestml import neuron_name  # noqa: E402

#: bias current range (pA) per model, and the weight of the input spikes: current jumps
#: (pA) for the current-based models, conductance jumps (nS) for lif_cond, voltage jumps
#: (mV) for izhikevich, alpha-current peaks (pA) for hh.
BIAS_PA = {"lif": (300.0, 600.0), "lif_cond": (200.0, 500.0), "adex": (400.0, 900.0),
           "izhikevich": (0.0, 15.0), "hh": (200.0, 800.0)}
WEIGHT = {"lif": 20.0, "lif_cond": 0.5, "adex": 20.0, "izhikevich": 0.5, "hh": 20.0}
SOURCES = 1000
SOURCE_RATE_HZ = 20.0
K_EXC, K_INH = 40, 10
LIF_LIMIT = 1.25


def build_population(nest, model, n, dt_ms, generated, seed=12345):
    """Reset the kernel and create ``n`` neurons (generated or built-in) with their input."""
    nest.ResetKernel()
    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.SetKernelStatus({"resolution": dt_ms, "rng_seed": seed, "local_num_threads": 1})
    equivalent = lnest.BUILTIN_EQUIVALENTS[model.name]
    if generated:
        lnest.install()
        name = neuron_name(model)
        status = lnest.parameter_status(model)
    else:
        name = equivalent.builtin
        status = equivalent.builtin_parameters(model)
    population = nest.Create(name, n)
    population.set(status)
    lo, hi = BIAS_PA[model.name]
    bias = np.random.default_rng(seed).uniform(lo, hi, n)
    population.set(I_e=bias.tolist())
    if SOURCES and (K_EXC or K_INH):
        noise = nest.Create("poisson_generator", params={"rate": SOURCE_RATE_HZ})
        sources = nest.Create("parrot_neuron", SOURCES)
        nest.Connect(noise, sources)
        weight = WEIGHT[model.name]
        for k, sign in ((K_EXC, 1.0), (K_INH, -1.0)):
            if k:
                nest.Connect(sources, population, {"rule": "fixed_indegree", "indegree": k},
                             {"weight": sign * weight, "delay": 1.0})
    recorder = nest.Create("spike_recorder")
    nest.Connect(population, recorder)
    return population, recorder


def time_simulate(nest, model, n, t_ms, dt_ms, generated):
    """(wall-clock s, CPU s, spike count) of one ``nest.Simulate(t_ms)``."""
    _, recorder = build_population(nest, model, n, dt_ms, generated)
    wall, cpu = time.perf_counter(), time.process_time()
    nest.Simulate(t_ms)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu, recorder.get("n_events")   # the recorder sees the population only


def run(models, n, t_ms, dt_ms, repeats, out=sys.stdout):
    """Benchmark ``models``; returns one dict per model (times in s, ratios, spike counts)."""
    import nest

    rows = []
    for name in models:
        model = lifbridge.load(name)
        builtin = lnest.BUILTIN_EQUIVALENTS[name].builtin
        runs = {True: [], False: []}
        time_simulate(nest, model, min(n, 100), 10.0, dt_ms, True)   # warm-up: module load, caches
        for _ in range(repeats):
            for generated in (True, False):
                runs[generated].append(time_simulate(nest, model, n, t_ms, dt_ms, generated))
        med = {side: [statistics.median(r[i] for r in runs[side]) for i in (0, 1)] for side in runs}
        row = {"model": name, "builtin": builtin,
               "wall_generated": med[True][0], "wall_builtin": med[False][0],
               "cpu_generated": med[True][1], "cpu_builtin": med[False][1],
               "ratio_wall": med[True][0] / med[False][0], "ratio_cpu": med[True][1] / med[False][1],
               "spikes_generated": runs[True][-1][2], "spikes_builtin": runs[False][-1][2]}
        rows.append(row)
        print(f"{name:<11} {row['cpu_generated']:7.2f} s  {builtin:<13} {row['cpu_builtin']:7.2f} s  "
              f"CPU ratio {row['ratio_cpu']:5.2f}  (wall {row['wall_generated']:6.2f} / {row['wall_builtin']:6.2f} s"
              f" = {row['ratio_wall']:5.2f})  spikes {row['spikes_generated']} / {row['spikes_builtin']}",
              file=out, flush=True)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10000, help="neurons per population (default 10000)")
    parser.add_argument("--t", type=float, default=1000.0, help="simulated time in ms (default 1000)")
    parser.add_argument("--dt", type=float, default=0.1, help="resolution in ms (default 0.1)")
    parser.add_argument("--repeats", type=int, default=5, help="simulations per model and side (default 5)")
    parser.add_argument("--models", nargs="*", default=list(BIAS_PA),
                        help=f"models to compare (default: {' '.join(BIAS_PA)})")
    args = parser.parse_args(argv)
    import nest

    print(f"NEST {nest.__version__}, N = {args.n}, T = {args.t:g} ms, dt = {args.dt:g} ms, "
          f"median of {args.repeats} nest.Simulate calls, 1 thread")
    print(f"{'generated':<11} {'CPU':>7}    {'built-in':<13} {'CPU':>7}")
    rows = run(args.models, args.n, args.t, args.dt, args.repeats)
    lif = [r for r in rows if r["model"] == "lif"]
    if lif and lif[0]["ratio_cpu"] > LIF_LIMIT:
        print(f"generated lif takes {lif[0]['ratio_cpu']:.2f}x the time of iaf_psc_exp (limit {LIF_LIMIT}x)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
