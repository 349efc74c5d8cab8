"""Backend runners: each simulates a model under a :class:`lifbridge.stimulus.Stimulus`
and returns a plain :class:`lifbridge.stimulus.SimResult`.

Runners are looked up by name and imported only when used, so a missing simulator
affects only its own backend.
"""

from __future__ import annotations

import importlib
import importlib.util

from ..errors import BackendUnavailable

RUNNERS = {"brian2": "lifbridge.runners.brian2", "nest": "lifbridge.runners.nest"}
# The Python package each backend needs, for availability checks and messages.
REQUIRES = {"brian2": ("brian2",), "nest": ("nest", "pynestml")}


def get_runner(backend: str):
    """The runner module of ``backend`` (it has ``simulate(model, stimulus, ...)``)."""
    if backend not in RUNNERS:
        raise BackendUnavailable(f"unknown backend {backend!r}; backends: {', '.join(RUNNERS)}")
    missing = [m for m in REQUIRES[backend] if importlib.util.find_spec(m) is None]
    if missing:
        raise BackendUnavailable(f"backend {backend!r} needs the Python package(s) {', '.join(missing)}; "
                                 f"install them with: pip install 'lifbridge[{backend}]'")
    return importlib.import_module(RUNNERS[backend])


def available_backends():
    """Backends whose simulator is installed."""
    return [b for b in RUNNERS if all(importlib.util.find_spec(m) is not None for m in REQUIRES[b])]
