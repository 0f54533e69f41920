"""The documentation site builds strictly, links nothing outside the repository, and its
generated reference covers the code: every command, setting, endpoint and dbt model."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from pipeline.settings import REPO_ROOT

pytestmark = pytest.mark.slow

DOCS = REPO_ROOT / "docs"
# dbt's own documentation site, copied in as generated: its UI is dbt's, not ours.
THIRD_PARTY = ("reference/dbt-docs/",)
LOOPBACK = {"127.0.0.1", "localhost", "0.0.0.0", "[::1]"}
URL = re.compile(r"\bhttps?://[^\s)>\"'`]+")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in {"href", "src", "action", "poster", "data"} and value:
                self.urls.append(value)


def _html_pages(site: Path) -> list[Path]:
    return [
        p
        for p in site.rglob("*.html")
        if not p.relative_to(site).as_posix().startswith(THIRD_PARTY)
    ]


def test_strict_build_has_no_warning(built_site: tuple[Path, str]) -> None:
    _, output = built_site
    assert "WARNING" not in output, output


def test_every_page_is_in_the_navigation() -> None:
    """(strict mode fails on an omitted page too; this names it plainly.)"""
    config = yaml.load((REPO_ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)

    def pages(nav: object) -> list[str]:
        if isinstance(nav, str):
            return [nav]
        if isinstance(nav, dict):
            return [p for v in nav.values() for p in pages(v)]
        return [p for item in nav for p in pages(item)]

    in_nav = set(pages(config["nav"]))
    on_disk = {
        p.relative_to(DOCS).as_posix()
        for p in DOCS.rglob("*.md")
        if not p.relative_to(DOCS).as_posix().startswith("hooks/")
    }
    assert on_disk - in_nav == set()
    assert in_nav - on_disk == set()


def test_built_pages_load_and_link_nothing_outside(built_site: tuple[Path, str]) -> None:
    site, _ = built_site
    outside = []
    for page in _html_pages(site):
        parser = _Links()
        parser.feed(page.read_text(encoding="utf-8"))
        for url in parser.urls:
            parsed = urlparse(url)
            if (
                parsed.scheme in {"http", "https"} and parsed.hostname not in LOOPBACK
            ) or parsed.scheme not in {"", "http", "https", "data"}:
                outside.append(f"{page.relative_to(site)}: {url}")
    assert outside == []


def test_markdown_cites_nothing_outside_the_repository() -> None:
    """No page, and not the README, names a web address other than loopback."""
    outside = []
    for path in [REPO_ROOT / "README.md", *DOCS.rglob("*.md")]:
        for url in URL.findall(path.read_text(encoding="utf-8")):
            if urlparse(url).hostname not in LOOPBACK:
                outside.append(f"{path.relative_to(REPO_ROOT)}: {url}")
    assert outside == []


def test_the_site_opens_from_the_file_system(built_site: tuple[Path, str]) -> None:
    """Links end in .html (no server needed) and point at files that exist."""
    site, _ = built_site
    broken = []
    for page in _html_pages(site):
        if page.name == "404.html":  # a server's error page: its links are absolute by design
            continue
        parser = _Links()
        parser.feed(page.read_text(encoding="utf-8"))
        for url in parser.urls:
            parsed = urlparse(url)
            if parsed.scheme or not parsed.path:
                continue
            target = (page.parent / parsed.path).resolve()
            if not target.exists() or target.is_dir():
                broken.append(f"{page.relative_to(site)}: {url}")
    assert broken == []


def _text(site: Path, page: str) -> str:
    return (site / page).read_text(encoding="utf-8")


def test_cli_reference_covers_every_command(built_site: tuple[Path, str]) -> None:
    import typer.main

    from pipeline.cli import app

    def walk(command: object, path: str) -> list[str]:
        names = [path]
        for name, sub in getattr(command, "commands", {}).items():
            names += walk(sub, f"{path} {name}")
        return names

    html = _text(built_site[0], "reference/cli.html")
    commands = walk(typer.main.get_command(app), "ecom")
    assert len(commands) > 10
    missing = [c for c in commands if f"<code>{c}</code>" not in html]
    assert missing == []
    assert "BusyError" in html and "<td>7</td>" in html


def test_settings_reference_covers_every_setting(built_site: tuple[Path, str]) -> None:
    from pipeline.settings import Settings

    html = _text(built_site[0], "reference/settings.html")
    missing = [
        name
        for name in Settings.model_fields
        if f"ECOM_{name.upper()}" not in html and name != "api_url"
    ]
    assert missing == []
    assert "API_URL" in html


def test_api_reference_covers_every_endpoint(built_site: tuple[Path, str]) -> None:
    from openapi_reference import load_openapi

    spec = load_openapi()
    html = _text(built_site[0], "reference/api.html")
    for path, item in spec["paths"].items():
        for method in item:
            assert f"{method.upper()} {path}" in html
    for schema in spec["components"]["schemas"]:
        assert f'id="schema-{schema.lower()}"' in html


def test_dbt_reference_and_lineage_site(built_site: tuple[Path, str]) -> None:
    site, _ = built_site
    html = _text(site, "reference/dbt.html")
    models = [p.stem for p in (REPO_ROOT / "dbt" / "models").rglob("*.sql")]
    assert len(models) >= 7
    assert [m for m in models if f'id="{m}"' not in html] == []
    lineage = site / "reference" / "dbt-docs" / "index.html"
    text = lineage.read_text(encoding="utf-8")
    # The static site embeds the manifest (no fetch of manifest.json, so it opens from a file).
    assert "model.ecom_growth.fact_user_sessions" in text
    assert 'href="dbt-docs/index.html"' in html


def test_readme_is_short_and_its_links_resolve() -> None:
    readme = REPO_ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    assert len(text.splitlines()) < 150
    for command in ("make demo", "make test", "make docs"):
        assert command in text
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        assert (REPO_ROOT / target).exists(), target
