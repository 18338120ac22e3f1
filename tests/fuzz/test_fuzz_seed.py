"""Fuzzing the notebook ``assets/`` loader with generated folders."""

from __future__ import annotations

import json
import pickle
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from fuzzing import case, fuzz, outcome
from hypothesis import given
from hypothesis import strategies as st
from pickles import USERS, dumps, reference_user_items

from artrec.data.seed import load_seed_assets

_F32_MAX = float(np.finfo(np.float32).max)


@st.composite
def assets(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(0, 6))
    ids: list[Any] = draw(st.lists(st.integers(0, 10**9), min_size=n, max_size=n, unique=True))
    if draw(st.integers(0, 4)) == 0 and ids:  # break one id
        ids[draw(st.integers(0, len(ids) - 1))] = draw(
            st.sampled_from([True, "", None, 1.5, [1], ids[0]]) | st.text(max_size=3)
        )
    dims = {name: draw(st.integers(0, 3)) for name in ("resnet50", "vgg19")}
    rows = {name: len(ids) + draw(st.sampled_from([0, 0, 0, 0, 1, -1])) for name in dims}
    dtypes = {name: draw(st.sampled_from([np.float32, np.float64, np.int32])) for name in dims}
    poison = draw(st.sampled_from([None, None, None, np.nan, np.inf, 1e300]))
    users = {s: draw(USERS) for s in ("train", "test")}
    urls = draw(
        st.dictionaries(
            st.sampled_from([str(i) for i in ids if isinstance(i, int)] or ["0"]),
            st.fixed_dictionaries({"medium": st.none() | st.text(max_size=5) | st.integers()})
            | st.none()
            | st.text(max_size=3),
            max_size=4,
        )
        | st.lists(st.integers(), max_size=2)
    )
    return {
        "ids": ids,
        "dims": dims,
        "rows": rows,
        "dtypes": dtypes,
        "poison": poison,
        "users": users,
        "urls": urls,
        "protocol": draw(st.integers(0, pickle.HIGHEST_PROTOCOL)),
    }


def _matrix(spec: dict[str, Any], name: str) -> np.ndarray:
    rows, dim = max(spec["rows"][name], 0), spec["dims"][name]
    m = (np.arange(rows * dim) % 7).reshape(rows, dim).astype(spec["dtypes"][name])
    poison = spec["poison"]
    fits = not (poison == 1e300 and m.dtype == np.float32)  # numpy itself would make it inf
    if poison is not None and m.size and m.dtype.kind == "f" and fits:
        m.flat[m.size // 2] = poison
    return m


def expected_valid(spec: dict[str, Any], matrices: dict[str, np.ndarray]) -> bool:
    ids = spec["ids"]
    for v in ids:
        if isinstance(v, bool) or not isinstance(v, (int, str)) or v == "":
            return False
    if len({str(v) for v in ids}) != len(ids):
        return False
    for m in matrices.values():
        if m.dtype.kind != "f" or m.shape[1] == 0 or m.shape[0] != len(ids):
            return False
        if not np.isfinite(m).all() or (np.abs(m) > _F32_MAX).any():
            return False
    if any(reference_user_items(spec["users"][s]) is None for s in ("train", "test")):
        return False
    urls = spec["urls"]
    if not isinstance(urls, dict):
        return False
    for key in (str(v) for v in ids):
        entry = urls.get(key)
        if entry is None:
            continue
        if not isinstance(entry, dict):
            return False
        medium = entry.get("medium")
        if medium is not None and not isinstance(medium, str):
            return False
    return True


@fuzz(250)
@given(spec=assets())
def test_generated_assets_folders(spec: dict[str, Any]) -> None:
    case("seed/assets")
    matrices = {name: _matrix(spec, name) for name in ("resnet50", "vgg19")}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, m in matrices.items():
            np.save(folder / f"{name}_feature_matrix.npy", m)
        (folder / "index2artworkId.json").write_text(json.dumps(spec["ids"]))
        (folder / "artworkImageUrlsCache.json").write_text(json.dumps(spec["urls"]))
        for split, file in (("train", "past_transactions.pickle"), ("test", "ground_truth.pickle")):
            (folder / file).write_bytes(dumps(spec["users"][split], spec["protocol"]))
        ok, loaded = outcome(lambda: load_seed_assets(folder))
        valid = expected_valid(spec, matrices)
        assert ok == valid, loaded
        if not ok:
            return
        assert loaded.catalog.item_ids.tolist() == [str(v) for v in spec["ids"]]
        for fs in loaded.feature_sets:
            assert np.array_equal(np.asarray(fs.matrix), matrices[fs.name])
        n_events = sum(
            len(items)
            for s in ("train", "test")
            for items in reference_user_items(spec["users"][s]).values()  # type: ignore[union-attr]
        )
        assert len(loaded.interactions.user_ids) == n_events
