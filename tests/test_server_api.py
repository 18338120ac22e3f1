"""The REST API through FastAPI's TestClient, on a real workspace of public-art paintings.

Known answers come from the dataset file (metadata, search results) and from slow numpy
references computed on the stored embedding (similar items, the notebook's sum-of-distances
ranking, the reason of each recommendation).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")

from fastapi.testclient import TestClient

from artrec.server.app import create_app
from artrec.server.settings import Settings
from server_workspace import EMBEDDING, build_workspace, dataset_dir


# -- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_workspace(tmp_path_factory.mktemp("server") / "ws")


#: The admin token of the test server; ``client`` sends it, so the functional tests below
#: may read and write any user's data (the identity model has its own tests).
ADMIN_TOKEN = "test-admin-token-" + uuid.uuid4().hex
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(scope="module")
def settings(workspace: Path) -> Settings:
    return Settings(
        workspace=workspace,
        max_k=50,
        max_page_size=40,
        max_body_bytes=4096,
        admin_token=ADMIN_TOKEN,
        max_writes_per_minute=0,
    )


@pytest.fixture(scope="module")
def app(settings: Settings) -> Any:
    return create_app(settings)


@pytest.fixture(scope="module")
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app, headers=ADMIN) as c:
        yield c


@pytest.fixture(scope="module")
def records() -> dict[str, dict[str, Any]]:
    data = json.loads((dataset_dir() / "data.json").read_text())
    return {r["i"]: r for r in data}


@pytest.fixture(scope="module")
def embedding(workspace: Path) -> tuple[list[str], np.ndarray]:
    from artrec.vectors import FeatureSet

    fs = FeatureSet.load(workspace / "embeddings", EMBEDDING, mmap=False)
    return fs.item_ids.tolist(), np.asarray(fs.matrix, dtype=np.float64)


def _user() -> str:
    return f"user-{uuid.uuid4().hex[:12]}"


def _visit(visitor: TestClient) -> tuple[str, str]:
    """Open the gallery as a new visitor; their user id and CSRF token, from the page."""
    import re

    page = visitor.get("/").text
    uid = re.search(r'data-user-id="([^"]+)"', page)
    csrf = re.search(r'data-csrf-token="([^"]+)"', page)
    assert uid is not None and csrf is not None
    return uid.group(1), csrf.group(1)


def _ids(client: TestClient, **params: Any) -> list[str]:
    res = client.get("/items", params={"per_page": 40, **params})
    assert res.status_code == 200, res.text
    return [i["item_id"] for i in res.json()["items"]]


def _cosine(m: np.ndarray) -> np.ndarray:
    n = m / np.linalg.norm(m, axis=1, keepdims=True)
    return n @ n.T


# -- health, docs -------------------------------------------------------------------------------
def test_health_reports_catalogue_and_store(client: TestClient, workspace: Path) -> None:
    res = client.get("/health")
    assert res.status_code == 200
    body = res.json()
    n = sqlite3.connect(workspace / "artrec.db").execute("SELECT COUNT(*) FROM items").fetchone()[0]
    assert body == {
        "status": "ok",
        "items": n,
        "embedding": EMBEDDING,
        "embeddings": [EMBEDDING],
        "database": "sqlite",
        "database_ok": True,
        "model": None,  # no chosen model in this workspace: VisRank answers
    }


def test_openapi_documents_every_endpoint(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths) >= {
        "/health",
        "/items",
        "/items/{item_id}",
        "/items/{item_id}/image",
        "/items/{item_id}/similar",
        "/users/{user_id}/recommendations",
        "/recommendations",
        "/users/{user_id}/interactions",
        "/users/{user_id}/interactions/{item_id}",
    }
    assert "patch" in paths["/items/{item_id}"]
    assert "delete" in paths["/users/{user_id}/interactions/{item_id}"]


# -- items --------------------------------------------------------------------------------------
def test_items_pages_cover_the_catalogue_in_order(client: TestClient, workspace: Path) -> None:
    con = sqlite3.connect(workspace / "artrec.db")
    expected = [r[0] for r in con.execute("SELECT item_id FROM items ORDER BY row")]
    first = client.get("/items", params={"per_page": 40}).json()
    assert first["total"] == len(expected)
    assert first["pages"] == -(-len(expected) // 40)
    seen: list[str] = []
    for page in range(1, first["pages"] + 1):
        seen += _ids(client, page=page)
    assert seen == expected
    assert _ids(client, page=first["pages"] + 5) == []


def test_per_page_is_capped(client: TestClient) -> None:
    body = client.get("/items", params={"per_page": 10_000}).json()
    assert body["per_page"] == 40 and len(body["items"]) == 40


def test_search_matches_title_or_artist_case_insensitively(
    client: TestClient, records: dict[str, dict[str, Any]], workspace: Path
) -> None:
    con = sqlite3.connect(workspace / "artrec.db")
    ids = [r[0] for r in con.execute("SELECT item_id FROM items ORDER BY row")]
    for q in ("monet", "KLIMT", "portrait", "the"):
        expected = [
            i
            for i in ids
            if q.lower() in (records[i].get("t") or "").lower()
            or q.lower() in (records[i].get("a") or "").lower()
        ]
        body = client.get("/items", params={"q": q, "per_page": 40}).json()
        assert body["total"] == len(expected), q
        assert [x["item_id"] for x in body["items"]] == expected[:40], q
    padded = client.get("/items", params={"q": "  Monet "}).json()
    assert padded["total"] == client.get("/items", params={"q": "monet"}).json()["total"]
    # LIKE wildcards are matched literally
    assert client.get("/items", params={"q": "%"}).json()["total"] == sum(
        "%" in (records[i].get("t") or "") + (records[i].get("a") or "") for i in ids
    )
    assert client.get("/items", params={"q": "_"}).json()["total"] == sum(
        "_" in (records[i].get("t") or "") + (records[i].get("a") or "") for i in ids
    )


def test_artist_and_century_filters(
    client: TestClient, records: dict[str, dict[str, Any]], workspace: Path
) -> None:
    con = sqlite3.connect(workspace / "artrec.db")
    ids = [r[0] for r in con.execute("SELECT item_id FROM items ORDER BY row")]
    monet = [i for i in ids if records[i].get("a") == "Claude Monet"]
    assert len(monet) >= 20
    body = client.get("/items", params={"artist": "claude monet", "per_page": 40}).json()
    assert [x["item_id"] for x in body["items"]] == monet
    c19 = [i for i in ids if records[i].get("cn") == 19]
    body = client.get("/items", params={"century": "19", "per_page": 40}).json()
    assert body["total"] == len(c19)
    assert all(x["century"] == "19" for x in body["items"])
    both = [i for i in monet if records[i].get("cn") == 20]
    body = client.get("/items", params={"artist": "Claude Monet", "century": "20"}).json()
    assert [x["item_id"] for x in body["items"]] == both
    assert client.get("/items", params={"artist": "Nobody At All"}).json()["total"] == 0


def test_get_item_returns_the_dataset_record(
    client: TestClient, records: dict[str, dict[str, Any]]
) -> None:
    item_id = _ids(client, artist="Gustav Klimt")[0]
    rec = records[item_id]
    body = client.get(f"/items/{item_id}").json()
    assert body["item_id"] == item_id
    assert body["title"] == rec["t"]
    assert body["artist"] == rec["a"]
    assert body["year"] == rec.get("y")
    assert body["century"] == str(rec["cn"])
    assert body["in_stock"] is True
    assert body["image_url"] == f"/items/{item_id}/image"
    assert body["extra"]["image_url"] == rec["img"]
    assert "image" not in body  # local paths are never exposed


def test_unknown_item_is_404_naming_it(client: TestClient) -> None:
    for path in ("/items/no-such-item", "/items/no-such-item/similar", "/items/no-such-item/image"):
        res = client.get(path)
        assert res.status_code == 404, path
        assert "no-such-item" in res.json()["detail"]


# -- images -------------------------------------------------------------------------------------
def test_image_is_the_thumbnail_file(client: TestClient) -> None:
    item_id = _ids(client)[3]
    res = client.get(f"/items/{item_id}/image")
    assert res.status_code == 200
    assert res.headers["content-type"] == "image/jpeg"
    assert res.content == (dataset_dir() / "thumbnails" / f"{item_id}.jpg").read_bytes()


@pytest.mark.parametrize(
    ("location", "status"),
    [
        ("/etc/passwd", 404),
        ("/etc/hostname.jpg", 404),
        ("images/../../../../etc/passwd", 404),
        ("artrec.db", 404),
        ("file:///etc/passwd", 404),
        ("https://example.org/painting.jpg", 307),
        (None, 404),
    ],
)
def test_image_outside_the_image_store_is_refused(
    client: TestClient, workspace: Path, location: str | None, status: int
) -> None:
    item_id = _ids(client)[5]
    con = sqlite3.connect(workspace / "artrec.db")
    (old,) = con.execute("SELECT image FROM items WHERE item_id = ?", (item_id,)).fetchone()
    with con:
        con.execute("UPDATE items SET image = ? WHERE item_id = ?", (location, item_id))
    try:
        res = client.get(f"/items/{item_id}/image", follow_redirects=False)
        assert res.status_code == status
        if status == 307:
            assert res.headers["location"] == location
    finally:
        with con:
            con.execute("UPDATE items SET image = ? WHERE item_id = ?", (old, item_id))


def test_image_symlink_leaving_the_store_is_refused(client: TestClient, workspace: Path) -> None:
    item_id = _ids(client)[6]
    link = workspace / "images" / "escape.jpg"
    link.symlink_to("/etc/passwd")
    con = sqlite3.connect(workspace / "artrec.db")
    (old,) = con.execute("SELECT image FROM items WHERE item_id = ?", (item_id,)).fetchone()
    with con:
        con.execute("UPDATE items SET image = ? WHERE item_id = ?", (str(link), item_id))
    try:
        assert client.get(f"/items/{item_id}/image").status_code == 404
    finally:
        with con:
            con.execute("UPDATE items SET image = ? WHERE item_id = ?", (old, item_id))
        link.unlink()


# -- similar items ------------------------------------------------------------------------------
def test_similar_equals_a_slow_cosine_reference(
    client: TestClient, embedding: tuple[list[str], np.ndarray]
) -> None:
    ids, m = embedding
    sims = _cosine(m)
    for q in (0, 17, len(ids) - 1):
        res = client.get(f"/items/{ids[q]}/similar", params={"k": 7})
        assert res.status_code == 200, res.text
        body = res.json()
        got = [r["item"]["item_id"] for r in body["results"]]
        scores = [r["score"] for r in body["results"]]
        order = sorted((j for j in range(len(ids)) if j != q), key=lambda j: (-sims[q, j], j))[:7]
        assert got == [ids[j] for j in order]
        assert scores == pytest.approx([sims[q, j] for j in order], abs=1e-5)
        assert ids[q] not in got
        assert body["metric"] == "cosine" and body["embedding"] == EMBEDDING and body["k"] == 7


def test_similar_euclidean_scores_are_negated_distances(
    client: TestClient, embedding: tuple[list[str], np.ndarray]
) -> None:
    ids, m = embedding
    dist = np.linalg.norm(m[:, None, :] - m[None, 4, :], axis=2)[:, 0]
    body = client.get(f"/items/{ids[4]}/similar", params={"k": 3, "metric": "euclidean"}).json()
    order = sorted((j for j in range(len(ids)) if j != 4), key=lambda j: (dist[j], j))[:3]
    assert [r["item"]["item_id"] for r in body["results"]] == [ids[j] for j in order]
    assert [r["score"] for r in body["results"]] == pytest.approx(
        [-dist[j] for j in order], abs=1e-4
    )


def test_similar_k_is_capped_and_validated(
    client: TestClient, embedding: tuple[list[str], np.ndarray]
) -> None:
    ids, _ = embedding
    body = client.get(f"/items/{ids[0]}/similar", params={"k": 10**9}).json()
    assert body["k"] == 50 and len(body["results"]) == 50
    for params, word in (
        ({"k": 0}, "k"),
        ({"k": -3}, "k"),
        ({"k": "many"}, "k"),
        ({"metric": "telepathy"}, "telepathy"),
    ):
        res = client.get(f"/items/{ids[0]}/similar", params=params)
        assert res.status_code == 422, params
        assert word in res.json()["detail"]
    # an embedding is a resource: an unknown one is 404, naming it and the known ones
    res = client.get(f"/items/{ids[0]}/similar", params={"embedding": "nope"})
    assert res.status_code == 404 and "'nope'" in res.json()["detail"]
    assert EMBEDDING in res.json()["detail"]


# -- recommendations ----------------------------------------------------------------------------
def _reference_ranking(
    ids: list[str],
    m: np.ndarray,
    liked: list[str],
    k: int,
    sold: set[str] = frozenset(),  # type: ignore[assignment]
) -> list[tuple[str, str, float]]:
    """The notebook's ranking: sum of cosine distances to the profile, ascending."""
    sims = _cosine(m)
    rows = [ids.index(i) for i in liked]
    total = np.array([sum(1.0 - sims[j, p] for p in rows) for j in range(len(ids))])
    cands = [j for j in range(len(ids)) if j not in rows and ids[j] not in sold]
    order = sorted(cands, key=lambda j: (total[j], j))[:k]
    out = []
    for j in order:
        best = max(rows, key=lambda p: (sims[j, p], -rows.index(p)))
        out.append((ids[j], ids[best], float(sims[j, best])))
    return out


def test_post_recommendations_matches_the_notebook_ranking_with_reasons(
    client: TestClient, embedding: tuple[list[str], np.ndarray]
) -> None:
    ids, m = embedding
    liked = _ids(client, artist="Claude Monet")[:3]
    res = client.post("/recommendations", json={"liked_item_ids": liked, "k": 12})
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["profile"] == liked and body["aggregation"] == "sum_distance"
    expected = _reference_ranking(ids, m, liked, 12)
    assert [r["item"]["item_id"] for r in body["results"]] == [e[0] for e in expected]
    titles = {i: client.get(f"/items/{i}").json()["title"] for i in liked}
    for r, (_, because, score) in zip(body["results"], expected, strict=True):
        assert r["item"]["item_id"] not in liked
        assert r["because"]["item"]["item_id"] == because
        assert r["because"]["item"]["title"] == titles[because]
        assert r["because"]["score"] == pytest.approx(score, abs=1e-4)
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)


def test_diversified_recommendations_keep_the_contract(
    client: TestClient, embedding: tuple[list[str], np.ndarray]
) -> None:
    liked = _ids(client, artist="Gustav Klimt")[:4]
    plain = client.post("/recommendations", json={"liked_item_ids": liked, "k": 10}).json()
    lam1 = client.post(
        "/recommendations", json={"liked_item_ids": liked, "k": 10, "diversify": 1.0}
    ).json()
    # lambda = 1 is pure relevance: the same list
    assert [r["item"]["item_id"] for r in lam1["results"]] == [
        r["item"]["item_id"] for r in plain["results"]
    ]
    div = client.post(
        "/recommendations", json={"liked_item_ids": liked, "k": 10, "diversify": 0.2}
    ).json()
    assert div["diversify"] == 0.2 and len(div["results"]) == 10
    got = [r["item"]["item_id"] for r in div["results"]]
    assert len(set(got)) == 10 and not set(got) & set(liked)
    assert all(r["because"]["item"]["item_id"] in liked for r in div["results"])


def test_post_recommendations_errors(client: TestClient) -> None:
    ok = _ids(client)[:2]
    cases: list[tuple[Any, int, str]] = [
        ({"liked_item_ids": [*ok, "ghost-id"]}, 404, "ghost-id"),
        ({"liked_item_ids": []}, 422, "liked_item_ids"),
        ({"liked_item_ids": ok, "k": 0}, 422, "k"),
        ({"liked_item_ids": ok, "diversify": 1.5}, 422, "diversify"),
        ({"liked_item_ids": ok, "aggregation": "median"}, 422, "median"),
        ({"liked_item_ids": ok, "metric": "vibes"}, 422, "vibes"),
        ({"liked_item_ids": ok, "surprise": True}, 422, "surprise"),
        ({"liked_item_ids": "not-a-list"}, 422, "liked_item_ids"),
        ({}, 422, "liked_item_ids"),
    ]
    for body, status, word in cases:
        res = client.post("/recommendations", json=body)
        assert res.status_code == status, (body, res.text)
        assert word in res.json()["detail"], (body, res.text)
    capped = client.post("/recommendations", json={"liked_item_ids": ok, "k": 999}).json()
    assert capped["k"] == 50 and len(capped["results"]) == 50


def test_oversized_bodies_are_refused(client: TestClient) -> None:
    big = {"liked_item_ids": ["x" * 100] * 100}
    assert client.post("/recommendations", json=big).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        yield b'{"liked_item_ids": ['
        for _ in range(500):
            yield b'"aaaaaaaaaaaaaaaaaaaa",'
        yield b'"b"]}'

    res = client.post(
        "/recommendations", content=chunks(), headers={"content-type": "application/json"}
    )
    assert res.status_code == 413
    res = client.post(
        f"/users/{_user()}/interactions", json={"item_id": "y" * 200, "kind": "like" * 2000}
    )
    assert res.status_code == 413


# -- users, interactions, stock ----------------------------------------------------------------
def test_a_like_changes_the_next_recommendations_at_once(client: TestClient) -> None:
    user = _user()
    empty = client.get(f"/users/{user}/recommendations").json()
    assert empty["profile"] == [] and empty["results"] == []
    first, second = _ids(client, artist="Edvard Munch")[:2]
    res = client.post(f"/users/{user}/interactions", json={"item_id": first, "kind": "like"})
    assert res.status_code == 201
    assert res.json() == {
        "user_id": user,
        "item_id": first,
        "kind": "like",
        "created": True,
        "profile_size": 1,
    }
    again = client.post(f"/users/{user}/interactions", json={"item_id": first})
    assert again.json()["created"] is False and again.json()["profile_size"] == 1
    recs = client.get(f"/users/{user}/recommendations", params={"k": 5}).json()
    assert recs["profile"] == [first]
    anon = client.post("/recommendations", json={"liked_item_ids": [first], "k": 5}).json()
    assert [r["item"]["item_id"] for r in recs["results"]] == [
        r["item"]["item_id"] for r in anon["results"]
    ]
    client.post(f"/users/{user}/interactions", json={"item_id": second, "kind": "purchase"})
    recs2 = client.get(f"/users/{user}/recommendations", params={"k": 5}).json()
    assert recs2["profile"] == [first, second]
    assert not {r["item"]["item_id"] for r in recs2["results"]} & {first, second}
    likes = client.get(f"/users/{user}/interactions", params={"kind": "like"}).json()
    assert likes["item_ids"] == [first]
    # undo the like: only the purchase is left
    res = client.delete(f"/users/{user}/interactions/{first}")
    assert res.status_code == 200 and res.json()["deleted"] == 1
    assert client.delete(f"/users/{user}/interactions/{first}").json()["deleted"] == 0
    assert client.get(f"/users/{user}/recommendations").json()["profile"] == [second]


def test_interaction_errors(client: TestClient) -> None:
    user = _user()
    item = _ids(client)[0]
    cases = [
        ("post", f"/users/{user}/interactions", {"item_id": "ghost"}, 404),
        ("post", f"/users/{user}/interactions", {"item_id": item, "kind": "hate"}, 422),
        ("post", f"/users/{user}/interactions", {"kind": "like"}, 422),
        ("post", f"/users/{user}/interactions", {"item_id": ""}, 422),
        ("post", f"/users/{user}/interactions", {"item_id": item, "x": 1}, 422),
        ("post", "/users/a%0Ab/interactions", {"item_id": item}, 422),
        ("post", "/users/a%C2%85b/interactions", {"item_id": item}, 422),  # C1 control
        ("post", "/users/a%00b/interactions", {"item_id": item}, 422),
        ("post", f"/users/{'u' * 300}/interactions", {"item_id": item}, 422),
        ("delete", f"/users/{user}/interactions/ghost", None, 404),
        ("delete", f"/users/{user}/interactions/{item}?kind=hate", None, 422),
        ("get", f"/users/{user}/interactions?kind=hate", None, 422),
        ("get", f"/users/{user}/recommendations?diversify=nan", None, 422),
        ("get", f"/users/{user}/recommendations?diversify=-0.1", None, 422),
        ("get", f"/users/{user}/recommendations?aggregation=median", None, 422),
    ]
    for method, url, body, status in cases:
        res = client.request(method.upper(), url, json=body)
        assert res.status_code == status, (method, url, body, res.text)
        assert isinstance(res.json()["detail"], str) and res.json()["detail"]


def test_sold_items_drop_out_of_recommendations(client: TestClient) -> None:
    liked = _ids(client, artist="Claude Monet")[3:6]
    before = client.post("/recommendations", json={"liked_item_ids": liked, "k": 8}).json()
    top = before["results"][0]["item"]["item_id"]
    res = client.patch(f"/items/{top}", json={"in_stock": False})
    assert res.status_code == 200 and res.json()["in_stock"] is False
    try:
        assert client.get(f"/items/{top}").json()["in_stock"] is False
        after = client.post("/recommendations", json={"liked_item_ids": liked, "k": 8}).json()
        got = [r["item"]["item_id"] for r in after["results"]]
        assert top not in got
        assert got[:7] == [r["item"]["item_id"] for r in before["results"]][1:8]
        user = _user()
        for i in liked:
            client.post(f"/users/{user}/interactions", json={"item_id": i})
        mine = client.get(f"/users/{user}/recommendations", params={"k": 8}).json()
        assert top not in [r["item"]["item_id"] for r in mine["results"]]
        # a sold work keeps its page and its similar works
        assert client.get(f"/items/{top}/similar", params={"k": 3}).status_code == 200
        # a visitor may ask for sold works too
        anyway = client.post(
            "/recommendations", json={"liked_item_ids": liked, "k": 8, "only_in_stock": False}
        ).json()
        assert anyway["results"][0]["item"]["item_id"] == top
    finally:
        assert client.patch(f"/items/{top}", json={"in_stock": True}).json()["in_stock"] is True
    again = client.post("/recommendations", json={"liked_item_ids": liked, "k": 8}).json()
    assert again["results"][0]["item"]["item_id"] == top


def test_patch_errors(client: TestClient) -> None:
    item = _ids(client)[0]
    assert client.patch("/items/ghost", json={"in_stock": False}).status_code == 404
    for body in ({"in_stock": "banana"}, {}, {"in_stock": False, "price": 3}, [1, 2]):
        res = client.patch(f"/items/{item}", json=body)
        assert res.status_code == 422, body
    res = client.patch(
        f"/items/{item}", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert res.status_code == 422
    assert client.get(f"/items/{item}").json()["in_stock"] is True


# -- persistence and concurrency ---------------------------------------------------------------
def test_likes_survive_a_restart_and_are_seen_by_the_workspace(
    workspace: Path, tmp_path: Path
) -> None:
    from artrec.data.workspace import Workspace

    root = tmp_path / "ws"
    shutil.copytree(workspace, root)
    settings = Settings(workspace=root, admin_token=ADMIN_TOKEN)
    user = _user()
    with TestClient(create_app(settings), headers=ADMIN) as c:
        liked = _ids(c, artist="Gustav Klimt")[:3]
        for i in liked:
            assert c.post(f"/users/{user}/interactions", json={"item_id": i}).status_code == 201
        sold = _ids(c)[10]
        c.patch(f"/items/{sold}", json={"in_stock": False})
        before = c.get(f"/users/{user}/recommendations").json()
    with TestClient(create_app(settings), headers=ADMIN) as c:
        after = c.get(f"/users/{user}/recommendations").json()
        assert after["profile"] == liked
        assert after["results"] == before["results"]
        assert c.get(f"/items/{sold}").json()["in_stock"] is False
    ws = Workspace.open(root)
    log = ws.interactions(user_id=user)
    assert log.item_ids.tolist() == liked and set(log.kinds.tolist()) == {"like"}
    assert not ws.catalog().in_stock[ws.catalog().rows_of([sold])[0]]


def test_stock_changed_elsewhere_is_seen_at_once(workspace: Path, tmp_path: Path) -> None:
    """The per-worker sold-set cache follows writes by other workers and by the CLI."""
    root = tmp_path / "ws"
    shutil.copytree(workspace, root)
    settings = Settings(workspace=root, admin_token=ADMIN_TOKEN)
    with (
        TestClient(create_app(settings), headers=ADMIN) as a,
        TestClient(create_app(settings), headers=ADMIN) as b,
    ):
        liked = _ids(a, artist="Claude Monet")[3:6]
        body = {"liked_item_ids": liked, "k": 8}
        top = a.post("/recommendations", json=body).json()["results"][0]["item"]["item_id"]
        assert b.post("/recommendations", json=body).json()["results"][0]["item"]["item_id"] == top
        # another worker marks it sold
        assert a.patch(f"/items/{top}", json={"in_stock": False}).status_code == 200
        got = [
            r["item"]["item_id"] for r in b.post("/recommendations", json=body).json()["results"]
        ]
        assert top not in got
        similar = b.get(f"/items/{liked[0]}/similar", params={"k": 50}).json()["results"]
        assert all(r["item"]["in_stock"] is (r["item"]["item_id"] != top) for r in similar)
        # another process (the CLI, a script) puts it back in stock
        con = sqlite3.connect(root / "artrec.db")
        with con:
            con.execute("UPDATE items SET in_stock = 1 WHERE item_id = ?", (top,))
        con.close()
        for c in (a, b):
            res = c.post("/recommendations", json=body).json()
            assert res["results"][0]["item"]["item_id"] == top
            assert res["results"][0]["item"]["in_stock"] is True


def test_concurrent_writers_lose_nothing(workspace: Path, tmp_path: Path) -> None:
    from artrec.data.workspace import Workspace
    from artrec.server.store import Store

    root = tmp_path / "ws"
    shutil.copytree(workspace, root)
    ws = Workspace.open(root)
    items = ws.catalog().item_ids.tolist()[:25]
    stores = [Store.open(ws), Store.open(ws)]  # two "workers"
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            store = stores[n % 2]
            for i in items:
                store.add_interaction(f"w{n}", i, "like")
                store.add_interaction(f"w{n}", i, "purchase")
                store.set_in_stock(i, n % 2 == 0)
                store.user_item_ids(f"w{n}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for n in range(8):
        assert stores[0].user_item_ids(f"w{n}") == items
    con = sqlite3.connect(root / "artrec.db")
    assert con.execute("SELECT COUNT(*) FROM interactions WHERE user_id LIKE 'w%'").fetchone() == (
        8 * 25 * 2,
    )
    assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    for s in stores:
        s.close()


# -- bad input never gives a 500 ----------------------------------------------------------------
def test_hammering_bad_input_never_gives_500(client: TestClient) -> None:
    item = _ids(client)[0]
    weird = [
        "",
        " ",
        "%00",
        "..%2F..%2Fetc%2Fpasswd",
        "%2e%2e",
        "x" * 5000,
        "%F0%9F%8E%A8",
        "null",
        "-1",
        "1e309",
        "'; DROP TABLE items; --",
        "%25",
        "%C0%AF",
        "%ff%fe",
    ]
    numbers = [
        "0",
        "-1",
        "1e309",
        "nan",
        "inf",
        "-inf",
        "99999999999999999999999",
        "abc",
        "",
        "1.5",
    ]
    urls: list[str] = []
    for w in weird:
        urls += [
            f"/items/{w}",
            f"/items/{w}/image",
            f"/items/{w}/similar",
            f"/users/{w}/recommendations",
            f"/users/{w}/interactions",
            f"/artworks/{w}",
            f"/?q={w}",
            f"/items?q={w}&artist={w}&century={w}",
        ]
    for n in numbers:
        urls += [
            f"/items?page={n}",
            f"/items?per_page={n}",
            f"/items/{item}/similar?k={n}",
            f"/users/u/recommendations?k={n}&diversify={n}",
            f"/?page={n}",
            f"/for-you?lambda={n}",
        ]
    bodies: list[Any] = [
        None,
        {},
        [],
        "text",
        123,
        {"liked_item_ids": None},
        {"liked_item_ids": [None]},
        {"liked_item_ids": [{"a": 1}]},
        {"liked_item_ids": [item], "k": 1e308},
        {"liked_item_ids": [item], "k": "1"},
        {"liked_item_ids": [item], "diversify": "nan"},
        {"liked_item_ids": [item], "exclude_item_ids": ["\x00", "ghost"]},
        {"liked_item_ids": ["\x00"]},
        {"liked_item_ids": [item], "embedding": "\x00"},
        {"item_id": item, "kind": None},
        {"item_id": ["a"]},
        {"in_stock": None},
    ]
    statuses: dict[int, int] = {}
    for url in urls:
        for method in ("GET", "POST", "PATCH", "DELETE"):
            res = client.request(method, url)
            statuses[res.status_code] = statuses.get(res.status_code, 0) + 1
            assert res.status_code < 500, (method, url, res.text)
    for body in bodies:
        for url in (
            "/recommendations",
            f"/users/{_user()}/interactions",
            f"/items/{item}",
            "/users/x/interactions/ghost",
        ):
            for method in ("POST", "PATCH", "DELETE"):
                res = client.request(method, url, json=body)
                assert res.status_code < 500, (method, url, body, res.text)
    for raw in (b"", b"{", b"\xff\xfe", b"[" * 2000, b'{"liked_item_ids": ["a"' + b"]" * 3):
        res = client.post(
            "/recommendations", content=raw, headers={"content-type": "application/json"}
        )
        assert res.status_code < 500, raw
    res = client.post(
        "/recommendations", content=b"liked=1", headers={"content-type": "text/plain"}
    )
    assert res.status_code < 500
    assert client.get(f"/items/{item}").json()["in_stock"] is True
    assert set(statuses) <= {200, 201, 307, 404, 405, 413, 422}


# -- web pages ----------------------------------------------------------------------------------
def test_pages_render_and_set_a_visitor_cookie(client: TestClient) -> None:
    fresh = TestClient(client.app)
    res = fresh.get("/")
    assert res.status_code == 200 and "text/html" in res.headers["content-type"]
    cookie = res.cookies.get("artrec_visitor")
    assert cookie is not None
    uid, _, signature = cookie.partition(".")
    assert str(uuid.UUID(uid)) == uid and len(signature) >= 40  # a uuid4, signed
    set_cookie = res.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=lax" in set_cookie
    assert "script-src 'self'" in res.headers["content-security-policy"]
    assert res.text.count('class="like"') == 24
    assert f'data-user-id="{uid}"' in res.text and 'data-csrf-token="' in res.text
    # the same visitor keeps the id
    assert "artrec_visitor" not in fresh.get("/for-you").cookies
    item = _ids(client, artist="Claude Monet")[0]
    page = fresh.get(f"/artworks/{item}")
    assert page.status_code == 200
    assert "Similar works" in page.text and page.text.count('class="card') >= 12
    assert fresh.get("/artworks/ghost").status_code == 404
    search = fresh.get("/", params={"q": "klimt"})
    assert "Gustav Klimt" in search.text


def test_for_you_page_shows_reasons_for_the_visitors_likes(client: TestClient) -> None:
    visitor = TestClient(client.app)
    uid, csrf = _visit(visitor)
    liked = _ids(client, artist="Gustav Klimt")[:3]
    for i in liked:
        res = visitor.post(
            f"/users/{uid}/interactions", json={"item_id": i}, headers={"X-CSRF-Token": csrf}
        )
        assert res.status_code == 201
    page = visitor.get("/for-you")
    assert page.status_code == 200
    assert page.text.count("Because you liked") == 24
    diverse = visitor.get("/for-you", params={"mode": "diverse", "lambda": 0.3})
    assert diverse.status_code == 200 and diverse.text.count("Because you liked") == 24
    assert visitor.get("/for-you", params={"mode": "chaos"}).status_code == 422


def test_titles_are_html_escaped(client: TestClient, workspace: Path) -> None:
    item = _ids(client)[1]
    con = sqlite3.connect(workspace / "artrec.db")
    (old,) = con.execute("SELECT title FROM items WHERE item_id = ?", (item,)).fetchone()
    with con:
        con.execute(
            "UPDATE items SET title = ? WHERE item_id = ?", ("<script>alert(1)</script>", item)
        )
    try:
        page = client.get(f"/artworks/{item}")
        assert "<script>alert(1)</script>" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    finally:
        with con:
            con.execute("UPDATE items SET title = ? WHERE item_id = ?", (old, item))


# -- settings and the serve command -------------------------------------------------------------
def test_settings_round_trip_and_validation(tmp_path: Path) -> None:
    from artrec.errors import ArtrecError

    s = Settings(workspace=tmp_path, max_k=7, image_roots=(tmp_path / "imgs",), index="exact")
    again = Settings.from_json(s.to_json())
    assert again == s
    with pytest.raises(ArtrecError, match="max_k"):
        Settings(workspace=tmp_path, max_k=0)
    with pytest.raises(ArtrecError, match="recommend_kinds"):
        Settings(workspace=tmp_path, recommend_kinds=("view",))
    with pytest.raises(ArtrecError, match="bogus"):
        Settings.from_json(json.dumps({"workspace": str(tmp_path), "bogus": 1}))
    with pytest.raises(ArtrecError, match="JSON"):
        Settings.from_json("{")


def test_unsupported_database_is_a_clear_error(workspace: Path) -> None:
    from artrec.errors import ArtrecError

    with pytest.raises(ArtrecError, match="unsupported database 'mysql'"):
        create_app(Settings(workspace=workspace, database_url="mysql://x@y/z"))


def test_serve_command_fails_in_one_line_without_a_workspace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from artrec.cli import main

    assert main(["serve", "-w", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("artrec: error: no artrec workspace") and err.count("\n") == 1


def test_create_app_without_embeddings_is_a_clear_error(tmp_path: Path) -> None:
    from artrec.data.workspace import Workspace
    from artrec.errors import ArtrecError

    Workspace.create(tmp_path / "empty")
    with pytest.raises(ArtrecError, match="embedding"):
        create_app(Settings(workspace=tmp_path / "empty"))


def test_user_profiles_written_elsewhere_are_seen_at_once(workspace: Path, tmp_path: Path) -> None:
    """The per-worker cache of users' item ids follows writes by other workers and the CLI."""
    root = tmp_path / "ws"
    shutil.copytree(workspace, root)
    settings = Settings(workspace=root, admin_token=ADMIN_TOKEN)
    user = "cached-visitor"
    with (
        TestClient(create_app(settings), headers=ADMIN) as a,
        TestClient(create_app(settings), headers=ADMIN) as b,
    ):
        ids = _ids(a)
        assert b.get(f"/users/{user}/recommendations").json()["profile"] == []
        # another worker records two likes: b's next answer folds them in
        for i in ids[:2]:
            assert a.post(f"/users/{user}/interactions", json={"item_id": i}).status_code == 201
        assert b.get(f"/users/{user}/recommendations").json()["profile"] == ids[:2]
        assert b.get(f"/users/{user}/recommendations").json()["profile"] == ids[:2]  # cached
        # another process (the CLI, a script) deletes one
        con = sqlite3.connect(root / "artrec.db")
        with con:
            con.execute(
                "DELETE FROM interactions WHERE user_id = ? AND item_id = ?", (user, ids[0])
            )
        con.close()
        for c in (a, b):
            assert c.get(f"/users/{user}/recommendations").json()["profile"] == ids[1:2]
        # the worker's own write is seen by itself too
        assert b.delete(f"/users/{user}/interactions/{ids[1]}").status_code in (200, 204)
        assert b.get(f"/users/{user}/recommendations").json()["profile"] == []


def test_a_worker_process_hands_the_gil_over_sooner(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker builds its app from the settings in the environment and shortens the GIL
    switch interval, so its event loop does not wait 5 ms behind a computing thread."""
    import sys

    from artrec.server.app import GIL_SWITCH_INTERVAL, create_app_from_env
    from artrec.server.settings import SETTINGS_ENV

    before = sys.getswitchinterval()
    monkeypatch.setenv(SETTINGS_ENV, Settings(workspace=workspace).to_json())
    try:
        app = create_app_from_env()
        assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_INTERVAL)
        with TestClient(app) as c:
            assert c.get("/health").json()["status"] == "ok"
    finally:
        sys.setswitchinterval(before)
