"""Against the generator's ground truth, and the manifest's own accounting check."""

from __future__ import annotations

import json

import polars as pl
import pytest

from pipeline.errors import DataContractError
from pipeline.ingest import Manifest, ingest

# The generator's malformed kinds and the quarantine reasons they must produce.
KIND_TO_REASON = {
    "wrong_column_count": "wrong_column_count",
    "unparsable_time": "bad_event_time",
    "unparsable_price": "bad_price",
    "unknown_event_type": "unknown_event_type",
    "empty_user_id": "empty_user_id",
}


def test_generated_month_quarantines_exactly_the_malformed_lines(settings):
    generate = pytest.importorskip("pipeline.generate").generate
    (path,) = generate(settings.raw_dir, scale=0.002, months=["2019-Oct"], malformed_share=0.01)
    truth = json.loads(path.with_name("2019-Oct.truth.json").read_text())
    (manifest,) = ingest(settings, ["2019-Oct"])
    expected = sorted(
        (line, KIND_TO_REASON[kind])
        for kind, found in truth["malformed"].items()
        for line in found["lines"]
    )
    quarantine = pl.read_parquet(manifest.quarantine_path)
    assert sorted(quarantine.select("source_line", "reason").iter_rows()) == expected
    assert manifest.rows_read == truth["data_lines"]
    assert manifest.rows_written == truth["valid_lines"]
    assert manifest.duplicate_rows > 0  # the generator repeats rows like the real files
    on_disk = Manifest.read(settings.manifest_dir / "2019-Oct.json")
    assert on_disk == manifest
    # The time range of the rows written: what an incremental warehouse build rebuilds from.
    written = pl.read_parquet(manifest.parts).select("event_time")
    assert manifest.first_event_at == written["event_time"].min().isoformat()
    assert manifest.last_event_at == written["event_time"].max().isoformat()
    assert manifest.first_event_at.startswith("2019-10-01T")


def test_manifests_written_before_the_experiment_field_still_read(tmp_path) -> None:
    """Old manifests have no `experiment`: they were all ingested with the seed's settings."""
    document = good_manifest().model_dump()
    del document["experiment"]
    path = tmp_path / "2019-Oct.json"
    path.write_text(json.dumps(document))
    assert Manifest.read(path).experiment == {
        "key": "checkout",
        "salt": "",
        "uplift_rate": 0.05,
        "start": None,
        "end": None,
        "injection_seed": "ecom-growth-checkout-v2",
    }


def good_manifest() -> Manifest:
    return Manifest(
        month="2019-Oct", month_key="2019-10", source_file="2019-Oct.csv", source_path="x",
        input_bytes=1, input_sha256="0", rows_read=10, rows_written=8, rows_quarantined=2,
        quarantined_by_reason={"bad_price": 2}, rows_injected=1, duplicate_rows=0,
        rows_by_group={"control": 5, "treatment": 3}, injected_by_group={"treatment": 1},
        rows_loaded=8, quarantine_loaded=2, parts=[], quarantine_path="q", batch_size=None, ingested_at="now",
    )  # fmt: skip


@pytest.mark.parametrize(
    "change",
    [
        {"rows_read": 11},
        {"quarantined_by_reason": {"bad_price": 1}},
        {"rows_by_group": {"control": 5, "treatment": 2}},
        {"rows_loaded": 16},
        {"quarantine_loaded": 0},
    ],
)
def test_accounting_mismatches_raise_a_data_contract_error(change):
    good_manifest().check()
    with pytest.raises(DataContractError, match="Row accounting failed"):
        good_manifest().model_copy(update=change).check()
