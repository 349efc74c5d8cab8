"""Simulation time of lifbridge's Brian2 groups against the same model written by hand in Brian2.

    python benchmarks/brian2_vs_handwritten.py [--n 10000] [--t 1000] [--target cython] [--repeats 3]

Both groups get the same N, dt, method and bias currents; only ``run()`` is timed
(code generation and compilation happen in an untimed warm-up run). Prints the median
times and the ratio generated / handwritten (1.0 = no overhead).
"""

import argparse
import statistics
import time

import numpy as np

HANDWRITTEN = {
    "lif": dict(
        model="""
        dV_m/dt = -(V_m - E_L)/tau_m + (I_syn_exc - I_syn_inh + I_e + I_stim)/C_m : volt (unless refractory)
        dI_syn_exc/dt = -I_syn_exc/tau_syn_exc : amp
        dI_syn_inh/dt = -I_syn_inh/tau_syn_inh : amp
        I_stim : amp
        I_e : amp (constant)
        """,
        threshold="V_m >= V_th", reset="V_m = V_reset", refractory="t_ref", method="exact",
        namespace=lambda b: dict(C_m=250 * b.pF, tau_m=10 * b.ms, E_L=-70 * b.mV, V_th=-55 * b.mV,
                                 V_reset=-70 * b.mV, t_ref=2 * b.ms, tau_syn_exc=2 * b.ms, tau_syn_inh=2 * b.ms),
        init={"V_m": -70e-3}, current_pA=(0.0, 2000.0)),
    "adex": dict(
        model="""
        dV_m/dt = (-g_L*(V_m - E_L) + g_L*Delta_T*exp((clip(V_m, -inf*volt, V_peak) - V_th)/Delta_T) - w
                   + I_syn_exc - I_syn_inh + I_e + I_stim)/C_m : volt (unless refractory)
        dw/dt = (a*(clip(V_m, -inf*volt, V_peak) - E_L) - w)/tau_w : amp
        dI_syn_exc/dt = -I_syn_exc/tau_syn_exc : amp
        dI_syn_inh/dt = -I_syn_inh/tau_syn_inh : amp
        I_stim : amp
        I_e : amp (constant)
        """,
        threshold="V_m >= V_peak", reset="V_m = V_reset; w += b", refractory="t_ref", method="rk4",
        namespace=lambda b: dict(C_m=281 * b.pF, g_L=30 * b.nS, E_L=-70.6 * b.mV, V_th=-50.4 * b.mV,
                                 Delta_T=2 * b.mV, V_peak=0 * b.mV, V_reset=-60 * b.mV, t_ref=0 * b.ms,
                                 a=4 * b.nS, b=80.5 * b.pA, tau_w=144 * b.ms, tau_syn_exc=0.2 * b.ms,
                                 tau_syn_inh=2 * b.ms),
        init={"V_m": -70.6e-3}, current_pA=(0.0, 3000.0)),
}


def timed_run(make_group, n, duration_ms, repeats, brian2):
    times = []
    for k in range(repeats + 1):
        brian2.start_scope()
        group = make_group(n)
        net = brian2.Network(group, brian2.SpikeMonitor(group))
        started = time.perf_counter()
        net.run(duration_ms * brian2.ms)
        if k:  # the first run includes code generation and compilation
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--t", type=float, default=1000.0, help="simulated time (ms)")
    parser.add_argument("--target", default="cython", choices=("numpy", "cython"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=list(HANDWRITTEN))
    args = parser.parse_args()

    import brian2

    import lifbridge
    from lifbridge.brian2 import neuron_group

    brian2.prefs.codegen.target = args.target
    brian2.defaultclock.dt = 0.1 * brian2.ms
    print(f"Brian2 {brian2.__version__}, target {args.target}, N = {args.n}, {args.t:g} ms, dt = 0.1 ms, "
          f"median of {args.repeats}")
    print(f"{'model':<8} {'handwritten [s]':>16} {'lifbridge [s]':>14} {'ratio':>7}")
    for name in args.models:
        spec = HANDWRITTEN[name]
        currents = np.linspace(*spec["current_pA"], args.n) * brian2.pA

        def handwritten(n, spec=spec, currents=currents):
            group = brian2.NeuronGroup(n, spec["model"], threshold=spec["threshold"], reset=spec["reset"],
                                       refractory=spec["refractory"], method=spec["method"],
                                       namespace=spec["namespace"](brian2))
            for var, value in spec["init"].items():
                setattr(group, var, value * brian2.volt)
            group.I_e = currents
            return group

        def generated(n, name=name, currents=currents):
            group = neuron_group(lifbridge.load(name), n)
            group.I_e = currents
            return group

        t_hand = timed_run(handwritten, args.n, args.t, args.repeats, brian2)
        t_gen = timed_run(generated, args.n, args.t, args.repeats, brian2)
        print(f"{name:<8} {t_hand:>16.3f} {t_gen:>14.3f} {t_gen / t_hand:>7.2f}")


if __name__ == "__main__":
    main()
