"""Published networks built from lifbridge's models reproduce the published code spike for spike.

Brian2 part: the Brette et al. (2007) CUBA benchmark as Brian2's ``examples/CUBA.py``
defines it (4000 neurons, 3200 excitatory and 800 inhibitory, connection probability
0.02, tau_m 20 ms, synaptic time constants 5 ms and 10 ms, V_t -50 mV, V_r -60 mV,
E_L -49 mV, refractory 5 ms, we = 1.62 mV, wi = -9 mV), typed here by hand, against the
same network made of lifbridge's ``lif`` with the current-based equivalent (weights in
pA = mV * C_m / tau_m, the inhibitory ones negative as NEST and the example give them).
"""

import time

import numpy as np
import pytest

import lifbridge

brian2 = pytest.importorskip("brian2")
# 4,000 neurons for 1 s, built three times
pytestmark = [pytest.mark.brian2, pytest.mark.slow]
from lifbridge import brian2 as lb2  # noqa: E402

# Brette et al. (2007), J Comput Neurosci 23:349, benchmark 2 (CUBA), as in Brian2's examples/CUBA.py
CUBA = dict(N=4000, N_exc=3200, p=0.02, tau_m=20.0, tau_exc=5.0, tau_inh=10.0, V_t=-50.0, V_r=-60.0, E_L=-49.0,
            t_ref=5.0, w_exc=60 * 0.27 / 10, w_inh=-20 * 4.5 / 10)   # times in ms, potentials and weights in mV
C_M = 250.0   # pF; any capacitance gives the same voltage dynamics, the current weights scale with it
SEED = 20071119
DURATION_MS = 1000.0


def cuba_connectivity(seed=SEED):
    """(initial V in mV, (i, j) excitatory, (i, j) inhibitory), drawn once with numpy."""
    rng = np.random.default_rng(seed)
    n, n_exc, p = CUBA["N"], CUBA["N_exc"], CUBA["p"]
    v0 = CUBA["V_r"] + rng.random(n) * (CUBA["V_t"] - CUBA["V_r"])
    pre, post = np.nonzero(rng.random((n, n)) < p)
    exc = pre < n_exc
    return v0, (pre[exc], post[exc]), (pre[~exc], post[~exc])


def cuba_by_hand(v0, exc, inh):
    """Brian2's examples/CUBA.py typed by hand (voltage-based synapses), with lifbridge's
    refractory rule written out: the clamp is released at the grid point t_spike + t_ref,
    as NEST releases it (Brian2's refractory=5*ms releases it one step earlier)."""
    from brian2 import NeuronGroup, Synapses, mV, ms

    namespace = dict(taum=CUBA["tau_m"] * ms, taue=CUBA["tau_exc"] * ms, taui=CUBA["tau_inh"] * ms,
                     Vt=CUBA["V_t"] * mV, Vr=CUBA["V_r"] * mV, El=CUBA["E_L"] * mV, tref=CUBA["t_ref"] * ms,
                     we=CUBA["w_exc"] * mV, wi=CUBA["w_inh"] * mV)
    eqs = """
    dv/dt  = (ge + gi - (v - El))/taum : volt (unless refractory)
    dge/dt = -ge/taue : volt
    dgi/dt = -gi/taui : volt
    """
    P = NeuronGroup(CUBA["N"], eqs, threshold="v >= Vt", reset="v = Vr",
                    refractory="timestep(t - lastspike, dt) <= timestep(tref, dt)", method="exact",
                    namespace=namespace)
    P.v = v0 * mV
    Ce = Synapses(P, P, on_pre="ge += we", namespace=namespace)
    Ci = Synapses(P, P, on_pre="gi += wi", namespace=namespace)
    Ce.connect(i=exc[0], j=exc[1])
    Ci.connect(i=inh[0], j=inh[1])
    return P, [Ce, Ci]


def cuba_from_lif(v0, exc, inh, routed=False):
    """The same network from lifbridge's lif: current weights w_pA = w_mV * C_m / tau_m,
    the inhibitory ones negative (NEST's convention), through lifbridge.brian2.synapses."""
    model = lifbridge.load("lif")
    P = lb2.neuron_group(model, CUBA["N"], C_m=f"{C_M}pF", tau_m=CUBA["tau_m"], E_L=f"{CUBA['E_L']}mV",
                         V_th=CUBA["V_t"], V_reset=CUBA["V_r"], t_ref=CUBA["t_ref"], tau_syn_ex=CUBA["tau_exc"],
                         tau_syn_in=CUBA["tau_inh"], V_m=v0)   # NEST's spellings of tau_syn_exc/inh on purpose
    pA = brian2.pA
    w_exc, w_inh = CUBA["w_exc"] * C_M / CUBA["tau_m"], CUBA["w_inh"] * C_M / CUBA["tau_m"]
    assert w_inh < 0   # -112.5 pA: NEST's sign, as the published wi = -9 mV
    if routed:
        # one Synapses, NEST's receptor 0: each weight goes to the port its sign names
        i = np.concatenate([exc[0], inh[0]])
        j = np.concatenate([exc[1], inh[1]])
        weights = np.concatenate([np.full(len(exc[0]), w_exc), np.full(len(inh[0]), w_inh)]) * pA
        return P, [lb2.synapses(P, P, model, None, weight=weights, connect=dict(i=i, j=j))]
    return P, [lb2.synapses(P, P, model, "exc_spikes", weight=w_exc * pA, connect=dict(i=exc[0], j=exc[1])),
               lb2.synapses(P, P, model, "inh_spikes", weight=w_inh * pA, connect=dict(i=inh[0], j=inh[1]))]


def run_spikes(build, *args, target="numpy", **kwargs):
    brian2.start_scope()
    brian2.set_device("runtime")
    brian2.prefs.codegen.target = target
    brian2.defaultclock.dt = 0.1 * brian2.ms
    group, synapses = build(*args, **kwargs)
    monitor = brian2.SpikeMonitor(group)
    brian2.Network(group, *synapses, monitor).run(DURATION_MS * brian2.ms, namespace={})
    return np.asarray(monitor.i), np.asarray(monitor.t / brian2.ms)


def test_brian2_cuba_from_lif_matches_the_published_network_spike_for_spike():
    """Identical spike trains (neuron and time of every spike) over 1 s, N = 4000."""
    started = time.perf_counter()
    v0, exc, inh = cuba_connectivity()
    reference = run_spikes(cuba_by_hand, v0, exc, inh)
    # the published network's activity (Brette et al. 2007: a few Hz, asynchronous)
    rate = len(reference[0]) / CUBA["N"] / (DURATION_MS / 1000.0)
    assert 2.0 < rate < 20.0, rate
    # 20,760 spikes with this seed; two ports in numpy, routing by sign in cython
    for routed, target in ((False, "numpy"), (True, "cython")):
        spikes = run_spikes(cuba_from_lif, v0, exc, inh, routed=routed, target=target)
        assert len(spikes[0]) == len(reference[0]), (routed, len(spikes[0]), len(reference[0]))
        assert np.array_equal(spikes[0], reference[0]) and np.allclose(spikes[1], reference[1], atol=1e-9), routed
    assert time.perf_counter() - started < 120.0
