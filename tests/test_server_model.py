"""The server answers with the workspace's chosen model (the hybrid saved by ``tune``):
/health names it, recommendations carry its reasons, a like changes the next list at once
(fold-in, no refit), and a VisRank option or ``recommender="visrank"`` keeps VisRank."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from _tuned_workspace import build_tuned_workspace
from artrec.data.workspace import Workspace
from artrec.engine import Engine
from artrec.recommend import reasons as R
from artrec.recommend.serving import ServingModel, load_serving_model
from artrec.server.app import create_app
from artrec.server.settings import Settings

ADMIN_TOKEN = "test-admin-token-" + uuid.uuid4().hex
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return build_tuned_workspace(tmp_path_factory.mktemp("srv") / "ws")


@pytest.fixture(scope="module")
def reference(ws: Workspace) -> ServingModel:
    """An independent load of the chosen model on the data the server starts with."""
    return load_serving_model(ws)


def _settings(ws: Workspace, **extra: Any) -> Settings:
    return Settings(workspace=ws.root, admin_token=ADMIN_TOKEN, max_writes_per_minute=0, **extra)


@pytest.fixture(scope="module")
def client(ws: Workspace, reference: ServingModel) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(ws)), headers=ADMIN) as c:
        yield c


def _expected(reference: ServingModel, ws: Workspace, liked: list[str], k: int) -> list[str]:
    cat = reference.catalog
    rows = cat.rows_of(liked) if liked else np.zeros(0, dtype=np.int64)
    ranking = reference.recommend([rows], k, available=cat.in_stock)
    return [str(cat.item_ids[r]) for r in ranking.rows[0] if r >= 0]


def test_health_names_the_chosen_model(client: TestClient, reference: ServingModel) -> None:
    model = client.get("/health").json()["model"]
    assert model["name"] == "auto" and model["kind"] == "hybrid"
    assert model["validation_ndcg"] == pytest.approx(reference.info.extra["validation"]["ndcg"])
    assert model["stale"] is None


def test_a_like_changes_the_models_list_at_once(
    client: TestClient, ws: Workspace, reference: ServingModel
) -> None:
    app_state = client.app.state.artrec  # type: ignore[attr-defined]
    model = app_state.model
    user = f"user-{uuid.uuid4().hex[:12]}"
    res = client.post(f"/users/{user}/interactions", json={"item_id": "w001", "kind": "like"})
    assert res.status_code == 201
    first = client.get(f"/users/{user}/recommendations", params={"k": 8}).json()
    assert first["recommender"] == "auto" and first["aggregation"] is None
    ids = [r["item"]["item_id"] for r in first["results"]]
    assert ids == _expected(reference, ws, ["w001"], 8)
    for r in first["results"]:
        assert r["reason"] in R.REASONS and r["reason"]
        assert r["reason_text"]
    top = ids[0]
    client.post(f"/users/{user}/interactions", json={"item_id": top, "kind": "like"})
    second = client.get(f"/users/{user}/recommendations", params={"k": 8}).json()
    after = [r["item"]["item_id"] for r in second["results"]]
    assert second["profile"] == ["w001", top]
    assert top not in after and after != ids
    assert after == _expected(reference, ws, ["w001", top], 8)
    assert app_state.model is model  # the same fitted model: folded in, not refitted
    # a visitor without an account gets the same list for the same likes
    anon = client.post("/recommendations", json={"liked_item_ids": ["w001", top], "k": 8})
    assert [r["item"]["item_id"] for r in anon.json()["results"]] == after


def test_a_new_user_gets_the_cold_start_list_then_their_own(
    client: TestClient, ws: Workspace, reference: ServingModel
) -> None:
    user = f"user-{uuid.uuid4().hex[:12]}"
    cold = client.get(f"/users/{user}/recommendations", params={"k": 6}).json()
    assert cold["profile"] == [] and cold["recommender"] == "auto"
    ids = [r["item"]["item_id"] for r in cold["results"]]
    assert ids == _expected(reference, ws, [], 6)
    assert {r["reason"] for r in cold["results"]} == {"trending"}
    assert {r["reason_text"] for r in cold["results"]} == {"trending this month"}
    client.post(f"/users/{user}/interactions", json={"item_id": "w001", "kind": "like"})
    warm = client.get(f"/users/{user}/recommendations", params={"k": 6}).json()
    assert [r["item"]["item_id"] for r in warm["results"]] == _expected(reference, ws, ["w001"], 6)


def test_a_visrank_option_keeps_visrank(client: TestClient, ws: Workspace) -> None:
    body = {"liked_item_ids": ["w001", "w002"], "k": 6, "metric": "cosine"}
    res = client.post("/recommendations", json=body).json()
    assert res["recommender"] == "visrank" and res["metric"] == "cosine"
    expected = Engine.from_workspace(ws).recommend(["w001", "w002"], 6, recommender="visrank")
    assert [r["item"]["item_id"] for r in res["results"]] == [r.item_id for r in expected]
    assert all(
        r["reason"] == R.SIMILAR and r["because"]["score"] is not None for r in res["results"]
    )


def test_a_visrank_server_ignores_the_model(ws: Workspace) -> None:
    with TestClient(create_app(_settings(ws, recommender="visrank")), headers=ADMIN) as c:
        assert c.get("/health").json()["model"] is None
        res = c.post("/recommendations", json={"liked_item_ids": ["w001"], "k": 5}).json()
    assert res["recommender"] == "visrank" and res["aggregation"] == "sum_distance"
    expected = Engine.from_workspace(ws).recommend(["w001"], 5, recommender="visrank")
    assert [r["item"]["item_id"] for r in res["results"]] == [r.item_id for r in expected]


def test_for_you_page_shows_the_models_reasons(client: TestClient) -> None:
    visitor = TestClient(client.app)
    page = visitor.get("/").text
    uid = re.search(r'data-user-id="([^"]+)"', page)
    csrf = re.search(r'data-csrf-token="([^"]+)"', page)
    assert uid is not None and csrf is not None
    for item in ("w001", "w150"):
        res = visitor.post(
            f"/users/{uid.group(1)}/interactions",
            json={"item_id": item},
            headers={"X-CSRF-Token": csrf.group(1)},
        )
        assert res.status_code == 201
    api = client.get(f"/users/{uid.group(1)}/recommendations", params={"k": 24}).json()
    html = visitor.get("/for-you").text
    shown = [
        r["reason_text"][:1].upper() + r["reason_text"][1:]
        for r in api["results"]
        if r["reason"] not in ("", "similar")
    ]
    assert shown, "the model gives reasons other than similarity"
    for text in set(shown):
        assert html.count(f'<p class="reason">{text}</p>') == shown.count(text)
    assert np.isfinite([r["score"] for r in api["results"]]).all()
