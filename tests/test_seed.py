"""Seed assets: hand-written and generated notebook folders round-trip through a workspace."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from _seed_helpers import (
    TINY_IDS,
    TINY_RESNET,
    TINY_TEST,
    TINY_TRAIN,
    TINY_VGG,
    Evil,
    write_pickle,
    write_tiny_assets,
)
from artrec.data.seed import import_seed, load_seed_assets
from artrec.data.simulate import SIMULATED_KEY
from artrec.data.synthetic import write_seed_assets
from artrec.data.workspace import Workspace
from artrec.errors import ArtrecError, DataError, UnsafePickleError
from artrec.vectors import FeatureSet


def _events(ws: Workspace, split: str) -> dict[str, list[str]]:
    inter = ws.interactions()
    out: dict[str, list[str]] = {}
    assert inter.splits is not None
    for u, i, s in zip(inter.user_ids, inter.item_ids, inter.splits, strict=True):
        if s == split:
            out.setdefault(u, []).append(i)
    return out


def _as_text(users: dict[int, list[int]]) -> dict[str, list[str]]:
    return {str(u): [str(i) for i in items] for u, items in users.items() if items}


@pytest.mark.parametrize("users_as", ["dict", "list"])
@pytest.mark.parametrize("protocol", [2, 4])
def test_tiny_round_trip(tmp_path: Path, users_as: str, protocol: int) -> None:
    assets = write_tiny_assets(tmp_path / "assets", users_as=users_as, protocol=protocol)
    report = import_seed(assets, tmp_path / "ws")
    ws = Workspace.open(tmp_path / "ws")

    cat = ws.catalog()
    assert cat.item_ids.tolist() == ["501", "17", "9003", "42"]
    assert cat.image.tolist() == [  # type: ignore[union-attr]
        "https://img.example.invalid/501/m.jpg",
        "https://img.example.invalid/17/m.jpg",
        None,
        None,
    ]
    assert _events(ws, "train") == _as_text(TINY_TRAIN)
    assert _events(ws, "test") == _as_text(TINY_TEST)
    inter = ws.interactions()
    assert set(inter.kinds.tolist()) == {"purchase"}  # type: ignore[union-attr]
    assert all(math.isnan(t) for t in inter.timestamps.tolist())  # type: ignore[union-attr]

    for name, expected in (("resnet50", TINY_RESNET), ("vgg19", TINY_VGG)):
        fs = FeatureSet.load(ws.features_dir, name)
        assert fs.item_ids.tolist() == [str(i) for i in TINY_IDS]
        assert fs.matrix.dtype == np.float32
        np.testing.assert_array_equal(fs.matrix, expected)

    assert report.n_items == 4 and report.n_users == 3
    assert report.n_train_events == 6 and report.n_test_events == 4
    assert report.feature_sets == {"resnet50": 3, "vgg19": 2}
    assert report.missing_item_ids == ["77777"] and report.n_missing_events == 1
    assert report.missing_urls == 2 and not report.simulated
    assert any("77777" in w for w in report.warnings)
    assert ws.runs("import-seed")[0]["results"]["n_items"] == 4


def test_missing_items_can_be_dropped(tmp_path: Path) -> None:
    assets = write_tiny_assets(tmp_path / "assets")
    kept = load_seed_assets(assets)
    dropped = load_seed_assets(assets, missing_items="drop")
    assert "77777" in kept.interactions.item_ids.tolist()
    assert "77777" not in dropped.interactions.item_ids.tolist()
    assert len(kept.interactions) - len(dropped.interactions) == 1
    assert dropped.missing_item_ids == ["77777"]


def test_sets_and_tuples_in_pickles(tmp_path: Path) -> None:
    assets = write_tiny_assets(
        tmp_path / "assets",
        train={0: {17, 501}, 1: (9003,)},
        test=[frozenset({42}), [17]],
        protocol=2,
    )
    loaded = load_seed_assets(assets)
    inter = loaded.interactions
    pairs = list(zip(inter.user_ids, inter.item_ids, inter.splits, strict=True))  # type: ignore[arg-type]
    assert pairs == [
        ("0", "17", "train"),
        ("0", "501", "train"),
        ("1", "9003", "train"),
        ("0", "42", "test"),
        ("1", "17", "test"),
    ]


@pytest.mark.parametrize("users_as", ["dict", "list"])
def test_generated_round_trip(tmp_path: Path, users_as: str) -> None:
    truth = write_seed_assets(
        tmp_path / "assets",
        300,
        40,
        dims=(64, 96),
        users_as=users_as,
        missing_ids=3,
        missing_urls=4,
        seed=7,
    )
    report = import_seed(truth.directory, tmp_path / "ws")
    ws = Workspace.open(tmp_path / "ws")
    cat = ws.catalog()
    assert cat.item_ids.tolist() == [str(i) for i in truth.item_ids.tolist()]
    assert sum(x is None for x in cat.image.tolist()) == 4  # type: ignore[union-attr]
    assert _events(ws, "train") == _as_text(truth.train)
    assert _events(ws, "test") == _as_text(truth.test)
    raw = np.load(truth.directory / "resnet50_feature_matrix.npy")
    np.testing.assert_array_equal(FeatureSet.load(ws.features_dir, "resnet50").matrix, raw)
    assert report.missing_item_ids == sorted(str(i) for i in truth.missing_item_ids)
    assert report.n_missing_events == 3
    assert report.simulated and ws.get_meta(SIMULATED_KEY) == "1"
    assert report.n_users == 40


def test_generated_data_is_realistic(tmp_path: Path) -> None:
    truth = write_seed_assets(tmp_path / "a", 600, 80, dims=(128, 256), seed=3)
    ids = truth.item_ids
    assert len(set(ids.tolist())) == 600 and not np.array_equal(np.sort(ids), np.arange(600))
    feats = np.load(truth.directory / "resnet50_feature_matrix.npy")
    vgg = np.load(truth.directory / "vgg19_feature_matrix.npy")
    assert feats.dtype == np.float32 and feats.shape == (600, 128) and vgg.shape == (600, 256)
    assert feats.min() >= 0 and 0.1 < (feats > 0).mean() < 0.9  # sparse ReLU-like
    assert (feats.max(axis=0) == 0).sum() >= 1  # dead units
    # similar artworks really cluster: the cosine nearest neighbour shares the cluster
    for m in (feats, vgg):
        unit = m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)
        sims = unit @ unit.T
        np.fill_diagonal(sims, -np.inf)
        same = truth.clusters[sims.argmax(axis=1)] == truth.clusters
        assert same.mean() > 0.8
    # users buy mostly from a few clusters, within the requested ranges, never twice
    for user, items in truth.train.items():
        test = truth.test[user]
        assert 1 <= len(items) <= 20 and 1 <= len(test) <= 3
        assert len(set(items) | set(test)) == len(items) + len(test)
    row_of = {int(i): r for r, i in enumerate(ids.tolist())}
    shares = []
    for user, items in truth.train.items():
        bought = [truth.clusters[row_of[i]] for i in items + truth.test[user]]
        top3 = np.sort(np.bincount(bought))[::-1][:3].sum()
        shares.append(top3 / len(bought))
    assert np.mean(shares) > 0.75


def test_generation_is_deterministic(tmp_path: Path) -> None:
    a = write_seed_assets(tmp_path / "a", 50, 5, dims=(8, 16), seed=1)
    b = write_seed_assets(tmp_path / "b", 50, 5, dims=(8, 16), seed=1)
    for name in ("resnet50_feature_matrix.npy", "index2artworkId.json", "past_transactions.pickle"):
        assert (a.directory / name).read_bytes() == (b.directory / name).read_bytes()


# -- bad input ---------------------------------------------------------------------------


def test_malformed_ids_json_names_the_file(tmp_path: Path) -> None:
    assets = write_tiny_assets(tmp_path / "assets")
    (assets / "index2artworkId.json").write_text("[501, 17,")
    with pytest.raises(DataError, match=r"^index2artworkId\.json: not valid JSON \(line 1"):
        load_seed_assets(assets)


def test_malformed_url_cache_names_the_file(tmp_path: Path) -> None:
    assets = write_tiny_assets(tmp_path / "assets")
    (assets / "artworkImageUrlsCache.json").write_text('{"501": {"medium": ')
    with pytest.raises(DataError, match=r"^artworkImageUrlsCache\.json: not valid JSON"):
        load_seed_assets(assets)


@pytest.mark.parametrize(
    ("ids", "pattern"),
    [
        ({"0": 501}, "expected a JSON list"),
        ([501, 17, None, 42], r"entry 2 \(None\) is not an artwork id"),
        ([501, 17, 501, 42], "artwork id '501' appears twice"),
    ],
)
def test_bad_ids_are_named(tmp_path: Path, ids: object, pattern: str) -> None:
    assets = write_tiny_assets(tmp_path / "assets", ids=ids)  # type: ignore[arg-type]
    with pytest.raises(DataError, match=pattern):
        load_seed_assets(assets)


def test_wrong_row_count_names_the_matrix(tmp_path: Path) -> None:
    assets = write_tiny_assets(tmp_path / "assets", vgg=TINY_VGG[:3])
    with pytest.raises(
        DataError, match=r"^vgg19_feature_matrix\.npy: 3 rows but index2artworkId\.json lists 4"
    ):
        load_seed_assets(assets)


def test_one_dimensional_matrix_is_refused(tmp_path: Path) -> None:
    assets = write_tiny_assets(tmp_path / "assets", resnet=np.zeros(4, np.float32))
    with pytest.raises(DataError, match=r"resnet50_feature_matrix\.npy: expected a 2-D matrix"):
        load_seed_assets(assets)


def test_object_npy_is_never_unpickled(tmp_path: Path) -> None:
    assets = write_tiny_assets(tmp_path / "assets")
    np.save(assets / "resnet50_feature_matrix.npy", np.array([{"a": 1}] * 4, dtype=object))
    with pytest.raises(DataError, match=r"resnet50_feature_matrix\.npy"):
        load_seed_assets(assets)


def test_nan_row_raises_naming_file_and_item(tmp_path: Path) -> None:
    resnet = TINY_RESNET.copy()
    resnet[2, 1] = np.nan
    resnet[3, 0] = np.inf
    assets = write_tiny_assets(tmp_path / "assets", resnet=resnet)
    with pytest.raises(
        DataError, match=r"resnet50_feature_matrix\.npy: 2 rows hold NaN or inf, first item '9003'"
    ):
        load_seed_assets(assets)
    with pytest.raises(DataError, match="NaN"):
        import_seed(assets, tmp_path / "ws")
    assert not (tmp_path / "ws" / "artrec.db").exists()  # nothing half-imported
    reported = load_seed_assets(assets, on_nan="report")
    assert reported.nan_rows == {"resnet50": ["9003", "42"]}


def test_evil_pickle_is_refused_without_side_effect(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    assets = write_tiny_assets(tmp_path / "assets")
    write_pickle(assets / "ground_truth.pickle", {0: Evil(marker)})
    with pytest.raises(UnsafePickleError, match=r"^ground_truth\.pickle: refusing to load global"):
        import_seed(assets, tmp_path / "ws")
    assert not marker.exists()


def test_wrong_pickle_structure_is_named(tmp_path: Path) -> None:
    assets = write_tiny_assets(tmp_path / "assets", train={0: ["501"]})
    with pytest.raises(
        DataError, match=r"past_transactions\.pickle: user 0: item id '501' is not an int"
    ):
        load_seed_assets(assets)


def test_missing_file_is_named(tmp_path: Path) -> None:
    assets = write_tiny_assets(tmp_path / "assets")
    (assets / "past_transactions.pickle").unlink()
    with pytest.raises(DataError, match=r"past_transactions\.pickle"):
        load_seed_assets(assets)
    with pytest.raises(DataError, match="not a directory"):
        load_seed_assets(tmp_path / "nowhere")


def test_missing_url_cache_is_only_a_warning(tmp_path: Path) -> None:
    assets = write_tiny_assets(tmp_path / "assets")
    (assets / "artworkImageUrlsCache.json").unlink()
    loaded = load_seed_assets(assets)
    assert loaded.missing_urls == 4
    assert any("artworkImageUrlsCache.json is missing" in w for w in loaded.warnings)


def test_second_import_is_refused(tmp_path: Path) -> None:
    assets = write_tiny_assets(tmp_path / "assets")
    import_seed(assets, tmp_path / "ws")
    with pytest.raises(ArtrecError, match="already holds 4 items"):
        import_seed(assets, Workspace.open(tmp_path / "ws"))
    assert len(Workspace.open(tmp_path / "ws").interactions()) == 10


def test_report_is_json_friendly(tmp_path: Path) -> None:
    report = import_seed(write_tiny_assets(tmp_path / "assets"), tmp_path / "ws")
    assert json.loads(json.dumps(report.as_dict()))["missing_item_ids"] == ["77777"]
