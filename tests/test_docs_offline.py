"""`/docs` works offline: Swagger UI is served from the package, never from a CDN.

Checked twice: the page's HTML references only local URLs, each answering 200; and a real
chromium, with every request to another host aborted, renders the operations.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")

from fastapi.testclient import TestClient

from _uvicorn import running
from artrec.data.catalog import Catalog
from artrec.data.workspace import Workspace
from artrec.server.app import create_app
from artrec.server.docs_assets import SWAGGER_UI_PATH
from artrec.server.settings import Settings
from artrec.vectors import FeatureSet

CHROMIUM = "/usr/bin/chromium"
_URL = re.compile(r"""(?:src|href)=["']([^"']+)["']|url:\s*["']([^"']+)["']|https?://[^\s"'<>]+""")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = Workspace.create(tmp_path_factory.mktemp("docs") / "ws")
    ids = np.array(["a", "b", "c"], dtype=object)
    ws.upsert_items(Catalog(ids, {"title": np.array(["A", "B", "C"], dtype=object)}))
    rng = np.random.default_rng(0)
    FeatureSet("emb", ids, rng.normal(size=(3, 4)).astype(np.float32)).save(ws.embeddings_dir)
    ws.set_meta("default_embedding", "emb")
    return ws.root


def _references(html: str) -> list[str]:
    out = []
    for match in _URL.finditer(html):
        out.append(match.group(1) or match.group(2) or match.group(0))
    return out


def test_docs_page_references_only_local_urls(workspace: Path) -> None:
    with TestClient(create_app(Settings(workspace=workspace))) as client:
        page = client.get("/docs")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        refs = _references(page.text)
        assert f"{SWAGGER_UI_PATH}/swagger-ui-bundle.js" in refs
        assert f"{SWAGGER_UI_PATH}/swagger-ui.css" in refs
        assert "/openapi.json" in refs
        for ref in refs:
            assert ref.startswith("/") and not ref.startswith("//"), ref
            answer = client.get(ref)
            assert answer.status_code == 200, ref
            assert answer.content, ref
        bundle = client.get(f"{SWAGGER_UI_PATH}/swagger-ui-bundle.js")
        assert "javascript" in bundle.headers["content-type"]
        assert len(bundle.content) > 1_000_000  # the real bundle, not a stub
        assert client.get(f"{SWAGGER_UI_PATH}/LICENSE").status_code == 200
        # exactly one /docs route is left
        docs_routes = [r for r in client.app.router.routes if getattr(r, "path", "") == "/docs"]  # type: ignore[attr-defined]
        assert len(docs_routes) == 1


@pytest.fixture(scope="module")
def server(workspace: Path) -> Iterator[str]:
    pytest.importorskip("uvicorn")
    with running(create_app(Settings(workspace=workspace))) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.mark.browser
def test_docs_render_with_every_other_host_unreachable(server: str, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is missing (scripts/ci-services.sh installs chromium)")
    os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
    blocked: list[str] = []

    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
            ],
        )
        try:
            context.route("**/*", lambda r: _handle(r, server, blocked))
            page = context.new_page()
            page.goto(server + "/docs")
            page.wait_for_selector(".swagger-ui .opblock", timeout=20_000)
            assert page.locator(".swagger-ui .opblock").count() >= 5
            assert "artrec" in page.locator(".swagger-ui .title").inner_text()
        finally:
            context.close()
    assert blocked == []  # the page asked no other host for anything


def _handle(route: Any, server: str, blocked: list[str]) -> None:
    if route.request.url.startswith(server):
        route.continue_()
    else:
        blocked.append(route.request.url)
        route.abort()
