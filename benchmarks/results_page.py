"""The benchmark results page (docs/results/benchmarks.md), rewritten by `make bench`.

One section per benchmark script, between markers, holding the script's own output and when and
where it ran. A run replaces the sections of the scripts it ran and keeps the others, so running
one script alone updates only its section.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PAGE = REPO / "docs" / "results" / "benchmarks.md"
HEADER = """# Benchmark results

The output of each benchmark script, as the latest `make bench` (or
`benchmarks/run_all.py SCRIPT`) printed it: the figures, the targets and whether each was met.
This page is written by `benchmarks/run_all.py`; do not edit the sections by hand. Each script
measures its baselines in the same run, so read the ratios first: the machine's own speed moves
([Performance](../explanation/performance.md) explains the figures).
"""
_SECTION = re.compile(
    r"^<!-- bench:(?P<name>[\w.-]+) -->\n.*?^<!-- /bench:(?P=name) -->\n", re.DOTALL | re.MULTILINE
)


@dataclass(frozen=True)
class Result:
    """One script's run: its name, what it printed, how it ended, and when."""

    script: str
    output: str
    returncode: int
    started_at: datetime
    seconds: float
    load_before: float | None = None
    commit: str | None = None


def shown(path: Path) -> str:
    """A data path as the page may print it: relative to the repository, or under
    $ECOM_DATA_DIR (a page in the repository names no folder of the machine it ran on)."""
    if path.is_relative_to(REPO):
        return str(path.relative_to(REPO))
    return f"$ECOM_DATA_DIR/{path.name}"


def anchor(script: str) -> str:
    """`bench_model.py` -> `bench-model` (the section's link target)."""
    return script.removesuffix(".py").replace("_", "-").lower()


def section(result: Result) -> str:
    """A section: heading, the run's circumstances, the output verbatim."""
    when = result.started_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    facts = [f"Run {when}", f"{os.cpu_count()} CPUs"]
    if result.load_before is not None:
        facts.append(f"load average {result.load_before:.1f} before")
    if result.commit:
        facts.append(f"commit `{result.commit}`")
    facts.append(f"{result.seconds:.0f} s")
    status = (
        "exit code 0" if result.returncode == 0 else f"**failed, exit code {result.returncode}**"
    )
    output = result.output.rstrip("\n").replace("```", "'''") or "(no output)"
    return (
        f"<!-- bench:{result.script} -->\n"
        f"## {result.script} {{#{anchor(result.script)}}}\n\n"
        f"{', '.join(facts)}; {status}.\n\n"
        f"```text\n{output}\n```\n"
        f"<!-- /bench:{result.script} -->\n"
    )


def sections(text: str) -> dict[str, str]:
    """The page's sections by script name, in page order."""
    return {m.group("name"): m.group(0) for m in _SECTION.finditer(text)}


def update(text: str, results: list[Result], order: list[str]) -> str:
    """The page with these results' sections replaced (or added) and every other kept.

    Sections follow `order` (the run order of every script), then any others as they were."""
    current = sections(text)
    current.update({r.script: section(r) for r in results})
    names = [n for n in order if n in current] + [n for n in current if n not in order]
    return HEADER + "".join("\n" + current[n] for n in names)


def write(results: list[Result], order: list[str], page: Path = PAGE) -> Path:
    """Rewrite the page on disk (atomically: a reader sees the old page or the new one)."""
    old = page.read_text(encoding="utf-8") if page.exists() else ""
    page.parent.mkdir(parents=True, exist_ok=True)
    tmp = page.with_suffix(".md.tmp")
    tmp.write_text(update(old, results, order), encoding="utf-8")
    tmp.replace(page)
    return page


def commit() -> str | None:
    """The checked-out commit, short, with `+` when the work tree has changes; None outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
    except OSError:
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+" if dirty.stdout.strip() else "")
