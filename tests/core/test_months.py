"""One rule for a month's key (pipeline.settings.month_key), whoever asks: the training window,
the drift slices, the readout's filters and ingestion's partitions."""

from __future__ import annotations

import pytest

from pipeline.errors import InputError
from pipeline.ingest.sources import known_month, month_bounds
from pipeline.settings import MONTHS, month_key


def test_both_spellings_give_the_partition_key() -> None:
    assert month_key("2020-Feb") == month_key("2020-02") == "2020-02"
    assert [month_key(m) for m in MONTHS] == ["2019-10", "2019-11", "2019-12", "2020-01", "2020-02"]
    with pytest.raises(ValueError, match="not a month"):
        month_key("2020-13")


def test_ingestion_reads_only_the_data_sets_file_names_and_keys_them_by_the_same_rule() -> None:
    for month in MONTHS:
        assert known_month(month) == month
        assert month_bounds(month)[0].strftime("%Y-%m") == month_key(month)
    for other in ("2019-oct", "2019-10", "October"):
        with pytest.raises(InputError, match="Unknown month"):
            known_month(other)
