"""Driving the app in-process with Streamlit's AppTest, as a person would: tabs, widgets,
uploads, and what the download buttons hand over."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
import streamlit as st
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from pipeline.settings import REPO_ROOT
from tests.app.conftest import API_KEY, EXPERIMENT_START, TRAIN_THROUGH

APP = REPO_ROOT / "streamlit_app" / "app.py"
TAB_KEY = "tab"


@dataclass(frozen=True)
class Download:
    data: bytes
    file_name: str | None
    mimetype: str


class Downloads:
    """Every file a run handed to a download button, by the button's media id."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.files: dict[str, Download] = {}
        original = MemoryMediaFileStorage.load_and_get_id

        def recording(storage, path_or_data, mimetype, kind, filename=None):
            file_id = original(storage, path_or_data, mimetype, kind, filename)
            data = (
                path_or_data if isinstance(path_or_data, bytes) else Path(path_or_data).read_bytes()
            )
            self.files[file_id] = Download(data, filename, mimetype)
            return file_id

        monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", recording)

    def of(self, button) -> Download:
        """What clicking this download button (an AppTest element) would save."""
        file_id = Path(button.proto.url).stem
        return self.files[file_id]


def open_app(
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
    api_url: str,
    tab: str | None = None,
    query: dict[str, str | list[str]] | None = None,
    **env: str,
) -> AppTest:
    """The app with a fresh environment and empty caches, run once (on `tab` if given), opened
    at a URL with `query` as its query parameters (a shared link)."""
    import os

    for key in list(os.environ):
        if key.startswith("ECOM_") or key == "API_URL":
            monkeypatch.delenv(key)
    monkeypatch.setenv("ECOM_DATA_DIR", str(data_dir))
    monkeypatch.setenv("API_URL", api_url)
    monkeypatch.setenv("ECOM_API_KEY", API_KEY)  # the test API's key, unless env says otherwise
    monkeypatch.setenv("ECOM_EXPERIMENT_START", EXPERIMENT_START.isoformat())
    monkeypatch.setenv("ECOM_TRAIN_THROUGH", TRAIN_THROUGH)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.query_params.update(query or {})
    at = at.run()
    # A tab chosen before the first run sticks for good in AppTest 1.67 (later choices are
    # ignored), so the app opens on its default tab and switches, as a person would.
    return at if tab is None else switch_tab(at, tab)


def switch_tab(at: AppTest, tab: str) -> AppTest:
    at.session_state[TAB_KEY] = tab
    return at.run()


def texts(at: AppTest, kind: str) -> list[str]:
    """The bodies of every element of one kind (error, warning, info, success, caption...)."""
    return [str(e.value) for e in getattr(at, kind)]


def metric(at: AppTest, label: str, index: int = 0) -> str:
    return [m.value for m in at.metric if m.label == label][index]


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]


def tiles(at: AppTest) -> dict[str, list[str]]:
    """Every KPI tile's value by its label, Control's first."""
    found: dict[str, list[str]] = {}
    for m in at.metric:
        found.setdefault(m.label, []).append(m.value)
    return found


def charts(at: AppTest) -> list[tuple[dict, pl.DataFrame]]:
    """Every Vega-Lite chart on the page: its spec and the data it was given."""
    out = []
    for chart in at.get("vega_lite_chart"):
        proto = chart.proto
        data = (
            pl.from_arrow(pa.ipc.open_stream(proto.data.data).read_all())
            if proto.data.data
            else pl.DataFrame()
        )
        out.append((json.loads(proto.spec), data))
    return out


def chart_titled(at: AppTest, words: str) -> tuple[dict, pl.DataFrame]:
    for spec, data in charts(at):
        title = spec.get("title")
        text = title.get("text", "") if isinstance(title, dict) else str(title or "")
        if words.lower() in text.lower():
            return spec, data
    raise AssertionError(f"no chart titled with {words!r}")
