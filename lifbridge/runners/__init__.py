"""Backend runners: each simulates a model under a :class:`lifbridge.stimulus.Stimulus`
and returns a plain :class:`lifbridge.stimulus.SimResult`.

Which runner belongs to which backend, and whether it can run here, is the backend
registry's business (:mod:`lifbridge.backends`); these two functions read it.
"""

from __future__ import annotations


def get_runner(backend: str):
    """The runner module of ``backend`` (it has ``simulate(model, stimulus, ...)``);
    BackendUnavailable (one line, with the install hint) if it cannot run here."""
    from ..backends import require

    return require(backend).runner_module()


def available_backends():
    """Backends that can run here (:func:`lifbridge.backends.available`)."""
    from ..backends import available

    return available()
