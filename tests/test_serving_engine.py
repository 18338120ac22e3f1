"""The workspace's chosen model behind the Engine, ``artrec recommend`` and
``artrec recommend-all``: the one rule (chosen model, else VisRank; VisRank options keep
VisRank), reasons, the staleness line, and a new like changing the list at once."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from _tuned_workspace import build_tuned_workspace
from artrec.cli import main
from artrec.data.catalog import Interactions
from artrec.data.workspace import Workspace
from artrec.engine import Engine
from artrec.errors import DataError
from artrec.recommend import reasons as R
from artrec.recommend.serving import VISRANK, chosen_model, load_serving_model


@pytest.fixture()
def ws(tmp_path: Path) -> Workspace:
    return build_tuned_workspace(tmp_path / "ws")


def _like(ws: Workspace, user: str, item: str, t: float = 4e9) -> None:
    ws.add_interactions(
        Interactions(
            np.array([user], object), np.array([item], object), np.array([t]),
            np.array(["like"], object),
        )
    )  # fmt: skip


def test_the_rule_has_known_answers() -> None:
    assert chosen_model("auto") == "auto"
    assert chosen_model(None) is None
    assert chosen_model("auto", visrank_options=True) is None
    assert chosen_model("auto", VISRANK) is None
    assert chosen_model(None, "other") == "other"
    with pytest.raises(DataError, match="do not apply to model 'other'"):
        chosen_model("auto", "other", visrank_options=True)


def test_engine_uses_the_chosen_model_with_reasons(ws: Workspace) -> None:
    engine = Engine.from_workspace(ws)
    serving = engine.model_for()
    assert serving is not None and serving.info.name == "auto"
    assert engine.model_for() is serving  # loaded once
    liked = ["w001", "w002", "w150"]
    recs = engine.recommend(liked, 10)
    direct = serving.recommend([ws.catalog().rows_of(liked)], 10, available=~engine.sold_mask())
    assert [r.item_id for r in recs] == [str(ws.catalog().item_ids[i]) for i in direct.rows[0]]
    assert all(r.reason in R.REASONS and r.reason for r in recs)
    assert [r.reason for r in recs] == direct.reasons[0].tolist()  # type: ignore[union-attr]
    for r in recs:
        assert r.reason_text == R.reason_text(
            r.reason, None if r.because_item_id is None else _title(ws, r.because_item_id),
            verb="liked",
        )  # fmt: skip
        assert r.because_score is None
        assert r.item_id not in liked
    # named items in the sentences are titles
    texts = {r.reason: r.reason_text for r in recs}
    if R.SIMILAR in texts:
        assert texts[R.SIMILAR].startswith("because you liked Painting ")


def _title(ws: Workspace, item_id: str) -> str:
    cat = ws.catalog()
    return str(cat.column("title")[cat.rows_of([item_id])[0]])  # type: ignore[index]


def test_visrank_options_keep_visrank_exactly(ws: Workspace, tmp_path: Path) -> None:
    engine = Engine.from_workspace(ws)
    plain = Engine.from_workspace(build_tuned_workspace(tmp_path / "plain", tuned=False))
    assert plain.model_for() is None
    liked = ["w001", "w002"]
    expected = plain.recommend(liked, 8)
    assert all(r.because_score is not None for r in expected)
    assert all(r.reason == R.SIMILAR for r in expected)
    for options in (
        {"recommender": VISRANK},
        {"metric": "cosine"},
        {"aggregation": "sum_distance"},
    ):
        got = engine.recommend(liked, 8, **options)  # type: ignore[arg-type]
        assert [(r.item_id, r.score, r.because_item_id) for r in got] == [
            (r.item_id, r.score, r.because_item_id) for r in expected
        ]
    assert [r.item_id for r in engine.recommend(liked, 8)] != [r.item_id for r in expected]
    with pytest.raises(DataError, match="do not apply"):
        engine.recommend(liked, 8, recommender="auto", metric="cosine")
    with pytest.raises(DataError, match="no saved model 'nosuch'"):
        engine.recommend(liked, 8, recommender="nosuch")


def test_a_new_like_changes_the_list_at_once_without_a_refit(ws: Workspace) -> None:
    engine = Engine.from_workspace(ws)
    user = sorted(engine.profiles())[0]
    before = engine.recommend_for_user(user, 10)
    model = engine.model_for()
    top = before[0].item_id
    _like(ws, user, top)
    after = engine.recommend_for_user(user, 10)
    assert engine.model_for() is model  # the same fitted model: folded in, not refitted
    assert top not in [r.item_id for r in after]
    assert [r.item_id for r in after] != [r.item_id for r in before]
    # the user's list is what the model ranks for the profile that now holds the like
    profile = engine.user_profile(user)
    direct = model.recommend([profile], 10, available=~engine.sold_mask())  # type: ignore[union-attr]
    assert [r.item_id for r in after] == [str(engine.catalog.item_ids[i]) for i in direct.rows[0]]


def test_diversify_and_sold_works_with_the_model(ws: Workspace) -> None:
    engine = Engine.from_workspace(ws)
    plain = engine.recommend(["w001"], 10)
    varied = engine.recommend(["w001"], 10, diversify=0.0)
    assert len(varied) == 10 and {r.item_id for r in varied} != {r.item_id for r in plain}
    assert [r.item_id for r in engine.recommend(["w001"], 10, diversify=1.0)] == [
        r.item_id for r in plain
    ]
    sold = plain[0].item_id
    ws.set_in_stock([sold], False)
    assert sold not in [r.item_id for r in engine.recommend(["w001"], 10)]
    assert sold in [r.item_id for r in engine.recommend(["w001"], 10, only_in_stock=False)]


def test_cli_recommend_uses_the_model_and_shows_its_line(ws: Workspace, capsys) -> None:  # type: ignore[no-untyped-def]
    user = sorted(Engine.from_workspace(ws).profiles())[0]
    args = ["recommend", "-w", str(ws.root), "--user", user, "-k", "5", "--format", "json"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert captured.err.strip() == "artrec: recommending with model 'auto' (hybrid)"
    rows = json.loads(captured.out)
    engine = Engine.from_workspace(ws)
    expected = engine.recommend_for_user(user, 5)
    assert [r["item_id"] for r in rows] == [r.item_id for r in expected]
    assert [r["because"] for r in rows] == [r.reason_text for r in expected]
    assert [r["reason"] for r in rows] == [r.reason for r in expected]
    # a like through the workspace changes the next run's list
    _like(ws, user, rows[0]["item_id"])
    assert main(args) == 0
    captured = capsys.readouterr()
    assert rows[0]["item_id"] not in [r["item_id"] for r in json.loads(captured.out)]
    # the model is now stale: one line says so and how to refresh it
    (line,) = captured.err.strip().splitlines()
    assert "fitted on an older version of the interaction log" in line
    assert "refresh it with `artrec tune" in line
    # VisRank on request, with today's title and no model line
    assert main([*args, "--recommender", "visrank"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    visrank = engine.recommend_for_user(user, 5, recommender=VISRANK)
    assert [r["item_id"] for r in json.loads(captured.out)] == [r.item_id for r in visrank]
    assert main([*args, "--metric", "cosine"]) == 0
    assert [r["item_id"] for r in json.loads(capsys.readouterr().out)] == [
        r.item_id for r in visrank
    ]


def test_cli_recommend_bad_recommender_is_one_line(ws: Workspace, capsys) -> None:  # type: ignore[no-untyped-def]
    base = ["recommend", "-w", str(ws.root), "--liked", "w001"]
    assert main([*base, "--recommender", "nosuch"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no saved model 'nosuch'" in err
    assert main([*base, "--recommender", "auto", "--aggregation", "sum_distance"]) == 2
    assert "do not apply to model 'auto'" in capsys.readouterr().err


def test_cli_recommend_all_ranks_with_the_model(ws: Workspace, capsys) -> None:  # type: ignore[no-untyped-def]
    from artrec.recommend.batch import load_batch

    args = ["recommend-all", "-w", str(ws.root), "-k", "5", "--no-progress", "--format", "json"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "recommending with model 'auto'" in captured.err
    (row,) = json.loads(captured.out)
    assert row["run"] == "auto-k5"
    batch = load_batch(ws.root / "recommendations" / "auto-k5")
    assert batch.meta["model"] == "auto" and batch.meta["kind"] == "hybrid"
    engine = Engine.from_workspace(ws)
    serving = load_serving_model(ws)
    for j, user in enumerate(batch.user_ids.tolist()[:10]):
        expected = serving.recommend([engine.user_profile(user)], 5, available=~engine.sold_mask())
        assert batch.rows[j].tolist() == expected.rows[0].tolist()
    # an explicit VisRank option keeps the VisRank run
    assert main([*args, "--metric", "cosine"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["run"] == "vis-visrank-cosine-k5"


def test_a_cold_start_gets_the_models_trending_list(ws: Workspace) -> None:
    engine = Engine.from_workspace(ws)
    cold = engine.recommend([], 10)
    serving = engine.model_for()
    assert serving is not None
    direct = serving.recommend([np.zeros(0, np.int64)], 10, available=~engine.sold_mask())
    assert [r.item_id for r in cold] == [str(engine.catalog.item_ids[i]) for i in direct.rows[0]]
    assert len(cold) == 10 and {r.reason for r in cold} == {R.TRENDING}
    assert all(r.reason_text == "trending this month" for r in cold)
    with pytest.raises(DataError, match="no liked items given"):
        engine.recommend([], 10, recommender=VISRANK)
