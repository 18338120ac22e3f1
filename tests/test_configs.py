"""Configurations of the evaluation: a kind and its parameters, and one registration per kind."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from artrec.cli import main
from artrec.config import AGGREGATIONS, VisRankConfig
from artrec.data.catalog import Catalog, Interactions
from artrec.data.workspace import Workspace
from artrec.errors import DataError
from artrec.evaluation import configs
from artrec.evaluation.configs import Config, Kind, config_grid
from artrec.recommend.baselines import PopularRecommender
from artrec.vectors import FeatureSet


def test_config_is_a_kind_and_its_parameters() -> None:
    c = Config("visrank", embedding="hybrid", metric="dot", aggregation="topm_mean", m=2)
    assert isinstance(c.params, VisRankConfig) and c.params.metric == "dot"
    assert c.name == "visrank:hybrid/dot/top2_mean" and c.embedding == "hybrid"
    assert c.params_dict() == {
        "kind": "visrank",
        "embedding": "hybrid",
        "metric": "dot",
        "aggregation": "topm_mean",
        "m": 2,
    }
    assert Config.from_dict(c.params_dict()) == c
    assert Config("visrank", VisRankConfig("e")) == Config("visrank", embedding="e")
    assert Config("random", seed=4).params_dict() == {"kind": "random", "seed": 4}
    assert not Config("popular").needs_embedding and Config("popular").embedding is None
    assert Config("visrank").with_embedding("x").name == "visrank:x/cosine/sum_distance"
    assert Config("visrank", name="mine").with_embedding("x").name == "mine"
    with pytest.raises(DataError, match="has no parameter 'metric'; it takes seed"):
        Config("random", metric="dot")
    with pytest.raises(DataError, match="has no parameter 'seed'"):
        Config("popular", seed=1)
    with pytest.raises(DataError, match="seed must be an integer"):
        Config("random", seed="x")
    with pytest.raises(DataError, match="takes VisRankConfig parameters"):
        Config("visrank", configs.SeedParams())


def test_the_aggregation_names_have_one_owner() -> None:
    from artrec.cli import _common
    from artrec.recommend import visrank

    assert visrank.AGGREGATIONS is AGGREGATIONS
    parser = main.__globals__["build_parser"]()
    for command in ("recommend", "evaluate", "recommend-all", "serve"):
        sub = parser._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
        action = next(a for a in sub._actions if a.dest == "aggregation")
        assert tuple(action.choices) == AGGREGATIONS
    assert _common.AGGREGATIONS is AGGREGATIONS


@dataclass(frozen=True)
class TopParams:
    """A new kind's parameters (a test kind: the most popular items, under another name)."""

    min_count: int = 1

    def __post_init__(self) -> None:
        if self.min_count < 1:
            raise DataError(f"min_count must be >= 1, got {self.min_count}")


@pytest.fixture
def new_kind(monkeypatch: pytest.MonkeyPatch) -> str:
    """One registration: name, parameter dataclass, builder."""
    kind = Kind(
        "top", TopParams, lambda p: PopularRecommender(), label=lambda p: f"top{p.min_count}"
    )
    monkeypatch.setitem(configs.KINDS, "top", kind)
    return "top"


def _workspace(root: Path) -> Path:
    rng = np.random.default_rng(3)
    n = 30
    ids = np.asarray([f"w{r}" for r in range(n)], dtype=object)
    ws = Workspace.create(root)
    ws.upsert_items(Catalog(ids))
    users = [f"u{u}" for u in range(8) for _ in range(4)]
    items = [str(ids[r]) for _ in range(8) for r in rng.choice(n, size=4, replace=False)]
    times = np.arange(len(users), dtype=np.float64)
    ws.add_interactions(Interactions(np.asarray(users), np.asarray(items), times))
    FeatureSet("vis", ids, rng.normal(size=(n, 3)).astype(np.float32)).save(ws.embeddings_dir)
    return root


def test_a_new_kind_plugs_in_with_one_registration(
    new_kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = Config(new_kind, min_count=2)
    assert c.name == "top2" and isinstance(c.build(), PopularRecommender)
    with pytest.raises(DataError, match="min_count"):
        Config(new_kind, min_count=0)
    grid = config_grid(["vis"], baselines=["random"], extra=[c])
    assert [g.kind for g in grid] == ["visrank", "random", new_kind]
    # the CLI takes the new kind and its parameter without any change of its own
    root = _workspace(tmp_path / "ws")
    argv = ["evaluate", "-w", str(root), "--protocol", "leave-last-out", "-k", "3"]
    assert main([*argv, "--recommender", new_kind, "--param", "min_count=3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("top3 on protocol leave-last-out, k=3: 8 users/cases")
    assert main([*argv, "--recommender", new_kind, "--param", "halflife=3"]) == 2
    assert "has no parameter 'halflife'" in capsys.readouterr().err
    # the stored run carries the kind and its parameters, not only the name
    run = Workspace.open(root).runs("evaluation")[0]
    assert run["params"]["kind"] == new_kind and run["params"]["min_count"] == 3
