"""The generated PyNN example script's input and its records (``generate --target pynn|spinnaker``).

The script drives a population with a current step, a light pulse where the model has a
light input, and input spikes through every spike port. The input spikes are drawn here
once, from a fixed seed, on the script's time grid (:func:`input_spike_times`), so that the
same script gives the same input on every simulator, hardware included.

After a run that produced data the script calls :func:`save_records`: the recorded spikes
and membrane potential become a lifbridge report (``report.json`` format, one
:class:`lifbridge.records.RunRecord` whose protocol ``"example"`` holds the whole input in
PyNN's terms). ``lifbridge report RECORDS.json --beside spinnaker.emulated`` then runs the
same input on other lifbridge backends (:mod:`lifbridge.validation.examples`) and shows the
runs side by side, e.g. SpiNNaker hardware next to its emulation.

Nothing here imports a simulator: the script hands over PyNN's neo block.
"""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path

import numpy as np

from ..errors import ParameterError
from ..model import Model
from ..records import Report, RunRecord, write_json
from ..units import parse_unit
from .names import pynn_names

#: The protocol name of an example run in the records.
PROTOCOL = "example"
#: The example's input spikes come from this seed (one stream per spike port).
SEED = 20261204


def input_spike_times(n: int, rate_hz: float, duration_ms: float, dt_ms: float, delay_ms: float,
                      stream: int) -> list:
    """Spike times (ms) for ``n`` neurons: on every grid step k dt with 2 dt <= k dt and
    k dt + ``delay_ms`` < ``duration_ms``, a spike with probability ``rate_hz`` dt (at most one
    per step, so no simulator merges or drops a spike; none before 2 dt, as pyNN.nest sends a
    spike source's spikes one step early through its parrot neurons). ``stream`` picks the random stream
    (the spike port's index); the result is the same on every machine."""
    p = float(rate_hz) * float(dt_ms) * 1e-3
    if not 0.0 < p <= 1.0:
        raise ParameterError(f"input_spike_times: rate {rate_hz:g} Hz at dt = {dt_ms:g} ms gives a spike "
                             f"probability of {p:g} per step; give 0 < rate <= 1/dt")
    grid = np.arange(2, int(np.floor((duration_ms - delay_ms) / dt_ms - 1e-9)) + 1) * dt_ms
    rng = np.random.default_rng([SEED, int(stream)])
    return [np.round(grid[rng.random(grid.size) < p], 6).tolist() for _ in range(int(n))]


def _distribution(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _traces(block, names, model: Model) -> dict:
    """The membrane trace of every recorded neuron, in the model's unit, on the simulator's sample times."""
    item = next((n for n in names.state if n.spec == "V_m"), None) or names.state[0]
    signals = [s for s in [*block.analogsignals, *block.irregularlysampledsignals] if s.name == item.pynn]
    if not signals:
        return {}
    signal = signals[0]
    times = np.asarray(signal.times.rescale("ms").magnitude, float)
    values = np.asarray(signal.magnitude, float) * parse_unit(str(signal.dimensionality)).factor_to(item.spec_unit)
    return {item.spec: {"unit": item.spec_unit.name, "t_ms": np.round(times, 9).tolist(),
                        "neurons": list(range(values.shape[1])), "values": values.T.tolist()}}


def _versions(backend: str) -> dict:
    """The simulator's versions as its backend's runner reports them ({} if it cannot say)."""
    from .. import backends as registry

    try:
        return {k: str(v) for k, v in registry.get(backend).versions().items()}
    except Exception:  # noqa: BLE001 - the versions are a courtesy of the records
        return {}


def _timing(backend: str):
    """The PyNN backend's clock against lifbridge's (its runner's ``TIMING``), or None."""
    from .. import backends as registry

    try:
        return getattr(registry.get(backend).runner_module(), "TIMING", None)
    except Exception:  # noqa: BLE001 - a backend lifbridge has no runner for: times as reported
        return None


def records_of(block, *, model: Model, model_reference: str, simulator: str, dt_ms: float, duration_ms: float,
               parameters: dict, current: dict, light: dict | None, spikes: list) -> Report:
    """The records of one example run (see the module docstring).

    ``block``: the neo segment of the population's recording; ``simulator``: the PyNN backend
    as ``import_simulator`` names it (``spiNNaker``); ``parameters``: what the script gave the
    cell type (PyNN names and units); ``current``: ``{"times_ms", "amplitudes_nA"}``;
    ``light``: ``{"times_ms", "intensities", "unit"}`` or None; ``spikes``: per spike source
    ``{"receptor", "weight" (PyNN's unit and sign, before any conversion by the cell type),
    "delay_ms", "times_ms" (one list per neuron)}``; the records add each source's spike port.

    Spike times are put on lifbridge's clock as the backend's runner does
    (:meth:`lifbridge.pynn.run.Timing.on_lifbridge_clock`: sPyNNaker and pyNN.brian2 label a
    crossing one step early; NEURON's off-grid times go to the next grid point).
    """
    names = pynn_names(model)
    backend = f"{__name__.split('.')[-2]}.{str(simulator).lower()}"   # pyNN.spiNNaker: this package's backend
    timing = _timing(backend)
    trains = [np.round(timing.on_lifbridge_clock(train.rescale("ms").magnitude, dt_ms), 6).tolist()
              if timing is not None else np.round(np.asarray(train.rescale("ms").magnitude, float), 6).tolist()
              for train in block.spiketrains]
    n = len(trains)
    values = {}
    for name, value in parameters.items():
        item = names.by_pynn.get(name)
        if item is None:
            raise ParameterError(f"records: {name!r} is not a parameter of {model.name} in PyNN's names")
        values[item.spec] = f"{float(value) * item.pynn_unit.factor_to(item.spec_unit)!r} {item.spec_unit.name}"
    spikes = [{**source, "port": names.port_of(source["receptor"])} for source in spikes]
    info = {"model_reference": model_reference, "simulator": str(simulator), "parameters_pynn": dict(parameters),
            "parameters": values, "current": current, "light": light, "spikes": spikes,
            "weight_units": {names.receptors[p]: str(getattr(names.weight_units[p], "name", names.weight_units[p]))
                             for p in names.receptors},
            "conductance_based": bool(names.conductance_based)}
    versions = {"lifbridge": _distribution("lifbridge"), **_versions(backend), "python": platform.python_version()}
    run = RunRecord(model=model.name, backend=backend, kind="backend", dt_ms=float(dt_ms),
                    duration_ms=float(duration_ms), protocols={PROTOCOL: {"neurons": list(range(n)), "info": info}},
                    spike_times_ms=trains, traces=_traces(block, names, model), versions=versions)
    config = {"protocols": PROTOCOL, "models": [model.name], "backends": [backend], "quick": False,
              "dt_ms": float(dt_ms), "duration_ms": float(duration_ms)}
    return Report(config=config, versions=versions, runs=[run], checks=[])


def save_records(path, block, **what) -> Path:
    """Write :func:`records_of` ``(block, **what)`` to ``path`` (a report.json file); returns the path."""
    return write_json(Path(path), records_of(block, **what), indent=1)
