"""pynn.neuron runner: one PyNN population of lifbridge's NMODL point process on pyNN.neuron.

The network is built by :func:`lifbridge.pynn.run.simulate` with pyNN.neuron's timing
(:data:`TIMING`, measured against lifbridge's grid convention, tests/test_pynn_neuron.py).
"""

from __future__ import annotations

import functools
import os

from ..model import Model
from ..pynn import run
from ..pynn.names import standard_class
from ..pynn.neuron import cell_type, import_pynn_neuron, retire_earlier_cells
from ..stimulus import SimResult, Stimulus

#: pyNN.neuron's clock against lifbridge's (see :class:`lifbridge.pynn.run.Timing`): NEURON's
#: variable-step solver (CVODE) places spikes between grid points, reported at the next one.
TIMING = run.Timing(spike_source_steps=1, current_steps=0, reported_spike_steps=0, first_current_step=0,
                    spikes_off_grid=True, sampling_stretch=1e-9)

#: NEURON's variable-step, variable-order solver (CVODE, error-controlled like NEST's GSL
#: solvers): its fixed step is implicit Euler, first order, under which the AdEx
#: upswing runs away at dt = 0.1 ms and a 0.2 ms synaptic conductance is 27% off.
SETUP = {"use_cvode": True, "rtol": 1e-8, "atol": 1e-8}


def _cell_type_on_cvode(model, sim, standard=False):
    # the cells of earlier runs would otherwise be integrated along with this run's
    retire_earlier_cells()
    # traces at the grid times (Vector.record with an interval), not at every solver step
    sim.simulator.state.record_sample_times = False
    # NEURON finds a threshold crossing at the end of the solver step that passed it (its
    # interpolating condition_order(2) aborts NEURON 9.0.2 on AdEx: netcvode.cpp:5232), so
    # solver steps are kept to a tenth of the grid step: each spike is at most dt/10 late
    sim.simulator.state.cvode.condition_order(1)
    sim.simulator.state.cvode.maxstep(sim.simulator.state.dt / 10)
    return standard_class(model, sim) if standard else cell_type(model, sim)


def held_neurons(cells) -> dict:
    """Neuron index -> (time, why) for the neurons lifbridge's point process held as runaways.

    Under a runaway the variable-step solver does not fail: a neuron without refractoriness
    fires again at once after each reset, and the solver follows it with ever smaller steps
    without end. The point process holds such a neuron (two spikes within ``lb_storm``, a
    microsecond) and marks it (``lb_diverged``); it is a divergence, not data."""
    out = {}
    for index, cell in enumerate(cells):
        pp = getattr(cell._cell, "pp", None)    # PyNN's standard types have none
        if pp is not None and getattr(pp, "lb_diverged", 0):
            out[index] = (float(pp.lb_diverged_t), "fired again within a microsecond of its last spike, a runaway "
                          "NEURON's solver would follow without end; lifbridge's point process held it")
    return out


def versions():
    import neuron
    import pyNN

    return {"pynn": pyNN.__version__, "neuron": neuron.__version__}


#: Runs per worker process before a fresh one takes over (:func:`simulate`). NEURON's results
#: are not independent of the runs before them in one process: a worker that had run other
#: models gave other CVODE errors (a PSC 1.7e-4 off instead of 1.7e-5) and, in a long
#: validation, "Event arrived out of order" from ParallelContext on some spike-input runs; but
#: one run per process gives that error on HH_cond_exp too and moves one IF_curr_exp spike by
#: a step, so the cause is not the reuse alone (not found yet).
RUNS_PER_WORKER = 20


class _Worker:
    """A Python process that runs :func:`simulate_here` on request: pickled (args, kwargs) in,
    pickled result or exception out, over two pipes of its own (its stdout and stderr are this
    process's, for NEURON's and PyNN's messages)."""

    def __init__(self):
        import subprocess
        import sys

        request_read, self.request = os.pipe()
        self.response, response_write = os.pipe()
        code = f"from {__name__} import serve; serve({request_read}, {response_write})"
        self.process = subprocess.Popen([sys.executable, "-c", code], pass_fds=(request_read, response_write))
        os.close(request_read)
        os.close(response_write)
        self.runs = 0

    def call(self, *args, **kwargs):
        _send(self.request, (args, kwargs))
        self.runs += 1
        ok, value = _receive(self.response)
        if not ok:
            raise value
        return value

    def close(self):
        for fd in (self.request, self.response):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            self.process.wait(timeout=10)
        except Exception:  # noqa: BLE001 - a worker that does not stop is stopped
            self.process.kill()


_WORKER = {"worker": None, "inside": False}


def _send(fd, obj):
    import pickle
    import struct

    data = pickle.dumps(obj)
    os.write(fd, struct.pack("<Q", len(data)))
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _receive(fd):
    import pickle
    import struct

    def read(n):
        chunks, left = [], n
        while left:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    (size,) = struct.unpack("<Q", read(8))
    return pickle.loads(read(size))


def serve(request_fd: int, response_fd: int):
    """The worker's loop (see :class:`_Worker`)."""
    _WORKER["inside"] = True
    while True:
        try:
            args, kwargs = _receive(request_fd)
        except EOFError:
            return
        try:
            _send(response_fd, (True, simulate_here(*args, **kwargs)))
        except Exception as error:  # noqa: BLE001 - the error goes back to the caller
            try:
                _send(response_fd, (False, error))
            except Exception:  # noqa: BLE001 - an error that does not pickle goes back as text
                _send(response_fd, (False, RuntimeError(f"{type(error).__name__}: {error}")))


def simulate(model: Model, stimulus: Stimulus, *, duration_ms: float, dt_ms: float = 0.1, record=(),
             record_neurons=None, standard=False, **overrides) -> SimResult:
    """Simulate ``stimulus.n`` neurons of ``model`` through pyNN.neuron for ``duration_ms``, in a
    worker process (see :func:`simulate_here` for the arguments).

    PyNN 0.13 keeps the cells, sources and connections of every earlier run in NEURON
    (:func:`lifbridge.pynn.neuron.retire_earlier_cells` makes them inert but cannot free them),
    and NEURON's state outlives ``sim.end()``. The runs therefore go to a worker process that
    is replaced every :data:`RUNS_PER_WORKER` runs, so a long validation does not accumulate
    them, and a crash inside NEURON is one run's one-line error instead of the end of the
    process that asked for it."""
    kwargs = dict(duration_ms=duration_ms, dt_ms=dt_ms, record=record, record_neurons=record_neurons,
                  standard=standard, **overrides)
    if _WORKER["inside"]:
        return simulate_here(model, stimulus, **kwargs)
    worker = _WORKER["worker"]
    if worker is None or worker.runs >= RUNS_PER_WORKER or worker.process.poll() is not None:
        if worker is not None:
            worker.close()
        worker = _WORKER["worker"] = _Worker()
    try:
        return worker.call(model, stimulus, **kwargs)
    except (EOFError, BrokenPipeError, OSError):
        worker.close()
        _WORKER["worker"] = None
        code = worker.process.returncode
        raise RuntimeError(f"pynn.neuron: the NEURON worker process stopped while running {model.name} (exit "
                           f"{code}: a crash inside NEURON or PyNN); the next run starts a fresh one") from None


def simulate_here(model: Model, stimulus: Stimulus, *, duration_ms: float, dt_ms: float = 0.1, record=(),
                  record_neurons=None, standard=False, **overrides) -> SimResult:
    """Simulate ``stimulus.n`` neurons of ``model`` through pyNN.neuron for ``duration_ms``, in this process.

    ``overrides``: parameter and initial values (spec names and units, read by
    :func:`lifbridge.overrides.resolve`); ``record``: state variables (spec names; traces in
    spec units); ``standard``: run PyNN's standard type of ``model`` (with ``model``'s values,
    :func:`lifbridge.pynn.names.standard_values`) instead of lifbridge's generated one.
    """
    sim = import_pynn_neuron()
    try:
        types = functools.partial(_cell_type_on_cvode, standard=standard)
        result = run.simulate(sim, "pynn.neuron", types, model, stimulus, duration_ms=duration_ms,
                              dt_ms=dt_ms, timing=TIMING, record=record, record_neurons=record_neurons, setup=SETUP,
                              held=held_neurons, **overrides)
    finally:
        # pyNN.neuron's setup() leaves CVODE on unless told otherwise: the next script gets PyNN's defaults
        sim.simulator.state.cvode.active(0)
        sim.simulator.state.cvode.condition_order(1)
        sim.simulator.state.cvode.maxstep(1e9)
        sim.simulator.state.record_sample_times = False
    result.versions = versions()
    return result
