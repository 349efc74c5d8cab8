"""Wall time of the full ``lifbridge validate`` run, and where it goes.

    python benchmarks/validate_runtime.py [--quick] [--backends brian2 nest] [--out DIR]

Runs the validation once (run it twice for the warm-cache figure: compiled Brian2
code, the NEST module and reference results are cached) and prints the total wall
time, the time each backend and the reference integrator spent per model, and the
ratio of the whole run to the time the backends spent simulating.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--backends", nargs="+")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="lifbridge-bench-"))
    command = [sys.executable, "-m", "lifbridge", "validate", "--out", str(out), "--no-progress"]
    if args.quick:
        command.append("--quick")
    if args.backends:
        command += ["--backends", *args.backends]
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True)
    total = time.perf_counter() - started
    report = json.loads((out / "report.json").read_text())
    per_backend = defaultdict(float)
    print(f"{'model':<16} {'run':<10} {'wall [s]':>9}")
    for run in report["runs"]:
        per_backend[run["backend"]] += run["wall_time_s"]
        print(f"{run['model']:<16} {run['backend']:<10} {run['wall_time_s']:>9.2f}")
    simulated = sum(t for b, t in per_backend.items() if b != "reference")
    print(f"\nvalidate {'--quick ' if args.quick else ''}total: {total:.1f} s (exit code {proc.returncode})")
    for backend, seconds in sorted(per_backend.items()):
        print(f"  {backend:<10} {seconds:8.1f} s")
    print(f"  ratio of the whole run to backend simulation time: {total / max(simulated, 1e-9):.2f}")


if __name__ == "__main__":
    main()
