"""`ecom warehouse --dry-run`: what each dbt model and test would cost on BigQuery.

dbt compiles the project (no query job runs), then every model and data test goes to BigQuery
as a dry-run job, which reports the bytes the query would process and bills nothing. A model
whose upstream tables are not built yet (a first run) is dry-run with those tables replaced by
their own compiled SQL, so the estimate reads what they would read (marked `via upstream SQL`).
Cost is bytes x the on-demand price per TiB (settings.bq_price_per_tib); BigQuery also bills at
least 10 MiB per table a query references, which small test queries hit. What is priced is the
next `ecom warehouse`: incremental (the window's SQL, pruned to its partitions) when the last
build's record allows it, the full build otherwise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

from pipeline.errors import InputError
from pipeline.settings import Settings
from pipeline.warehouse.build import SCORING_SELECTOR, dbt_vars, run_dbt
from pipeline.warehouse.incremental import BuildPlan, plan_build, project_hash

TIB = 2**40
DRY_RUN_TYPES = ("model", "test")


@dataclass(frozen=True)
class DryRunLine:
    """One node's dry run: the bytes BigQuery would process and what they cost on demand."""

    unique_id: str
    resource_type: str
    bytes_processed: int
    usd: float
    via_upstream_sql: bool

    @property
    def name(self) -> str:
        return self.unique_id.split(".", 2)[-1]


@dataclass(frozen=True)
class DryRun:
    lines: tuple[DryRunLine, ...]
    price_per_tib: float
    plan: BuildPlan | None = None

    @property
    def total_bytes(self) -> int:
        return sum(line.bytes_processed for line in self.lines)

    @property
    def total_usd(self) -> float:
        return sum(line.usd for line in self.lines)


def ordered_nodes(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Compiled models and data tests in dependency order (parents first). Ephemeral models
    are not run on their own (their SQL is inlined into the models that read them)."""
    nodes = {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] in DRY_RUN_TYPES
        and node.get("compiled_code")
        and node["config"].get("materialized") != "ephemeral"
    }
    # Every node's edges, so that a parent not run here still orders its own parents first.
    graph = {
        uid: [p["unique_id"] for p in _relation_parents(node, manifest["nodes"])]
        for uid, node in manifest["nodes"].items()
    }
    return [nodes[uid] for uid in TopologicalSorter(graph).static_order() if uid in nodes]


def _relation_parents(
    node: dict[str, Any], nodes: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """The models a node's SQL names as relations: its parents, and through an ephemeral parent
    (whose SQL dbt inlined as a CTE) that parent's own."""
    found = []
    for parent_id in node.get("depends_on", {}).get("nodes", []):
        parent = nodes.get(parent_id)
        if parent is None or parent["resource_type"] != "model":
            continue
        if parent["config"].get("materialized") == "ephemeral":
            found += _relation_parents(parent, nodes)
        elif parent.get("relation_name"):
            found.append(parent)
    return found


def inline_missing(
    node: dict[str, Any], nodes: dict[str, dict[str, Any]], exists: Any
) -> tuple[str, bool]:
    """The node's SQL with every upstream model that does not exist yet replaced by its own
    compiled SQL (recursively); True when anything was inlined."""
    sql = node["compiled_code"]
    inlined = False
    for parent in _relation_parents(node, nodes):
        if exists(parent["relation_name"]):
            continue
        parent_sql, _ = inline_missing(parent, nodes, exists)
        sql = sql.replace(parent["relation_name"], f"(\n{parent_sql}\n)")
        inlined = True
    return sql, inlined


def dry_run_warehouse(
    settings: Settings, select: str | None = None, *, full_refresh: bool = False
) -> DryRun:
    """Dry-run every model and data test of the next build (`dbt build`'s selection)."""
    if settings.warehouse != "bigquery":
        raise InputError(
            "--dry-run prices BigQuery jobs: set ECOM_WAREHOUSE=bigquery (DuckDB bills nothing)."
        )
    from google.api_core.exceptions import NotFound

    from pipeline.warehouse.bigquery import BigQueryWarehouse

    wh = BigQueryWarehouse(settings)
    plan = plan_build(settings, wh, project_hash(dbt_vars(settings)), full_refresh=full_refresh)
    if plan.mode == "unchanged" and not select:
        return DryRun((), settings.bq_price_per_tib, plan)  # the next build builds nothing
    window = plan.dbt_vars()
    refresh = () if window else ("--full-refresh",)
    # The whole project is compiled (an upstream model's SQL may be inlined), the scoring
    # model excepted: it needs a trained model's vars (`ecom score` builds it).
    result = run_dbt(
        settings, "compile", exclude=SCORING_SELECTOR, extra=refresh, extra_vars=window
    )
    manifest = json.loads((Path(result.target_path) / "manifest.json").read_text())
    if select:  # which nodes the selection names (a second, selected compile)
        result = run_dbt(
            settings,
            "compile",
            select=select,
            exclude=SCORING_SELECTOR,
            extra=refresh,
            extra_vars=window,
        )
    selected = {n.unique_id for n in result.nodes}
    all_nodes = manifest["nodes"]
    known: dict[str, bool] = {}

    def exists(relation_name: str) -> bool:
        if relation_name not in known:
            try:
                wh.client.get_table(relation_name.replace("`", ""))
                known[relation_name] = True
            except NotFound:
                known[relation_name] = False
        return known[relation_name]

    lines = []
    for node in ordered_nodes(manifest):
        if selected and node["unique_id"] not in selected:
            continue
        sql, inlined = inline_missing(node, all_nodes, exists)
        scanned = wh.dry_run_bytes(sql)
        lines.append(
            DryRunLine(
                unique_id=node["unique_id"],
                resource_type=node["resource_type"],
                bytes_processed=scanned,
                usd=scanned / TIB * settings.bq_price_per_tib,
                via_upstream_sql=inlined,
            )
        )
    return DryRun(tuple(lines), settings.bq_price_per_tib, plan)


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.2f} {unit}"
        n /= 1024
    raise AssertionError  # unreachable


__all__ = [
    "DryRun",
    "DryRunLine",
    "dry_run_warehouse",
    "human_bytes",
    "inline_missing",
    "ordered_nodes",
]
