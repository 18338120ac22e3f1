"""Hostile input: bounded one-line errors, plain names, and limits on what an input allocates.

Each test feeds one of the inputs that once crashed or misled artrec (nesting thousands
deep, integers of thousands of digits, lone surrogates, names with separators, a
one-bit flip in an ``.npy`` header, float64 values beyond float32, a 7.7 KB pickle
that expands to a million purchases, ``k = 2**31``) and checks the refusal, its message
and that nothing was written.
"""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from _seed_helpers import write_pickle, write_tiny_assets
from _visrank_workspace import build_workspace
from artrec.cli import main
from artrec.data.safe_pickle import load_user_items, loads_pickle
from artrec.data.seed import import_seed, load_seed_assets
from artrec.data.tabular import load_feature_matrix, load_interactions_file
from artrec.data.workspace import Workspace
from artrec.errors import ArtrecError, DataError, LimitError, check_choice, short_repr
from artrec.fileio import check_name, parse_json, read_json
from artrec.limits import (
    DEFAULT_MAX_EVENTS,
    MAX_EVENTS_ENV,
    MAX_NAME_LENGTH,
    check_structure,
    max_events,
)
from artrec.ranking import clamp_k
from artrec.recommend.base import TrainData
from artrec.recommend.baselines import PopularRecommender
from artrec.vectors import FeatureSet, as_id_array, load_matrix, load_npy


def deep_list(depth: int) -> list[object]:
    root: list[object] = []
    node = root
    for _ in range(depth - 1):
        child: list[object] = []
        node.append(child)
        node = child
    return root


# -- one-line messages -----------------------------------------------------------------------


class _Hostile:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (10**5000, "<int of about 5001 digits>"),
        (-(10**400), "<negative int of about 401 digits>"),
        (12345, "12345"),
        ("\ud800", "'\\ud800'"),
        ([[1, [2, [3, [4]]]]], "[[1, [2, [...]]]]"),
        (_Hostile(), "<_Hostile instance at"),
    ],
    ids=["huge-int", "huge-negative-int", "int", "surrogate", "nested", "hostile-repr"],
)
def test_short_repr_is_bounded_and_never_raises(value: object, expected: str) -> None:
    assert short_repr(value).startswith(expected)
    assert len(short_repr(value)) <= 80


def test_short_repr_of_huge_and_deep_values_stays_short() -> None:
    for value in ("x" * 10**6, b"y" * 10**6, deep_list(100_000), list(range(10**5))):
        text = short_repr(value)
        assert len(text) <= 80 and "\n" not in text
    assert len(short_repr("z" * 500, 20)) == 20


def test_check_choice_lists_the_known_values() -> None:
    assert check_choice("b", ("a", "b"), "colour") == "b"
    with pytest.raises(DataError, match=r"^unknown colour 'x+\.\.\.x+'; choose one of a, b$"):
        check_choice("x" * 10_000, ("a", "b"), "colour")
    with pytest.raises(DataError, match="unknown colour array"):
        check_choice(np.zeros(3), ("a",), "colour")  # comparing an array never raises


# -- names that become paths -----------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["hybrid", "resnet50", "pca-64_v2", "a.b", "x+y=z@1", "_private", "7", "A" * 100]
)
def test_plain_names_pass(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        ("../../../tmp/x", "no path separator"),
        ("a/b", "no path separator"),
        ("a\\b", "no path separator"),
        ("..", "no '..'"),
        ("a..b", "no '..'"),
        (".hidden", "starting with a letter"),
        ("-rf", "starting with a letter"),
        ("a b", "use letters"),
        ("a\x00b", "use letters"),
        ("caf\u00e9", "use letters"),
        ("\ud800", "use letters"),
        ("x" * (MAX_NAME_LENGTH + 1), f"at most {MAX_NAME_LENGTH}"),
        ("y" * 300, "300 characters"),
        (7, "expected text"),
    ],
)
def test_names_with_separators_dots_or_too_long_are_refused(name: object, reason: str) -> None:
    with pytest.raises(DataError, match="invalid embedding name") as info:
        check_name(name, what="embedding name")
    message = str(info.value)
    assert reason in message and len(message) < 200 and "\n" not in message


def test_every_store_refuses_a_path_as_a_name_and_writes_nothing(tmp_path: Path) -> None:
    from artrec.embedding import Embedding
    from artrec.index.exact import ExactIndex
    from artrec.index.store import save_index

    outside = tmp_path / "outside"
    ws = Workspace.create(tmp_path / "ws")
    fs = FeatureSet("f", ["a", "b", "c"], np.eye(3, dtype=np.float32))
    bad = "../../outside/x"
    with pytest.raises(DataError, match="invalid feature set name"):
        FeatureSet(bad, fs.item_ids, fs.matrix).save(ws.features_dir)
    with pytest.raises(DataError, match="invalid feature set name"):
        FeatureSet.load(ws.features_dir, bad)
    index = ExactIndex("cosine").build(fs.matrix, fs.item_ids)
    with pytest.raises(DataError, match="invalid index name"):
        save_index(ws, index, embedding="f", kind="exact", name=bad)
    with pytest.raises(DataError, match="invalid index name"):
        save_index(ws, index, embedding="f", kind="exact", name="x" * 300)
    emb = Embedding(2).fit([fs])
    with pytest.raises(DataError, match="invalid embedding name"):
        emb.save(ws.embeddings_dir, bad)
    with pytest.raises(DataError, match="invalid embedding name"):
        Embedding.load(ws.embeddings_dir, bad)
    assert not outside.exists()
    assert not any(p.is_file() for p in ws.index_dir.rglob("*")) if ws.index_dir.exists() else True


def test_cli_index_build_with_a_path_as_name_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = build_workspace(tmp_path / "w", n_items=40)
    before = sorted(p for p in tmp_path.rglob("*"))
    code = main(["index", "build", "-w", str(ws.root), "--name", "../../../x"])
    err = capsys.readouterr().err
    assert code == 2
    assert "invalid index name '../../../x'" in err and len(err.strip().splitlines()) == 1
    assert sorted(p for p in tmp_path.rglob("*")) == before
    code = main(["index", "build", "-w", str(ws.root), "--name", "n" * 300])
    err = capsys.readouterr().err
    assert code == 2 and "300 characters" in err and len(err) < 300


def test_cli_similar_with_a_huge_k_returns_the_catalogue(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = build_workspace(tmp_path / "w", n_items=40)
    item = ws.catalog().item_ids[0]
    code = main(["similar", "-w", str(ws.root), item, "-k", "2147483648", "--format", "json"])
    rows = json.loads(capsys.readouterr().out)
    assert code == 0 and len(rows) == 39  # every other item, not 16 GiB of padding


# -- JSON ------------------------------------------------------------------------------------


def test_json_nested_thousands_deep_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 3000 + "]" * 3000)
    with pytest.raises(LimitError, match=r"^deep\.json: nests deeper than 100 levels$"):
        read_json(path, label="deep.json")
    path.write_text("[" * 101 + "]" * 101)  # parses fine, but deeper than the bound
    with pytest.raises(LimitError, match="nests deeper than 100"):
        read_json(path)
    path.write_text("[" * 100 + "]" * 100)
    assert check_structure(read_json(path), "x") == 100


def test_json_huge_numbers_surrogates_and_sizes(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"^ids\.json: a number has too many digits$"):
        parse_json("[" + "9" * 5000 + "]", "ids.json")
    assert parse_json("[" + "9" * 4000 + "]", "ids.json")[0] == int("9" * 4000)
    with pytest.raises(DataError, match=r"not valid Unicode \(lone surrogate '\\ud800'\)"):
        parse_json('["\\ud800"]', "ids.json")
    assert parse_json('["\\ud83d\\ude00"]', "x") == ["\U0001f600"]  # a proper pair is fine
    path = tmp_path / "big.json"
    path.write_text("[" + "1," * 600 + "1]")
    with pytest.raises(LimitError, match=r"1,203 bytes, more than the 1,000 allowed"):
        read_json(path, max_bytes=1000)
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(DataError, match="not a regular file"):
        read_json(tmp_path / "dir.json")


# -- pickles ---------------------------------------------------------------------------------


def test_a_pickle_that_expands_by_shared_references_is_refused() -> None:
    shared = list(range(1000))
    data = pickle.dumps({u: shared for u in range(1000)}, protocol=4)
    assert len(data) < 8000  # the 7.7 KB that once became 1,000,000 events
    with pytest.raises(LimitError, match=r"expands to more than [\d,]+ values through shared"):
        loads_pickle(data, source="past_transactions.pickle")
    honest = pickle.dumps({u: list(range(u, u + 10)) for u in range(1000)}, protocol=4)
    assert len(loads_pickle(honest)) == 1000  # the same shape without sharing loads


def test_pickle_depth_cycles_and_huge_ints() -> None:
    deep = b"\x80\x02" + b"]" * 3000 + b"a" * 2999 + b"."  # lists nested 3,000 deep
    with pytest.raises(LimitError, match=r"^deep\.pickle: nests deeper than 100 levels$"):
        loads_pickle(deep, source="deep.pickle")
    cycle: list[object] = []
    cycle.append(cycle)
    with pytest.raises(DataError, match="reference cycle"):
        loads_pickle(pickle.dumps(cycle))
    huge = pickle.dumps({0: [10**5000]})
    with pytest.raises(DataError, match=r"item id <int of about 5001 digits> is not an int id"):
        from artrec.data.safe_pickle import validate_user_items

        validate_user_items(loads_pickle(huge), "gt.pickle")


def test_max_events_argument_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "gt.pickle"
    write_pickle(path, {u: list(range(10)) for u in range(5)})  # 50 events
    assert sum(map(len, load_user_items(path).values())) == 50
    with pytest.raises(LimitError) as info:
        load_user_items(path, max_events=49)
    assert str(info.value) == (
        "gt.pickle: more than 49 events; if this is expected, raise the limit with "
        f"max_events= or the {MAX_EVENTS_ENV} environment variable"
    )
    monkeypatch.setenv(MAX_EVENTS_ENV, "40")
    assert max_events() == 40
    with pytest.raises(LimitError, match="more than 40 events"):
        load_user_items(path)
    assert len(load_user_items(path, max_events=50)) == 5  # the argument wins
    monkeypatch.setenv(MAX_EVENTS_ENV, "lots")
    with pytest.raises(ArtrecError, match=f"{MAX_EVENTS_ENV} must be a positive integer"):
        load_user_items(path)
    monkeypatch.delenv(MAX_EVENTS_ENV)
    assert max_events() == DEFAULT_MAX_EVENTS
    with pytest.raises(ArtrecError, match="max_events must be a positive integer"):
        max_events(0)


def test_interaction_files_respect_max_events(tmp_path: Path) -> None:
    csv_path = tmp_path / "log.csv"
    csv_path.write_text("user_id,item_id\n" + "".join(f"u{i},i{i}\n" for i in range(20)))
    assert len(load_interactions_file(csv_path, max_events=20).user_ids) == 20
    with pytest.raises(LimitError, match=r"log\.csv: more than 19 events"):
        load_interactions_file(csv_path, max_events=19)
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    table = pa.table({"user_id": [f"u{i}" for i in range(20)], "item_id": ["x"] * 20})
    pq.write_table(table, tmp_path / "log.parquet")
    with pytest.raises(LimitError, match=r"log\.parquet: more than 10 events"):
        load_interactions_file(tmp_path / "log.parquet", max_events=10)


def test_seed_import_over_the_event_limit_writes_nothing(tmp_path: Path) -> None:
    assets = write_tiny_assets(tmp_path / "assets")
    with pytest.raises(LimitError, match="more than 5 events"):
        import_seed(assets, tmp_path / "ws", max_events=5)
    assert not (tmp_path / "ws").exists()
    assert load_seed_assets(assets, max_events=10).interactions.user_ids.size == 10


# -- ids -------------------------------------------------------------------------------------


def test_ids_must_be_bounded_valid_unicode() -> None:
    assert as_id_array([1, "b", np.int64(3), 4.0]).tolist() == ["1", "b", "3", "4"]
    with pytest.raises(DataError, match=r"id '\\ud800' \(position 1\) is not valid Unicode"):
        as_id_array(["ok", "\ud800"])
    with pytest.raises(DataError, match=r"\(position 0\) is longer than 256 characters"):
        as_id_array(["z" * 257])
    with pytest.raises(DataError, match=r"<int of about 5001 digits> \(position 0\) is longer"):
        as_id_array([10**5000])


def test_a_surrogate_id_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    assets = write_tiny_assets(tmp_path / "assets")
    (assets / "index2artworkId.json").write_text('[501, 17, "\\ud800", 42]')
    with pytest.raises(DataError, match=r"index2artworkId\.json: .*not valid Unicode"):
        import_seed(assets, tmp_path / "ws")
    assert not (tmp_path / "ws").exists()
    with pytest.raises(DataError, match="not valid Unicode"):
        FeatureSet("f", ["a", "\udfff"], np.zeros((2, 2), np.float32))


def test_a_url_cache_that_is_a_directory_is_an_error(tmp_path: Path) -> None:
    assets = write_tiny_assets(tmp_path / "assets")
    (assets / "artworkImageUrlsCache.json").unlink()
    (assets / "artworkImageUrlsCache.json").mkdir()
    with pytest.raises(DataError, match=r"artworkImageUrlsCache\.json: not a regular file"):
        load_seed_assets(assets)


# -- .npy ------------------------------------------------------------------------------------


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_a_one_bit_flip_in_the_header_shape_is_refused(tmp_path: Path) -> None:
    good = np.arange(40 * 64, dtype=np.float32).reshape(40, 64)
    raw = npy_bytes(good)
    flipped = raw.replace(b"(40, 64)", b"(40, 44)")  # '6' -> '4' is one bit: 0x36 -> 0x34
    assert bin(ord("6") ^ ord("4")).count("1") == 1 and flipped != raw
    path = tmp_path / "resnet50_feature_matrix.npy"
    path.write_bytes(flipped)
    for mmap in (True, False):
        with pytest.raises(DataError, match=r"header says shape \(40, 44\) of float32"):
            load_npy(path, mmap=mmap)
    ids = tmp_path / "ids.json"
    ids.write_text(json.dumps(list(range(40))))
    with pytest.raises(DataError, match="header says shape"):
        load_feature_matrix(path, ids)
    path.write_bytes(raw)
    assert np.array_equal(load_npy(path), good)


@pytest.mark.parametrize(
    ("header", "pattern"),
    [
        (b"(-1, 64)", "negative dimension"),
        (b"(40, 64,", "not a readable .npy array"),
        (b"(4e1, 64)", "not a readable .npy array"),
        (b"(40, 640)", "header says shape"),
        (b"(99999999999999, 99999999999999)", "header says shape"),
    ],
)
def test_broken_header_shapes_are_refused(tmp_path: Path, header: bytes, pattern: str) -> None:
    raw = npy_bytes(np.zeros((40, 64), np.float32)).replace(b"(40, 64)", header)
    path = tmp_path / "m.npy"
    path.write_bytes(raw)
    with pytest.raises(DataError, match=pattern):
        load_npy(path)


def test_zero_columns_objects_and_empty_arrays(tmp_path: Path) -> None:
    path = tmp_path / "m.npy"
    np.save(path, np.zeros((40, 0), np.float32))
    with pytest.raises(DataError, match=r"the matrix has no columns \(shape \(40, 0\)\)"):
        load_matrix(path)
    with pytest.raises(DataError, match="matrix has no columns"):
        FeatureSet("f", [str(i) for i in range(40)], np.zeros((40, 0), np.float32))
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="holds Python objects"):
        load_npy(path)
    np.save(path, np.zeros((0, 8), np.float32))
    assert load_matrix(path).shape == (0, 8)  # no rows is fine (and not memory-mapped)
    (tmp_path / "d.npy").mkdir()
    with pytest.raises(DataError, match="not a regular file"):
        load_npy(tmp_path / "d.npy")


def test_float64_beyond_float32_is_refused_naming_file_and_row(tmp_path: Path) -> None:
    m = np.ones((4, 3))
    m[2, 1] = 1e300
    assets = write_tiny_assets(tmp_path / "assets", resnet=m)
    with pytest.raises(
        DataError, match=r"resnet50_feature_matrix\.npy: item '9003' \(row 2\) holds 1e\+300"
    ):
        import_seed(assets, tmp_path / "ws")
    assert not (tmp_path / "ws").exists()
    np.save(tmp_path / "m.npy", m)
    (tmp_path / "ids.txt").write_text("a\nb\nc\nd\n")
    with pytest.raises(DataError, match=r"m\.npy: item 'c' \(row 2\) holds 1e\+300"):
        load_feature_matrix(tmp_path / "m.npy", tmp_path / "ids.txt")
    with pytest.raises(DataError, match=r"feature set 'f': item 'c' \(row 2\)"):
        FeatureSet("f", ["a", "b", "c", "d"], m).save(tmp_path / "out")
    assert not (tmp_path / "out").exists()
    m[2, 1] = -3e38  # fits float32
    FeatureSet("f", ["a", "b", "c", "d"], m).save(tmp_path / "out")


# -- k clamped to the catalogue -----------------------------------------------------------


def test_clamp_k() -> None:
    assert clamp_k(2**31, 40) == 40 and clamp_k(5, 40) == 5 and clamp_k(5, None) == 5
    assert clamp_k(np.int64(7), 0) == 1
    for bad in (0, -1, 2.5, True, "3", None):
        with pytest.raises(DataError, match="k must be a positive integer"):
            clamp_k(bad, 10)


def test_recommender_rank_and_evaluation_clamp_k() -> None:
    from artrec.data.catalog import Catalog, Interactions
    from artrec.evaluation.evaluator import evaluate
    from artrec.evaluation.protocols import make_split

    rec = PopularRecommender().fit(TrainData(6, interactions_rows=np.array([0, 0, 1, 2])))
    ranking = rec.rank([np.array([0])], 2**31)
    assert ranking.rows.shape == (1, 6)
    assert ranking.rows[0].tolist()[:5] == [1, 2, 3, 4, 5] and ranking.rows[0, 5] == -1
    catalog = Catalog(np.array([f"i{i}" for i in range(6)], dtype=object))
    users = np.array(["u", "u", "v", "v"], dtype=object)
    items = np.array(["i0", "i1", "i2", "i3"], dtype=object)
    log = Interactions(users, items, np.array([1.0, 2.0, 1.0, 2.0]))
    split = make_split("leave-last-out", log, catalog)
    result = evaluate(PopularRecommender(), catalog, split, k=10**8)
    assert result.k == 6 and "p@6" in result.summary
