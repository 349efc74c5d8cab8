"""Shared test fixtures.

Compiled artefacts (NEST modules, Brian2 standalone projects) are cached by content
hash under LIFBRIDGE_CACHE; the tests use the user's cache unless it is set, so a
second run is fast.

Backends: every backend of the registry (:mod:`lifbridge.backends`) has a marker of its
name. A test marked with it needs that backend and is skipped, with the registry's
reason, where the backend cannot run. The ``backend`` fixture runs a test body once per
registered backend (marked accordingly), so a newly registered backend gets every
cross-backend test without editing them::

    def test_lif_spikes(backend):          # backend: a lifbridge.backends.Backend
        result = backend.simulate(model, stimulus, duration_ms=100.0)
"""

import os

import pytest

from lifbridge import backends as registry
from lifbridge.errors import BackendUnavailable

os.environ.setdefault("MPLBACKEND", "Agg")


def marker_name(backend: str) -> str:
    """The pytest marker of a backend (a valid identifier: ``pynn.nest`` -> ``pynn_nest``)."""
    return backend.replace(".", "_").replace("-", "_")


def pytest_configure(config):
    for name in registry.names():
        config.addinivalue_line("markers", f"{marker_name(name)}: needs the {name} backend")


def backend_skip_reason(name: str) -> str:
    """"" if backend ``name`` can run here, else the registry's reason (not installed, or installed
    but its runs give no results here)."""
    try:
        return registry.get(name).cannot_run_reason()
    except BackendUnavailable as error:
        return str(error)


def pytest_runtest_setup(item):
    for name in registry.names():
        if item.get_closest_marker(marker_name(name)) is not None:
            reason = registry.get(name).unavailable_reason()
            if reason:
                pytest.skip(reason)


@pytest.fixture(params=[pytest.param(name, marks=getattr(pytest.mark, marker_name(name)), id=name)
                        for name in registry.names()])
def backend(request):
    """Each registered backend in turn (a :class:`lifbridge.backends.Backend`); skipped with
    the registry's reason where it cannot run."""
    reason = backend_skip_reason(request.param)
    if reason:
        pytest.skip(reason)
    return registry.get(request.param)


@pytest.fixture(scope="session")
def lif():
    import lifbridge

    return lifbridge.load("lif")


def skip_unless_supported(backend, model):
    """Skip where ``backend`` declares ``model`` unsupported (its capability, with the reason)."""
    capability = backend.capability_of(model)
    if capability.support == registry.UNSUPPORTED:
        pytest.skip(f"{backend.name}: {capability.reason}")
