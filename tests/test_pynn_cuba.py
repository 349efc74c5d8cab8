"""One PyNN network script, unchanged, on pyNN.nest, pyNN.brian2 and pyNN.neuron.

The Brette et al. (2007) CUBA network of tutorial 7 (4000 lifbridge ``lif`` neurons, 1 s)
runs in one process per simulator. Its statistics (mean rate, mean CV of the inter-spike
intervals) on each simulator must lie within the seed-to-seed spread measured on pyNN.nest
(three seeds: the range of the three, widened by that range on each side).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lifbridge import backends

pytestmark = [pytest.mark.pynn, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parent.parent / "tutorials" / "07_pynn_cuba_three_simulators.py"
SIMULATORS = {"nest": "pynn.nest", "brian2": "pynn.brian2", "neuron": "pynn.neuron"}


def _run(simulator, seeds, tmp_path) -> list:
    backends.require(SIMULATORS[simulator])
    out = tmp_path / f"{simulator}.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), simulator, "--seeds", *map(str, seeds), "--out",
                           str(tmp_path), "--json", str(out)], capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


def test_cuba_network_statistics_agree_on_the_three_pynn_backends(tmp_path):
    nest = _run("nest", [1, 2, 3], tmp_path)
    others = _run("neuron", [1], tmp_path) + _run("brian2", [1], tmp_path)
    for r in nest + others:
        # self-sustained, asynchronous irregular activity, as published (a few Hz, CV near 0.5)
        assert 2.0 < r["rate_hz"] < 20.0 and 0.3 < r["cv_isi"] < 1.2, r
        assert r["cv_neurons"] > 0.25 * r["n"], r   # neurons with 4 spikes or more after 100 ms
    for key in ("rate_hz", "cv_isi"):
        values = [r[key] for r in nest]
        spread = max(values) - min(values)
        assert spread > 0, values
        low, high = min(values) - spread, max(values) + spread
        for r in others:
            assert low <= r[key] <= high, (f"pyNN.{r['simulator']}: {key} {r[key]:.3f} outside pyNN.nest's seed "
                                           f"range {min(values):.3f}..{max(values):.3f} widened to {low:.3f}..{high:.3f}")
