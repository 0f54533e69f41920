"""`make bench`: run every benchmarks/bench_*.py in turn, each in its own process, and write
their output to the results page (docs/results/benchmarks.md).

`python benchmarks/run_all.py bench_model.py` runs one script (or several) and updates only
their sections of the page.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import results_page

HERE = Path(__file__).resolve().parent

# Order matters: each stage's benchmark leaves full-scale data for the next one.
ORDER = (
    "bench_generate.py",
    "bench_ingest.py",
    "bench_warehouse.py",
    "bench_moments.py",
    "bench_model.py",
)


def all_scripts(folder: Path = HERE) -> list[Path]:
    scripts = [folder / name for name in ORDER if (folder / name).exists()]
    return scripts + sorted(p for p in folder.glob("bench_*.py") if p.name not in ORDER)


def run_one(script: Path, cwd: Path) -> results_page.Result:
    """Run a script, echoing its output as it comes, and keep what it printed."""
    started, t0 = datetime.now(UTC), time.perf_counter()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    lines = []
    with subprocess.Popen(
        [sys.executable, "-u", str(script)],
        cwd=cwd,
        stdout=subprocess.PIPE,  # the figures; progress and warnings (stderr) go to the terminal
        text=True,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
            lines.append(line)
    return results_page.Result(
        script=script.name,
        output="".join(lines),
        returncode=proc.returncode,
        started_at=started,
        seconds=time.perf_counter() - t0,
        load_before=load,
        commit=results_page.commit(),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scripts", nargs="*", help="bench_*.py names to run; default all")
    parser.add_argument("--bench-dir", type=Path, default=HERE, help=argparse.SUPPRESS)
    parser.add_argument("--page", type=Path, default=results_page.PAGE, help="results page")
    args = parser.parse_args(argv)
    known = all_scripts(args.bench_dir)
    if args.scripts:
        unknown = sorted(set(args.scripts) - {p.name for p in known})
        if unknown:
            parser.error(f"no such benchmark: {', '.join(unknown)}")
        scripts = [p for p in known if p.name in args.scripts]
    else:
        scripts = known
    results = []
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        results.append(run_one(script, cwd=args.bench_dir.parent))
        # Written after each script, so an interrupted run keeps what it measured.
        results_page.write(results, [p.name for p in known], args.page)
    failed = [r.script for r in results if r.returncode != 0]
    print(f"\nresults: {args.page}")
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
