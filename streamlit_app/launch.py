"""`python -m streamlit_app.launch run streamlit_app/app.py [options]`: Streamlit's own
command line, after importing what the app imports.

Streamlit imports a script's modules on its first run, that is while the first visitor waits:
polars, DuckDB, scipy.stats, matplotlib (through pipeline.abtest), xgboost (the
Monitoring tab) take about 10 s of CPU on 2 cores. Importing them here, before the server
answers its health check, moves that wait to start-up. Modules stay imported for the life of
the process, so every later session is unaffected either way.

The dashboard's default page is computed here too (streamlit_app.data.prepared): its queries
then run before the server answers, not while the first visitor waits. A warehouse that is not
there yet only skips this; the page says what is wrong when it is opened.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import streamlit_app.data

PRELOAD = (
    "polars",
    "duckdb",
    "pandas",
    "pyarrow",
    "httpx",
    "pipeline.abtest",
    "pipeline.warehouse.duckdb",
    "pipeline.abtest.recorded",
    # Every module of the app's data layer (streamlit_app.data), found by preload_modules().
    # Not streamlit_app.resources nor the tabs: their st.cache_* functions must be made once
    # the runtime exists (made here, they would fall back to a cache outside it).
    "streamlit_app.charts",
    "streamlit_app.monitoring_charts",
)


def preload_modules() -> list[str]:
    data = streamlit_app.data
    return [*PRELOAD, *(f"{data.__name__}.{m.name}" for m in pkgutil.iter_modules(data.__path__))]


def preload() -> None:
    for module in preload_modules():
        importlib.import_module(module)


def prepare_dashboard() -> None:
    from pipeline.settings import get_settings
    from streamlit_app.data import prepared

    try:
        seconds = prepared.prepare(get_settings())
    except Exception as err:  # the page reports it to its visitor, with what to do
        print(f"The dashboard's default page was not prepared: {err}", file=sys.stderr)
        return
    print(f"The dashboard's default page was prepared in {seconds:.2f} s", file=sys.stderr)


def main() -> int:
    preload()
    prepare_dashboard()
    from streamlit.web import cli

    return cli.main(prog_name="streamlit")


if __name__ == "__main__":
    sys.exit(main())
