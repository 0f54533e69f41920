"""The app's data layer is plain Python: importing all of it, as the launcher does before the
server starts, loads no Streamlit."""

from __future__ import annotations

import subprocess
import sys

from pipeline.settings import REPO_ROOT
from streamlit_app.launch import preload_modules


def test_the_launcher_preloads_the_data_layer_without_streamlit() -> None:
    data = {m.removeprefix("streamlit_app.data.") for m in preload_modules() if ".data." in m}
    assert {"api_client", "bulk", "filters", "freshness", "metrics", "monitoring"} <= data
    code = (
        "import sys, streamlit_app.launch as launch; launch.preload(); "
        "assert 'streamlit' not in sys.modules, 'streamlit imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)
