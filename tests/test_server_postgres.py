"""The server's store contract against a real PostgreSQL server.

Runs when ``ARTREC_TEST_DATABASE_URL`` names a PostgreSQL database (CI sets it with
``scripts/ci-services.sh``); skipped otherwise. Every test works in a fresh schema of its
own, dropped afterwards.
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")
pytest.importorskip("psycopg")

import sqlalchemy as sa
from fastapi.testclient import TestClient

from artrec.data.catalog import Interactions
from artrec.data.workspace import Workspace
from artrec.errors import ArtrecError
from artrec.server.app import create_app
from artrec.server.settings import Settings
from artrec.server.store import Store
from server_workspace import build_workspace, record_scoring_places

pytestmark = pytest.mark.postgres

BASE_URL = os.environ.get("ARTREC_TEST_DATABASE_URL", "")


#: The admin token of these servers: the tests read and write any user's data (the
#: identity model itself is tested in test_server_identity.py).
ADMIN_TOKEN = "postgres-admin-token-" + uuid.uuid4().hex
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(scope="module")
def base_url() -> str:
    if not BASE_URL.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        pytest.skip("ARTREC_TEST_DATABASE_URL is not set to a PostgreSQL URL")
    return BASE_URL


@pytest.fixture(scope="module")
def template_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = build_workspace(tmp_path_factory.mktemp("pg") / "ws")
    ws = Workspace.open(root)
    ids = ws.catalog().item_ids.tolist()
    ws.add_interactions(
        Interactions(
            ["seed-user"] * 3,
            ids[:3],
            np.array([1.0, 2.0, 3.0]),
            np.array(["purchase", "like", "purchase"], dtype=object),
        )
    )
    ws.set_in_stock([ids[5]], False)
    return root


@pytest.fixture
def workspace(template_ws: Path, tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    shutil.copytree(template_ws, root)
    return root


@pytest.fixture
def pg_url(base_url: str) -> Iterator[str]:
    """A URL whose search_path is a fresh schema (dropped after the test)."""
    schema = f"artrec_t_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(base_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        engine.dispose()


def _count(url: str, table: str) -> int:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar_one())
    finally:
        engine.dispose()


# -- the store --------------------------------------------------------------------------------
def test_first_start_creates_schema_and_copies_the_workspace(workspace: Path, pg_url: str) -> None:
    ws = Workspace.open(workspace)
    catalog = ws.catalog()
    store = Store.open(ws, pg_url)
    try:
        assert store.backend == "postgresql"
        assert _count(pg_url, "items") == catalog.n_items
        assert _count(pg_url, "interactions") == 3
        assert store.user_item_ids("seed-user") == catalog.item_ids[:3].tolist()
        assert store.sold_item_ids() == [catalog.item_ids[5]]
        rec = store.item(catalog.item_ids[0])
        expected = catalog.record(0)
        for key in ("title", "artist", "year", "medium", "museum"):
            assert rec[key] == expected[key]
        assert rec["century"] == str(expected["century"])
        total, page = store.search(limit=10)
        assert total == catalog.n_items
        assert [r["item_id"] for r in page] == catalog.item_ids[:10].tolist()
    finally:
        store.close()
    # a second start copies nothing twice
    again = Store.open(ws, pg_url)
    again.close()
    assert _count(pg_url, "items") == catalog.n_items
    assert _count(pg_url, "interactions") == 3


def test_search_agrees_with_sqlite(workspace: Path, pg_url: str) -> None:
    ws = Workspace.open(workspace)
    pg, lite = Store.open(ws, pg_url), Store.open(ws)
    try:
        for query in (
            {"q": "monet"},
            {"q": "KLIMT"},
            {"q": "%"},
            {"q": "portrait", "century": "17"},
            {"artist": "claude monet"},
            {"century": "19"},
            {"century": "BCE"},
        ):
            assert pg.search(**query, limit=500) == lite.search(**query, limit=500), query
    finally:
        pg.close()
        lite.close()


def test_interactions_and_stock_contract(workspace: Path, pg_url: str) -> None:
    ws = Workspace.open(workspace)
    ids = ws.catalog().item_ids.tolist()
    store = Store.open(ws, pg_url)
    try:
        assert store.add_interaction("u", ids[10], "like") is True
        assert store.add_interaction("u", ids[10], "like") is False
        assert store.add_interaction("u", ids[11], "purchase") is True
        assert store.add_interaction("u", ids[11], "purchase") is True
        assert store.user_item_ids("u") == [ids[10], ids[11]]
        assert store.user_item_ids("u", ("like",)) == [ids[10]]
        assert store.delete_interactions("u", ids[10]) == 1
        assert store.delete_interactions("u", ids[10]) == 0
        assert store.delete_interactions("u", ids[11], None) == 2
        assert store.user_item_ids("u") == []
        store.set_in_stock(ids[12], False)
        assert set(store.sold_item_ids()) == {ids[5], ids[12]}
        store.set_in_stock(ids[5], True)
        assert store.sold_item_ids() == [ids[12]]
        with pytest.raises(ArtrecError, match="ghost"):
            store.set_in_stock("ghost", False)
        with pytest.raises(ArtrecError, match="ghost"):
            store.add_interaction("u", "ghost", "like")
        with pytest.raises(ArtrecError, match="hate"):
            store.add_interaction("u", ids[1], "hate")
    finally:
        store.close()
    # PostgreSQL is the source of truth: the workspace's SQLite is untouched
    assert Workspace.open(workspace).interactions(user_id="u").user_ids.tolist() == []


def test_concurrent_writers_lose_nothing(workspace: Path, pg_url: str) -> None:
    ws = Workspace.open(workspace)
    items = ws.catalog().item_ids.tolist()[:20]
    stores = [Store.open(ws, pg_url), Store.open(ws, pg_url)]
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in items:
                stores[n % 2].add_interaction(f"w{n}", i, "like")
                stores[n % 2].add_interaction(f"w{n}", i, "purchase")
                stores[n % 2].set_in_stock(i, n % 2 == 0)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        for n in range(8):
            assert stores[0].user_item_ids(f"w{n}") == items
        assert _count(pg_url, "interactions") == 3 + 8 * 20 * 2
    finally:
        for s in stores:
            s.close()


def test_bad_database_urls_are_clear_errors(workspace: Path, base_url: str) -> None:
    ws = Workspace.open(workspace)
    with pytest.raises(ArtrecError, match="unsupported database"):
        Store.open(ws, "mysql://u:p@127.0.0.1/db")
    with pytest.raises(ArtrecError, match="cannot parse"):
        Store.open(ws, "not a url")
    with pytest.raises(ArtrecError, match="cannot open database") as info:
        Store.open(ws, "postgresql://artrec:secret-pw@127.0.0.1:1/none")
    assert "secret-pw" not in str(info.value)


# -- the API on PostgreSQL ----------------------------------------------------------------------
def test_api_on_postgres_persists_across_restarts(
    workspace: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """...and every request that reads the database scores in the thread pool, never on the
    event loop (its reads wait on the network)."""
    places = record_scoring_places(monkeypatch)
    settings = Settings(workspace=workspace, database_url=pg_url, admin_token=ADMIN_TOKEN)
    user = f"visitor-{uuid.uuid4().hex[:8]}"
    with TestClient(create_app(settings), headers=ADMIN) as c:
        assert c.get("/health").json()["database"] == "postgresql"
        liked = [i["item_id"] for i in c.get("/items", params={"q": "klimt"}).json()["items"][:3]]
        for i in liked:
            assert c.post(f"/users/{user}/interactions", json={"item_id": i}).status_code == 201
        before = c.get(f"/users/{user}/recommendations", params={"k": 6}).json()
        top = before["results"][0]["item"]["item_id"]
        assert c.patch(f"/items/{top}", json={"in_stock": False}).json()["in_stock"] is False
        after = c.get(f"/users/{user}/recommendations", params={"k": 6}).json()
        assert top not in [r["item"]["item_id"] for r in after["results"]]
        assert all(r["because"]["item"]["item_id"] in liked for r in after["results"])
    with TestClient(create_app(settings), headers=ADMIN) as c:
        again = c.get(f"/users/{user}/recommendations", params={"k": 6}).json()
        assert again["profile"] == liked
        assert again["results"] == after["results"]
        assert c.get(f"/items/{top}").json()["in_stock"] is False
        assert c.delete(f"/users/{user}/interactions/{liked[0]}").json()["deleted"] == 1
        assert c.get(f"/users/{user}/recommendations").json()["profile"] == liked[1:]
        assert c.get(f"/items/{top}/similar").status_code == 200
    assert len(places) == 5 and set(places) == {"thread"}


def test_api_on_postgres_never_gives_500(workspace: Path, pg_url: str) -> None:
    settings = Settings(workspace=workspace, database_url=pg_url, admin_token=ADMIN_TOKEN)
    with TestClient(create_app(settings), headers=ADMIN) as c:
        item = c.get("/items").json()["items"][0]["item_id"]
        urls = [
            "/items/a%00b",
            "/items/a%00b/image",
            "/items/a%00b/similar",
            "/users/a%00b/recommendations",
            "/items?q=a%00b",
            "/items?century=%00",
            "/items?artist=%00",
            "/?q=%00",
            "/artworks/%00",
            "/items?page=999999",
        ]
        for url in urls:
            for method in ("GET", "POST", "PATCH", "DELETE"):
                assert c.request(method, url).status_code < 500, (method, url)
        bodies: list[Any] = [
            {"liked_item_ids": ["\x00"]},
            {"liked_item_ids": [item], "exclude_item_ids": ["\x00"]},
            {"item_id": "\x00"},
            {"item_id": item, "kind": "\x00"},
        ]
        for body in bodies:
            for url in ("/recommendations", "/users/u/interactions"):
                assert c.post(url, json=body).status_code < 500, (url, body)
        assert c.delete(f"/users/u/interactions/{item}?kind=%00").status_code == 422
