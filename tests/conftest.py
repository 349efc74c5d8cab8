"""Shared test fixtures.

Compiled artefacts (NEST modules, Brian2 standalone projects) are cached by content
hash under LIFBRIDGE_CACHE; the tests use the user's cache unless it is set, so a
second run is fast.
"""

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def lif():
    import lifbridge

    return lifbridge.load("lif")
