"""The pynn.spinnaker backend: lifbridge models as sPyNNaker 7.4.1 cell types in PyNN scripts.

Path of a model: spec -> the spinnaker.emulated backend's table (:mod:`lifbridge.spinnaker.mapping`,
taken through the registry) -> :mod:`lifbridge.pynn.spinnaker` (``cell_type(model,
pyNN.spiNNaker)``: sPyNNaker's own cell type, values translated and checked against the
chip's number format) -> sPyNNaker's mapping toolchain. ``generate --target spinnaker``
writes a PyNN script that runs on pyNN.spiNNaker (and, unchanged, on every other PyNN backend).

Without SpiNNaker hardware, sPyNNaker maps a network onto a virtual board and generates its
data, but nothing runs: recordings come back empty. The runner therefore refuses to report a
virtual board's empty recordings as results; the numbers the hardware would give are the
``spinnaker.emulated`` backend's. On a machine with hardware configured, ``lifbridge validate
--backends pynn.spinnaker`` runs the protocols there (timing conventions from sPyNNaker's C
code, :mod:`lifbridge.runners.pynn_spinnaker`; not checked on hardware by lifbridge's tests).
"""

from __future__ import annotations

from types import MappingProxyType

from .base import APPROXIMATE, UNSUPPORTED, Backend, Capability, Generator, gap_of

NAME = "pynn.spinnaker"


def capability(model, backend=NAME) -> Capability:
    gap = gap_of(model.name, backend)
    if gap is not None:
        return Capability(model.name, backend, UNSUPPORTED, gap.reason)
    from . import get

    try:
        emulated = get("spinnaker.emulated").capability_of(model)
    except Exception as error:  # noqa: BLE001 - the emulation's reason is ours
        return Capability(model.name, backend, UNSUPPORTED, str(error))
    if emulated.support == UNSUPPORTED:
        return Capability(model.name, backend, UNSUPPORTED, emulated.reason)
    from ..pynn.spinnaker import not_shipped

    reason = not_shipped(model)
    if reason:
        return Capability(model.name, backend, UNSUPPORTED, reason)
    return Capability(model.name, backend, APPROXIMATE, f"{emulated.reason}; the error the chip's arithmetic "
                      f"adds is spinnaker.emulated's", emulated.error)


def probe() -> str:
    """What does not work here although sPyNNaker is installed."""
    from ..errors import BackendUnavailable
    from . import get

    try:
        get("spinnaker.emulated").require()
    except BackendUnavailable as error:
        return f"needs the spinnaker.emulated backend's table: {error}"
    try:
        from ..pynn.spinnaker import user_config_files
    except Exception as error:  # noqa: BLE001
        return f"lifbridge.pynn.spinnaker cannot be imported ({error})"
    if not user_config_files():
        return ("no sPyNNaker configuration (~/.spynnaker.cfg): networks map on a virtual board and nothing runs "
                "(lifbridge.pynn.spinnaker.use_virtual_board)")
    return ""


def runs_here() -> str:
    """"" if a SpiNNaker machine is configured (a user configuration without virtual_board), else why not."""
    import configparser

    from ..pynn.spinnaker import user_config_files

    files = user_config_files()
    if not files:
        return "pynn.spinnaker: no sPyNNaker configuration here, so only a virtual board: networks map, nothing runs"
    config = configparser.ConfigParser()
    config.read(files)
    if config.has_option("Machine", "virtual_board") and config.getboolean("Machine", "virtual_board"):
        return f"pynn.spinnaker: {files[0]} selects a virtual board: networks map, nothing runs"
    return ""


BACKEND = Backend(
    name=NAME,
    label="PyNN/SpiNNaker",
    description="sPyNNaker 7.4.1 (pyNN.spiNNaker): lifbridge models as sPyNNaker's own cell types, values checked "
                "against the chip's number format, mapped by sPyNNaker's toolchain",
    packages=(("pyNN", "PyNN"), ("spynnaker", "sPyNNaker")),
    install_hint="pip install 'lifbridge[pynn,spinnaker]'",
    runner="lifbridge.runners.pynn_spinnaker",
    capability=capability,
    generators=MappingProxyType({
        "spinnaker": Generator("lifbridge.pynn.spinnaker:generate_script", "a runnable PyNN script for pyNN.spiNNaker "
                               "(python script.py spiNNaker; also nest|brian2|neuron): the model's sPyNNaker cell "
                               "type, values checked at the time step, mapped on a virtual board without hardware",
                               ".py"),
    }),
    probe=probe,
    runs_here=runs_here,
    color="tab:olive",
    in_full_runs=False,
    modules=("lifbridge.backends.pynn_spinnaker", "lifbridge.pynn.spinnaker", "lifbridge.runners.pynn_spinnaker"),
)
