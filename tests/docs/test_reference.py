"""The reference generators (docs/hooks/) on small stand-ins: output schemas from a module's
OUTPUT_MODELS, settings with aliases, JSON Schema types, escaping, and the page markers."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Literal

import json_schema
import pytest
import reference
import schema_reference
import settings_reference
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

STAND_IN = '''
"""A package that publishes its outputs."""
from typing import Literal
from pydantic import BaseModel, Field


class Group(BaseModel):
    """One arm of the experiment."""

    name: Literal["control", "treatment"]
    users: int = Field(ge=0, description="Users in the arm.")


class SummaryDoc(BaseModel):
    """The summary a run writes."""

    schema_version: str = Field(default="1.0", description="major.minor")
    groups: list[Group]
    note: str | None = None


OUTPUT_MODELS = (SummaryDoc,)
'''


@pytest.fixture
def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "standin_outputs.py").write_text(textwrap.dedent(STAND_IN))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "standin_outputs"
    sys.modules.pop("standin_outputs", None)


def test_output_schemas_page_and_files(stand_in: str) -> None:
    ((module, cls),) = schema_reference.output_models([stand_in])
    assert module == stand_in and cls.__name__ == "SummaryDoc"
    assert schema_reference.file_name(cls) == "summary-doc.schema.json"
    assert json.loads(schema_reference.schema_json(cls)) == cls.model_json_schema()

    page = schema_reference.render([stand_in])
    assert "[summary-doc.schema.json](schemas/summary-doc.schema.json)" in page
    assert "## SummaryDoc {#output-summarydoc}" in page
    # the class's own fields, then its definitions, linked by anchor
    assert "| `groups` | array of [Group](#summarydoc-group) | yes |" in page
    assert "#### Group {#summarydoc-group}" in page
    assert '| `name` | one of `"control"`, `"treatment"` | yes |' in page
    assert "| `users` | integer, &gt;= 0 | yes | Users in the arm. |" in page
    assert 'Default: `"1.0"`.' in page


def test_a_listed_module_without_output_models_fails(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "standin_empty.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match="no OUTPUT_MODELS"):
        schema_reference.output_models(["standin_empty"])
    sys.modules.pop("standin_empty", None)


def test_no_listed_module_says_so() -> None:
    assert "No package lists its output models yet" in schema_reference.render([])


def test_settings_table() -> None:
    from pydantic import AliasChoices

    class Small(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="ECOM_", env_file=".env")
        data_dir: Path = Field(default=Path("data"), description="Root <data_dir>.")
        engine: Literal["duckdb", "bigquery"] = "duckdb"
        api_url: str = Field(
            default="http://127.0.0.1:8000", validation_alias=AliasChoices("API_URL", "api_url")
        )
        key: str | None = None

    table = settings_reference.render(Small)
    assert "| `ECOM_DATA_DIR` | path | `data` | Root &lt;data_dir&gt;. |" in table
    assert "| `ECOM_ENGINE` | `duckdb` or `bigquery` | `duckdb` |" in table
    assert "| `API_URL` | text | `http://127.0.0.1:8000` |" in table
    assert "| `ECOM_KEY` | text (optional) | – |" in table
    assert "A `.env` file in the working directory is read too." in table


def test_the_real_settings_all_have_a_description() -> None:
    """Each setting says what it is for: the reference is only as good as the class."""
    from pipeline.settings import Settings

    assert [n for n, f in Settings.model_fields.items() if not f.description] == []


def test_types_and_escaping() -> None:
    def link(name: str) -> str:
        return f"[{name}](#{name.lower()})"

    schema = {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 10}, {"type": "null"}]}
    assert json_schema.type_text(schema, link) == "integer, >= 0, <= 10 or null"
    assert json_schema.type_text({"$ref": "#/$defs/Group"}, link) == "[Group](#group)"
    assert json_schema.type_text({"type": "array", "items": {"type": "string"}}, link) == (
        "array of string"
    )
    assert json_schema.escape("a <month> | b `x|<y>`") == "a &lt;month&gt; \\| b `x\\|<y>`"


def test_a_page_marker_is_replaced_and_an_unknown_one_fails() -> None:
    page = SimpleNamespace(file=SimpleNamespace(src_uri="reference/x.md"))
    config = SimpleNamespace(extra={"output_models": []})
    out = reference.on_page_markdown(
        "# X\n\n<!-- generated: output-schemas -->\n", page, config, None
    )
    assert "No package lists its output models yet" in out
    assert "<!-- generated" not in out
    with pytest.raises(ValueError, match="no generator named 'nope'"):
        reference.on_page_markdown("<!-- generated: nope -->\n", page, config, None)


def test_model_classes_render_without_defs() -> None:
    class Flat(BaseModel):
        """Flat."""

        n: int

    text = json_schema.definition("Flat", Flat.model_json_schema(), str, level=2)
    assert text.startswith("## Flat\n\nFlat.\n\n| field | type | required | description |")
