"""``lifbridge generate MODEL --target pynn``: a runnable PyNN example script for a model.

The script runs as ``python script.py nest`` (or ``brian2``, ``neuron``, ``spiNNaker``, every PyNN
backend lifbridge has cell types for, through :func:`lifbridge.pynn.import_simulator`): a population of the model
as a PyNN cell type (:func:`lifbridge.pynn.cell_type`) under a current step
(``StepCurrentSource``), random input spikes through every spike port (drawn from a fixed
seed on the time grid, :func:`lifbridge.pynn.example.input_spike_times`) and, for a model
with a light input, a light pulse (:class:`lifbridge.pynn.LightSource`), recording spikes and
the membrane potential with PyNN's ``record``/``get_data``; a figure saved to a file and the
recordings saved as lifbridge records (:func:`lifbridge.pynn.example.save_records`).

Nothing from the model file reaches the script as code: the model is named by a string
literal (its bundled name, or the path of its file), weights and times are numbers.
"""

from __future__ import annotations

from pathlib import Path

from ..model import Model
from ..spec import models_dir
from .names import pynn_names

#: Input of the example, as the validation's spike-input protocol sizes it: each Poisson
#: spike carries this fraction of the model's f-I range for 1 ms.
CHARGE_FRACTION = 0.05
RATE_HZ = {"excitatory": 2000.0, "inhibitory": 1000.0}


def _model_reference(model: Model) -> str:
    """The argument of ``lifbridge.load`` that gives ``model``: its name if it is bundled
    (a bundled file or a composition of them), else the path of its file."""
    source = Path(model.source)
    try:
        bundled = source.resolve().is_relative_to(models_dir().resolve())
    except (OSError, ValueError):
        bundled = False
    return model.name if bundled or not source.is_file() else str(source.resolve())


def _poisson_inputs(model: Model) -> list:
    """(receptor type, weight in PyNN's unit and sign, rate in Hz) per spike port."""
    from ..validation.protocols import current_range, spike_weight

    names = pynn_names(model)
    lo, hi = current_range(model)
    inputs = []
    for port, receptor in names.receptors.items():
        weight = spike_weight(model, port, CHARGE_FRACTION * (hi - lo)) * \
            model.inputs[port].unit.factor_to(names.weight_units[port])
        if names.conductance_based:
            weight = abs(weight)   # PyNN: conductances are positive on every receptor
        sign = model.spike_inputs[port].sign or "excitatory"
        inputs.append((receptor, float(weight), RATE_HZ[sign]))
    return inputs


#: The highest spike probability per step of the example's input (see :func:`_on_grid`).
MAX_SPIKES_PER_STEP = 0.5


def _on_grid(inputs: list, dt_ms: float) -> list:
    """``inputs`` with each rate at most ``MAX_SPIKES_PER_STEP`` spikes per step and the weight
    scaled up where the rate is lowered, so that the mean input (rate x weight) is unchanged."""
    top = MAX_SPIKES_PER_STEP / (float(dt_ms) * 1e-3)
    return [(receptor, float(weight * rate / min(rate, top)), float(min(rate, top)))
            for receptor, weight, rate in inputs]


def _changed_parameters(model: Model, reference: str) -> dict:
    """PyNN name -> value (PyNN units) of the parameters ``model`` sets differently from the
    model ``reference`` loads (``generate --param``), as numbers."""
    from ..spec import load

    original = load(reference)
    out = {}
    for item in pynn_names(model).parameters:
        value = model.parameters[item.spec].value
        if item.spec not in original.parameters or original.parameters[item.spec].value != value:
            out[item.pynn] = float(value * item.spec_unit.factor_to(item.pynn_unit))
    return out


def _simulators() -> list:
    """The PyNN backends lifbridge has cell types for, as ``import_simulator`` names them."""
    from .. import backends as registry

    package = __name__.split(".")[1]
    return [name.split(".", 1)[1] for name in registry.names() if name.split(".")[0] == package]


def generate_script(model: Model, dt_ms: float = 0.1, default_backend: str | None = None) -> str:
    """The text of the example script for ``model`` (see the module docstring), with time step
    ``dt_ms`` (ms), run on ``default_backend`` (default: the first PyNN backend) when none is named."""
    from ..errors import ParameterError
    from ..validation.protocols import current_range

    steps_per_ms = 1.0 / float(dt_ms) if dt_ms and dt_ms > 0 else float("nan")
    if not (abs(steps_per_ms - round(steps_per_ms)) < 1e-9 and round(steps_per_ms) >= 1):
        raise ParameterError(f"--dt {dt_ms:g} ms: the example's times and delays are whole milliseconds; "
                             f"give a time step that divides 1 ms (1, 0.5, 0.1, ...)")
    default_backend = default_backend or _simulators()[0]
    names = pynn_names(model)
    lo, hi = current_range(model)
    step_nA = float((lo + 0.3 * (hi - lo)) * 1e-3)        # pA -> nA, the unit of PyNN's current sources
    membrane = next((n.pynn for n in names.state if n.spec == "V_m"), None) or names.state[0].pynn
    reference = _model_reference(model)
    inputs = _poisson_inputs(model)
    light = None
    light_lines = []
    if model.light_input is not None:
        from ..validation.protocols import LIGHT_INTENSITY

        unit = model.inputs[model.light_input].unit.name
        light = {"times_ms": [150.0, 450.0], "intensities": [float(LIGHT_INTENSITY), 0.0], "unit": unit}
        light_lines = [f"    # a light pulse of {LIGHT_INTENSITY:g} {unit} from 150 to 450 ms onto the light input",
                       "    LightSource(times=LIGHT['times_ms'], intensities=LIGHT['intensities'], "
                       "unit=LIGHT['unit']).inject_into(cells)"]
    lines = [
        "#!/usr/bin/env python",
        f'"""{model.name} as a PyNN cell type: a population under a current step and random input spikes.',
        "",
        "Generated by `lifbridge generate --target pynn`. Run it with the PyNN backend as argument:",
        "",
        f"    python this_script.py {default_backend}      # or: {', '.join(b for b in _simulators() if b != default_backend)}",
        "",
        "It records spikes and the membrane potential, saves a figure next to the script and the",
        "recordings as lifbridge records (this_script_<backend>.json). The input is the same on every",
        "simulator (its spikes come from a fixed seed), so",
        "",
        "    lifbridge report this_script_<backend>.json --beside spinnaker.emulated nest",
        "",
        "shows this run next to the same input on lifbridge's backends.",
        '"""',
        "",
        "import sys",
        "from pathlib import Path",
        "",
        "import matplotlib",
        "",
        'matplotlib.use("Agg")',
        "import matplotlib.pyplot as plt",
        "",
        "import lifbridge",
        "from lifbridge.pynn import " + ("LightSource, " if light else "")
        + "cell_type, import_simulator, produces_data, setup",
        "from lifbridge.pynn.example import input_spike_times, save_records",
        "",
        f"MODEL_REFERENCE = {reference!r}",
        "MODEL = lifbridge.load(MODEL_REFERENCE)",
        "# parameters that differ from the model's defaults (PyNN names and units)",
        f"PARAMETERS = {_changed_parameters(model, reference)!r}",
        "N = 10",
        "DURATION_MS = 500.0",
        f"DT_MS = {float(dt_ms)!r}",
        "DELAY_MS = 1.0",
        f"# a current step of {step_nA:g} nA from 100 to 400 ms",
        f"CURRENT = {{'times_ms': [100.0, 400.0], 'amplitudes_nA': [{step_nA!r}, 0.0]}}",
        f"LIGHT = {light!r}",
        "# input spikes through every spike port: (receptor type, weight in PyNN's unit, rate in Hz);",
        "# at most one spike per step, so at a coarse step the rate is lower and the weight larger",
        f"INPUTS = {_on_grid(inputs, dt_ms)!r}",
        "",
        "",
        "def main(backend):",
        "    # pyNN.<backend>, made ready (NEURON: PyNN's mechanisms compiled; SpiNNaker: a virtual board",
        "    # when no sPyNNaker configuration exists); setup with lifbridge's recommended settings",
        "    # (NEURON: its variable-step solver)",
        "    sim = import_simulator(backend)",
        "    setup(sim, timestep=DT_MS, min_delay=DT_MS)",
        "    Type = cell_type(MODEL, sim)",
        "    cells = sim.Population(N, Type(**PARAMETERS))",
        "    sim.StepCurrentSource(times=CURRENT['times_ms'], amplitudes=CURRENT['amplitudes_nA']).inject_into(cells)",
        *light_lines,
        "    spikes = []",
        "    for stream, (receptor, weight, rate) in enumerate(INPUTS):",
        "        times = input_spike_times(N, rate, DURATION_MS, DT_MS, DELAY_MS, stream)",
        '        spikes.append({"receptor": receptor, "weight": weight, "delay_ms": DELAY_MS, "times_ms": times})',
        "        # where the simulator reads a weight differently (SpiNNaker's delta and alpha synapses take a",
        "        # charge), the cell type converts it",
        "        if hasattr(Type, 'native_weight'):",
        "            weight = Type.native_weight(receptor, weight, **PARAMETERS)",
        "        source = sim.Population(N, sim.SpikeSourceArray(spike_times=times))",
        "        sim.Projection(source, cells, sim.OneToOneConnector(), sim.StaticSynapse(weight=weight, delay=DELAY_MS),",
        "                       receptor_type=receptor)",
        f'    cells.record(["spikes", {membrane!r}])',
        "    sim.run(DURATION_MS)",
        "    if not produces_data(sim):",
        '        print(f"{MODEL.name} mapped on pyNN.{backend} without hardware (a virtual board): nothing ran, "',
        '              f"so there are no spikes or traces to show")',
        "        sim.end()",
        "        return",
        "    block = cells.get_data().segments[0]",
        "    sim.end()",
        '    records = save_records(Path(__file__).with_name(f"{Path(__file__).stem}_{backend}.json"), block,',
        "                           model=MODEL, model_reference=MODEL_REFERENCE, simulator=backend, dt_ms=DT_MS,",
        "                           duration_ms=DURATION_MS, parameters=PARAMETERS, current=CURRENT, light=LIGHT,",
        "                           spikes=spikes)",
        '    print(f"saved {records}")',
        "    rates = [len(train) / (DURATION_MS / 1000.0) for train in block.spiketrains]",
        '    print(f"{MODEL.name} on pyNN.{backend}: mean rate {sum(rates) / len(rates):.1f} Hz")',
        "    # with NEURON's variable step, PyNN records at the solver's steps: an irregularly sampled signal",
        f"    signal = next(s for s in [*block.analogsignals, *block.irregularlysampledsignals] if s.name == {membrane!r})",
        "    fig, (raster, trace) = plt.subplots(2, 1, sharex=True, figsize=(8, 5))",
        "    for i, train in enumerate(block.spiketrains):",
        '        raster.plot(train.magnitude, [i] * len(train), "|", color="k")',
        '    raster.set_ylabel("neuron")',
        "    trace.plot(signal.times.magnitude, signal.magnitude[:, 0])",
        '    trace.set_xlabel(f"time ({signal.times.dimensionality})")',
        f'    trace.set_ylabel(f"{membrane} ({{signal.dimensionality}})")',
        '    raster.set_title(f"{MODEL.name} on pyNN.{backend}")',
        '    out = Path(__file__).with_name(f"{Path(__file__).stem}_{backend}.png")',
        "    fig.savefig(out, dpi=90)",
        '    print(f"saved {out}")',
        "",
        "",
        'if __name__ == "__main__":',
        f'    main(sys.argv[1] if len(sys.argv) > 1 else {default_backend!r})',
        "",
    ]
    return "\n".join(lines)
