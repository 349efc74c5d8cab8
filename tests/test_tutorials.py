"""Every tutorial runs to the end with --quick and saves the figure it promises."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS = Path(__file__).resolve().parent.parent / "tutorials"
FIGURES = {
    "01_lif_brian2_fi.py": "01_lif_fi.png",
    "02_adex_firing_patterns.py": "02_patterns.png",
    "03_nest_generated_vs_builtin.py": "03_nest.png",
    "04_write_your_own_model.py": "04_custom.png",
    "05_noise_and_siegert.py": "05_siegert.png",
    "06_pynn_one_script_two_simulators.py": "06_pynn.png",
    "07_pynn_cuba_three_simulators.py": "07_cuba.png",
    "09_nir_export.py": "09_nir.png",
    "10_brainscales2.py": "10_brainscales2.png",
}


def test_every_tutorial_is_listed():
    assert sorted(p.name for p in TUTORIALS.glob("[0-9]*.py")) == sorted(FIGURES)
    readme = (TUTORIALS / "README.md").read_text()
    assert all(name in readme for name in FIGURES)


@pytest.mark.slow  # each script simulates and draws its figures
@pytest.mark.parametrize("script", sorted(FIGURES))
def test_tutorial_runs_and_saves_its_figure(script, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, str(TUTORIALS / script), "--quick", "--out", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "skipped" not in proc.stdout, proc.stdout[-2000:]
    figure = tmp_path / FIGURES[script]
    assert figure.is_file() and figure.stat().st_size > 10_000
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
