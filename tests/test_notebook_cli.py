"""The notebook's exact semantics through the command line, on notebook-format assets.

* ``artrec recommend --history train --user N`` equals the notebook's ``recommend(embedding,
  N)``: the profile is the user's past transactions only (the ground truth is held out),
  on the same PCA-100 hybrid matrix.
* ``artrec similar --features resnet50`` equals the notebook's ``find_similar_images`` on the
  raw ``resnet50_featmat`` (no z-score, no PCA), and ``recommend --features NAME`` equals
  ``recommend(resnet50_featmat, N)``.

The reference is the faithful copy of the notebook's code in ``tests/_notebook.py``. The
assets are SIMULATED (``write_seed_assets``), imported with ``artrec import-seed``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _notebook import find_similar_images, lookups, notebook_recommend
from artrec.cli import main
from artrec.data.synthetic import SyntheticSeed, write_seed_assets
from artrec.data.workspace import Workspace
from artrec.embedding import load_embedding

K = 10
N_USERS = 24


def cli_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> Any:
    code = main([*argv, "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


@pytest.fixture(scope="module")
def nb(tmp_path_factory: pytest.TempPathFactory) -> tuple[SyntheticSeed, Path]:
    root = tmp_path_factory.mktemp("nb_cli")
    seed = write_seed_assets(
        root / "assets", n_items=220, n_users=N_USERS, dims=(160, 192), purchases=(1, 9), seed=8
    )
    ws = root / "ws"
    assert main(["import-seed", str(seed.directory), "-w", str(ws)]) == 0
    argv = ["embed", "-w", str(ws), "--features", "resnet50", "vgg19", "--n-components", "100"]
    assert main(argv) == 0
    return seed, ws


def _lists(rows: list[dict[str, Any]], who: str = "user") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for row in rows:
        out.setdefault(str(row[who]), []).append(str(row["item_id"]))
    return out


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_recommend_history_train_is_the_notebooks_recommend(
    nb: tuple[SyntheticSeed, Path], metric: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seed, ws = nb
    users = [str(u) for u in range(N_USERS)]
    base = ["recommend", "-w", str(ws), "--user", *users, "-k", str(K), "--metric", metric]
    ours = _lists(cli_json([*base, "--history", "train"], capsys))
    index2artworkId = seed.item_ids.tolist()
    embedding = np.asarray(
        load_embedding(Workspace.open(ws), "hybrid").align(index2artworkId).matrix
    )
    artworkId2index = lookups(index2artworkId)
    differs = 0
    everything = _lists(cli_json([*base, "--history", "all"], capsys))
    for user in range(N_USERS):
        expected = notebook_recommend(
            embedding, user, seed.train, index2artworkId, artworkId2index, K, metric
        )
        assert ours[str(user)] == [str(a) for a in expected], f"user {user}"
        # the default history also reads the held-out purchases: a different profile
        differs += everything[str(user)] != ours[str(user)]
        assert not set(everything[str(user)]) & {str(a) for a in seed.test[user]}
    assert differs >= N_USERS // 2


@pytest.mark.parametrize(("features", "metric"), [("resnet50", "cosine"), ("vgg19", "euclidean")])
def test_similar_on_raw_features_is_the_notebooks_find_similar_images(
    nb: tuple[SyntheticSeed, Path], features: str, metric: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seed, ws = nb
    featmat = np.load(seed.directory / f"{features}_feature_matrix.npy")
    index2artworkId = seed.item_ids.tolist()
    artworkId2index = lookups(index2artworkId)
    queries = [str(index2artworkId[i]) for i in (0, 17, 101, 219)]
    argv = ["similar", "-w", str(ws), *queries, "-k", str(K), "--features", features]
    rows = cli_json([*argv, "--metric", metric], capsys)
    ours = _lists(rows, "query")
    for q in queries:
        expected = find_similar_images(featmat, int(q), index2artworkId, artworkId2index, K, metric)
        assert ours[q] == [str(a) for a in expected], q
    # ... and it is not the embedding's answer
    embedded = _lists(cli_json([*argv[:-2], "--metric", metric], capsys), "query")
    assert any(embedded[q] != ours[q] for q in queries)


def test_recommend_on_raw_features_is_the_notebooks_recommend(
    nb: tuple[SyntheticSeed, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    seed, ws = nb
    featmat = np.load(seed.directory / "resnet50_feature_matrix.npy")
    index2artworkId = seed.item_ids.tolist()
    artworkId2index = lookups(index2artworkId)
    users = [str(u) for u in range(0, N_USERS, 3)]
    argv = ["recommend", "-w", str(ws), "--user", *users, "-k", str(K), "--history", "train"]
    ours = _lists(cli_json([*argv, "--features", "resnet50"], capsys))
    for user in users:
        expected = notebook_recommend(
            featmat, int(user), seed.train, index2artworkId, artworkId2index, K
        )
        assert ours[user] == [str(a) for a in expected], f"user {user}"


def test_feature_options_refuse_bad_input(
    nb: tuple[SyntheticSeed, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    seed, ws = nb
    item = str(seed.item_ids[0])
    assert main(["similar", "-w", str(ws), item, "--features", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no feature set 'nope'" in err and "resnet50, vgg19" in err
    argv = ["similar", "-w", str(ws), item, "--features", "resnet50", "--embedding", "hybrid"]
    assert main(argv) == 2
    assert "not both" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["recommend", "-w", str(ws), "--user", "0", "--history", "test"])
    assert exit_.value.code == 2 and "invalid choice" in capsys.readouterr().err
    # a user whose every event is held out has no train history
    ws_ = Workspace.open(ws)
    from artrec.data.catalog import Interactions

    ws_.add_interactions(
        Interactions(
            np.array(["late"], object),
            np.array([item], object),
            np.array([1.0]),
            np.array(["purchase"], object),
            np.array(["test"], object),
        )
    )
    assert main(["recommend", "-w", str(ws), "--user", "late", "--history", "train"]) == 2
    assert "in its train history" in capsys.readouterr().err
    assert main(["recommend", "-w", str(ws), "--user", "late", "-k", "3"]) == 0
