"""`make bench` writes its figures to docs/results/benchmarks.md: one section per script, the
scripts that ran replaced, the others kept. Checked on stand-in benchmark scripts (the real ones
take most of an hour at full scale)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import results_page
from pipeline.settings import REPO_ROOT

RUN_ALL = REPO_ROOT / "benchmarks" / "run_all.py"


def _result(script: str, output: str, code: int = 0) -> results_page.Result:
    return results_page.Result(
        script=script,
        output=output,
        returncode=code,
        started_at=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
        seconds=12.3,
        load_before=0.4,
        commit="abc1234",
    )


def test_a_run_replaces_its_sections_and_keeps_the_others() -> None:
    order = ["bench_generate.py", "bench_ingest.py", "bench_api.py"]
    page = results_page.update("", [_result("bench_api.py", "api: 1 req/s\n")], order)
    page = results_page.update(page, [_result("bench_generate.py", "gen: 2 s\n")], order)
    assert list(results_page.sections(page)) == ["bench_generate.py", "bench_api.py"]
    page = results_page.update(page, [_result("bench_api.py", "api: 9 req/s\n", code=1)], order)
    sections = results_page.sections(page)
    assert list(sections) == ["bench_generate.py", "bench_api.py"]
    assert "gen: 2 s" in sections["bench_generate.py"]
    assert "api: 9 req/s" in sections["bench_api.py"] and "1 req/s" not in page
    assert "**failed, exit code 1**" in sections["bench_api.py"]
    assert "## bench_api.py {#bench-api}" in page
    assert "Run 2026-12-01 09:30 UTC" in page and "commit `abc1234`" in page
    assert page.startswith(results_page.HEADER)


def test_the_committed_page_has_a_section_per_benchmark() -> None:
    """The page in docs/ parses, and names every script `make bench` runs."""
    text = results_page.PAGE.read_text(encoding="utf-8")
    scripts = sorted(p.name for p in (REPO_ROOT / "benchmarks").glob("bench_*.py"))
    assert sorted(results_page.sections(text)) == scripts
    assert text.startswith(results_page.HEADER)


def test_run_all_writes_what_each_script_printed(tmp_path: Path) -> None:
    bench = tmp_path / "benchmarks"
    bench.mkdir()
    (bench / "bench_fast.py").write_text('print("fast: 3 rows/s (target >= 2: OK)")\n')
    (bench / "bench_broken.py").write_text('import sys\nprint("broken: half done")\nsys.exit(3)\n')
    page = tmp_path / "results.md"

    def run(*names: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(RUN_ALL), "--bench-dir", str(bench), "--page", str(page), *names],
            capture_output=True,
            text=True,
            timeout=120,
        )

    everything = run()
    assert everything.returncode == 1  # one script failed
    assert "fast: 3 rows/s" in everything.stdout  # echoed as it ran
    sections = results_page.sections(page.read_text())
    assert list(sections) == ["bench_broken.py", "bench_fast.py"]
    assert "broken: half done" in sections["bench_broken.py"]
    assert "failed, exit code 3" in sections["bench_broken.py"]

    (bench / "bench_fast.py").write_text('print("fast: 5 rows/s")\n')
    one = run("bench_fast.py")
    assert one.returncode == 0
    sections = results_page.sections(page.read_text())
    assert "fast: 5 rows/s" in sections["bench_fast.py"]
    assert "broken: half done" in sections["bench_broken.py"]  # not run: kept

    unknown = run("bench_nope.py")
    assert unknown.returncode == 2 and "no such benchmark" in unknown.stderr
