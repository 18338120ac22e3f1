"""Saved models: round trip, fingerprints, staleness, and nothing unsafe on load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from artrec.data.catalog import Catalog, Interactions
from artrec.errors import DataError
from artrec.recommend.base import train_data_from
from artrec.recommend.baselines import PopularRecommender
from artrec.recommend.store import (
    data_fingerprint,
    load_model,
    read_model_info,
    save_model,
    saved_models,
)


def _data() -> tuple[Catalog, Interactions]:
    catalog = Catalog(np.array(["a", "b", "c", "d"], dtype=object))
    log = Interactions(
        np.array(["u1", "u1", "u2", "u3"], dtype=object),
        np.array(["b", "c", "b", "d"], dtype=object),
        np.array([1.0, 2.0, 3.0, np.nan]),
    )
    return catalog, log


def test_round_trip_gives_the_same_scores(tmp_path: Path) -> None:
    catalog, log = _data()
    model = PopularRecommender().fit(train_data_from(catalog, log))
    fp = data_fingerprint(catalog.item_ids, log)
    folder = save_model(tmp_path, "pop", model, fp, extra={"refresh": "artrec tune -w ws"})
    assert sorted(p.name for p in folder.iterdir()) == ["arrays.npz", "model.json"]
    loaded, info = load_model(tmp_path, "pop")
    profiles = [np.array([0]), np.array([1, 2])]
    np.testing.assert_array_equal(loaded.score(profiles), model.score(profiles))
    assert loaded.score(profiles)[0].tolist() == [0.0, 2.0, 1.0, 1.0]
    assert info.kind == "popular" and info.fingerprint == fp
    assert info.libraries["numpy"] == np.__version__
    assert info.staleness(fp) is None
    assert [m.name for m in saved_models(tmp_path)] == ["pop"]


def test_fingerprint_ignores_event_order_and_sees_every_change() -> None:
    catalog, log = _data()
    fp = data_fingerprint(catalog.item_ids, log)
    shuffled = log.select(np.ones(4, bool))
    shuffled = Interactions(
        shuffled.user_ids[::-1], shuffled.item_ids[::-1], shuffled.timestamps[::-1]
    )
    assert data_fingerprint(catalog.item_ids, shuffled) == fp
    moved = Interactions(log.user_ids, log.item_ids, np.array([1.0, 2.0, 3.5, np.nan]))
    assert data_fingerprint(catalog.item_ids, moved).log != fp.log
    grown = np.array(["a", "b", "c", "d", "e"], dtype=object)
    assert data_fingerprint(grown, log).catalog != fp.catalog
    assert data_fingerprint(grown, log).log == fp.log


def test_a_stale_model_says_what_changed_and_how_to_refresh(tmp_path: Path) -> None:
    catalog, log = _data()
    model = PopularRecommender().fit(train_data_from(catalog, log))
    save_model(
        tmp_path,
        "pop",
        model,
        data_fingerprint(catalog.item_ids, log),
        extra={"refresh": "artrec tune -w ws"},
    )
    info = read_model_info(tmp_path, "pop")
    now = data_fingerprint(np.array(["a", "b", "c", "d", "e"], dtype=object), log)
    message = info.staleness(now)
    assert message is not None
    assert "catalogue (4 items then, 5 now)" in message
    assert "interaction log" not in message
    assert message.endswith("refresh it with `artrec tune -w ws`")


def test_loading_never_imports_what_a_file_names(tmp_path: Path) -> None:
    catalog, log = _data()
    model = PopularRecommender().fit(train_data_from(catalog, log))
    folder = save_model(tmp_path, "pop", model, data_fingerprint(catalog.item_ids, log))
    meta = json.loads((folder / "model.json").read_text())
    meta["kind"] = "os:system"
    (folder / "model.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="unknown kind 'os:system'"):
        load_model(tmp_path, "pop")


def test_object_arrays_are_never_unpickled(tmp_path: Path) -> None:
    catalog, log = _data()
    model = PopularRecommender().fit(train_data_from(catalog, log))
    folder = save_model(tmp_path, "pop", model, data_fingerprint(catalog.item_ids, log))
    np.savez(folder / "arrays.npz", popularity=np.array([object()], dtype=object))
    with pytest.raises(DataError, match="cannot read arrays.npz"):
        load_model(tmp_path, "pop")


@pytest.mark.parametrize("name", ["../x", "a/b", ".hidden", "", "x" * 101])
def test_model_names_are_plain_names(tmp_path: Path, name: str) -> None:
    catalog, log = _data()
    model = PopularRecommender().fit(train_data_from(catalog, log))
    with pytest.raises(DataError):
        save_model(tmp_path, name, model, data_fingerprint(catalog.item_ids, log))
    assert not any(tmp_path.iterdir())


def test_saving_again_replaces_the_model_whole(tmp_path: Path) -> None:
    catalog, log = _data()
    fp = data_fingerprint(catalog.item_ids, log)
    save_model(tmp_path, "pop", PopularRecommender().fit(train_data_from(catalog, log)), fp)
    fewer = log.select(np.array([True, False, False, False]))
    save_model(tmp_path, "pop", PopularRecommender().fit(train_data_from(catalog, fewer)), fp)
    loaded, _ = load_model(tmp_path, "pop")
    assert loaded.score([np.array([0])])[0].tolist() == [0.0, 1.0, 0.0, 0.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pop"]
