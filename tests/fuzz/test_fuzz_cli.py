"""Fuzzing the command line: ``artrec.cli.main`` in-process, on small real workspaces.

Each case runs one command with generated arguments (or on generated files, or on a
damaged copy of a workspace) and holds the CLI to its rules:

* no traceback, and exit code 0 or 2 only (1 would be a bug: see ``artrec.cli``);
* exit 2 prints exactly one ``artrec: error: ...`` line of bounded length;
* exit 0 gives the right results: ``similar`` and ``recommend --liked`` are compared with
  a slow numpy reference on the stored embedding (the notebook's sum of cosine
  distances), the other commands with the rules they promise (list lengths clamped to the
  catalogue, no consumed item recommended, metrics within their ranges, ...).

The workspace is 40 real public-art paintings with an 8x8-pixel PCA embedding and a few
SIMULATED users (tests/_visrank_workspace.py).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fuzzing import case, fuzz
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' shared helpers

import itertools

from _seed_helpers import TINY_IDS, write_tiny_assets
from _visrank_workspace import build_workspace
from artrec.cli import main

N_ITEMS = 40
MAX_LINE = 1000


# -- the workspace and its reference answers --------------------------------------------------
class Reference:
    """The fuzz workspace and slow answers computed from its stored embedding."""

    def __init__(self, root: Path) -> None:
        from artrec.data.workspace import Workspace
        from artrec.vectors import FeatureSet

        self.root = root
        ws = Workspace.open(root)
        fs = FeatureSet.load(ws.embeddings_dir, "pixels")
        self.ids: list[str] = [str(i) for i in fs.item_ids.tolist()]
        self.row = {item: r for r, item in enumerate(self.ids)}
        x = np.asarray(fs.matrix, dtype=np.float64)
        unit = x / np.linalg.norm(x, axis=1, keepdims=True)
        self.cos = unit @ unit.T
        self.euclid = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2))
        events = ws.interactions()
        self.events = list(
            zip(
                map(str, events.user_ids.tolist()),
                map(str, events.item_ids.tolist()),
                map(str, events.kinds.tolist()),
                strict=True,
            )
        )
        self.users = sorted({str(u) for u in events.user_ids.tolist()})

    def profile(self, user: str, kinds: set[str]) -> set[str]:
        """The items of ``user``'s events of ``kinds``."""
        return {item for u, item, kind in self.events if u == user and kind in kinds}

    def similar(self, query: str, metric: str, include_self: bool) -> list[tuple[str, float]]:
        """Every item by similarity to ``query``, best first (ties by row)."""
        r = self.row[query]
        score = self.cos[r] if metric == "cosine" else -self.euclid[r]
        order = sorted(range(len(self.ids)), key=lambda j: (-score[j], j))
        return [(self.ids[j], float(score[j])) for j in order if include_self or j != r]

    def sum_distance(self, liked: list[str]) -> list[tuple[str, float]]:
        """The notebook's ranking: minus the sum of cosine distances to the profile."""
        rows = [self.row[i] for i in dict.fromkeys(liked)]
        total = -np.array([sum(1.0 - self.cos[j, p] for p in rows) for j in range(len(self.ids))])
        order = sorted(
            (j for j in range(len(self.ids)) if j not in rows), key=lambda j: (-total[j], j)
        )
        return [(self.ids[j], float(total[j])) for j in order]


@pytest.fixture(scope="module")
def ref(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    root = tmp_path_factory.mktemp("fuzz-cli") / "ws"
    ws = build_workspace(root, n_items=N_ITEMS)
    from artrec.vectors import FeatureSet

    fs = FeatureSet.load(ws.embeddings_dir, "pixels")
    FeatureSet("pix", fs.item_ids, np.asarray(fs.matrix), {"what": "a copy to embed"}).save(
        ws.features_dir
    )
    return Reference(root)


# -- running the CLI ----------------------------------------------------------------------------
def cli(argv: list[str]) -> tuple[int, str, str]:
    """Run ``artrec argv`` in-process; check the exit code and the error line."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: --help, usage errors
            code = exc.code if isinstance(exc.code, int) else 2
    stdout, stderr = out.getvalue(), err.getvalue()
    assert "Traceback" not in stderr, stderr[-3000:]
    assert code in (0, 2), f"exit {code}: {stderr[-1000:]}"
    if code == 2:
        errors = [line for line in stderr.splitlines() if line.startswith("artrec: ")]
        usage = not errors and stdout.startswith("usage:")  # `artrec` without a command
        assert usage or (len(errors) == 1 and errors[0].startswith("artrec: error: ")), stderr
        assert all(len(line) <= MAX_LINE for line in errors), errors
    return code, stdout, stderr


def _json(stdout: str) -> Any:
    return json.loads(stdout) if stdout.strip() else []


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-4)


def check_ranked(got: list[tuple[str, float]], reference: list[tuple[str, float]], k: int) -> None:
    """``got`` is the top ``k`` of ``reference`` (ids may swap only between near-equal scores)."""
    assert len(got) == min(k, len(reference)), (len(got), k, len(reference))
    for (gid, gs), (rid, rs) in zip(got, reference, strict=False):
        assert _close(gs, rs), (gid, gs, rid, rs)
        if gid != rid:
            assert _close(dict(reference)[gid], rs), (gid, rid)


# -- generated values ---------------------------------------------------------------------------
HOSTILE_TEXT = st.sampled_from(
    [
        "",
        " ",
        "../../x",
        "/etc/passwd",
        "x" * 300,
        "\ud800",
        "a\x00b",
        "\u202e",
        "-",
        "--",
        "nan",
        "1e400",
        "9" * 5000,
        "%s%n",
        "' OR 1=1 --",
    ]
)
INT_TEXT = st.one_of(
    st.integers(-3, 60).map(str),
    st.sampled_from(["0", "-1", "2147483648", "9" * 25, "9" * 5000, "1.5", "0x10", "", "٣"]),
)
FLOAT_TEXT = st.one_of(
    st.floats(-0.5, 1.5, allow_nan=False).map(repr),
    st.sampled_from(["nan", "inf", "-0", "1", "0", "1e-320", "x"]),
)
METRIC = st.sampled_from(
    ["cosine", "euclidean", "manhattan", "correlation", "chebyshev", "dot", "cosin", ""]
)
AGGREGATION = st.sampled_from(["sum_distance", "sum", "mean", "max", "topm_mean", "median"])
KINDS = st.lists(
    st.sampled_from(["purchase", "like", "view", "bogus", "", "purchase,like"]),
    min_size=1,
    max_size=3,
)


@st.composite
def item_ids(draw: st.DrawFn, ids: list[str], n: tuple[int, int] = (1, 3)) -> list[str]:
    known = st.sampled_from(ids)
    return draw(
        st.lists(known | known | HOSTILE_TEXT | st.text(max_size=8), min_size=n[0], max_size=n[1])
    )


def _maybe(draw: st.DrawFn, flag: str, values: st.SearchStrategy[str], p: int = 2) -> list[str]:
    return [flag, draw(values)] if draw(st.integers(0, p)) == 0 else []


# -- similar --------------------------------------------------------------------------------------
@fuzz(200)
@given(data=st.data())
def test_similar(ref: Reference, data: st.DataObject) -> None:
    case("cli/similar")
    draw = data.draw
    queries = draw(item_ids(ref.ids))
    argv = ["similar", "-w", str(ref.root), *queries, "--format", "json"]
    argv += _maybe(draw, "-k", INT_TEXT | st.integers(1, 60).map(str), 1)
    argv += _maybe(draw, "--metric", METRIC)
    argv += _maybe(draw, "--embedding", st.sampled_from(["pixels", "nope"]) | HOSTILE_TEXT, 4)
    argv += _maybe(draw, "--index", st.sampled_from(["exact", "faiss-flat", "faiss-hnsw", "x"]), 3)
    if draw(st.booleans()):
        argv.append("--include-self")
    code, out, _ = cli(argv)
    if code:
        return
    opts = _options(argv)
    k = int(opts.get("-k", "10"))
    metric = opts.get("--metric", "cosine")
    include_self = "--include-self" in argv
    rows = _json(out)
    size = min(k, N_ITEMS - (0 if include_self else 1))
    assert len(rows) == size * len(queries)  # one list per query, repeated ones too
    for n, query in enumerate(queries):
        assert query in ref.row, query  # exit 0 only for known ids
        mine = rows[n * size : (n + 1) * size]
        assert all(r["query"] == query for r in mine)
        assert [r["rank"] for r in mine] == list(range(1, size + 1))
        got = [(r["item_id"], r["score"]) for r in mine]
        if not include_self:
            assert query not in [i for i, _ in got]
        if metric in ("cosine", "euclidean") and opts.get("--index", "exact") != "faiss-hnsw":
            check_ranked(got, ref.similar(query, metric, include_self), k)


def _options(argv: list[str]) -> dict[str, str]:
    out = {}
    for a, b in itertools.pairwise(argv):
        if a.startswith("-") and not b.startswith("--"):
            out[a] = b
    return out


# -- recommend --------------------------------------------------------------------------------------
@fuzz(200)
@given(data=st.data())
def test_recommend(ref: Reference, data: st.DataObject) -> None:
    case("cli/recommend")
    draw = data.draw
    who = draw(st.sampled_from(["--liked", "--user", "--all-users"]))
    argv = ["recommend", "-w", str(ref.root), "--format", "json"]
    if who == "--liked":
        liked = draw(item_ids(ref.ids, (1, 4)))
        argv += ["--liked", *liked]
    elif who == "--user":
        argv += [
            "--user",
            *draw(st.lists(st.sampled_from(ref.users) | HOSTILE_TEXT, min_size=1, max_size=3)),
        ]
    else:
        argv.append("--all-users")
    argv += _maybe(draw, "-k", INT_TEXT | st.integers(1, 60).map(str), 1)
    argv += _maybe(draw, "--metric", METRIC, 3)
    argv += _maybe(draw, "--aggregation", AGGREGATION, 2)
    argv += _maybe(draw, "-m", INT_TEXT, 3)
    argv += _maybe(draw, "--diversify", FLOAT_TEXT, 3)
    kinds = {"purchase", "like"}
    if who != "--liked" and draw(st.integers(0, 2)) == 0:
        given = draw(KINDS)
        argv += ["--kinds", *given]
        kinds = {k for group in given for k in group.split(",") if k}
    code, out, _ = cli(argv)
    if code:
        return
    opts = _options(argv)
    k = int(opts.get("-k", "10"))
    rows = _json(out)
    key = "visitor" if who == "--liked" else "user"
    people = list(dict.fromkeys(r[key] for r in rows))
    for person in people:
        mine = [r for r in rows if r[key] == person]
        assert len(mine) <= k and [r["rank"] for r in mine] == list(range(1, len(mine) + 1))
        scores = [r["score"] for r in mine]
        if "--diversify" not in opts:
            assert all(a >= b - 1e-6 for a, b in itertools.pairwise(scores))
        consumed = set(liked) if who == "--liked" else ref.profile(person, kinds)
        assert not consumed & {r["item_id"] for r in mine}, person
    plain = (
        who == "--liked"
        and opts.get("--metric", "cosine") == "cosine"
        and opts.get("--aggregation", "sum_distance") == "sum_distance"
        and "--diversify" not in opts
    )
    if plain:
        got = [(r["item_id"], r["score"]) for r in rows]
        check_ranked(got, ref.sum_distance(liked), k)


# -- evaluate ---------------------------------------------------------------------------------------
@fuzz(120)
@given(data=st.data())
def test_evaluate(ref: Reference, data: st.DataObject) -> None:
    case("cli/evaluate")
    draw = data.draw
    argv = ["evaluate", "-w", str(ref.root), "--format", "json", "--no-record"]
    argv += ["--protocol", draw(st.sampled_from(["leave-last-out", "time-replay", "given"]))]
    argv += _maybe(draw, "-k", INT_TEXT, 1)
    argv += _maybe(
        draw, "--recommender", st.sampled_from(["visrank", "random", "popular", "artist", "x"]), 1
    )
    argv += _maybe(draw, "--seed", INT_TEXT, 2)
    argv += _maybe(draw, "--chunk-size", INT_TEXT, 3)
    argv += _maybe(draw, "--metric", METRIC, 3)
    argv += _maybe(draw, "--aggregation", AGGREGATION, 3)
    if draw(st.integers(0, 3)) == 0:
        argv += ["--kinds", *draw(KINDS)]
    if draw(st.integers(0, 3)) == 0:
        argv += [
            "--param",
            draw(st.sampled_from(["m=2", "l2=1", "m=-1", "seed=1", "x", "=1"]) | HOSTILE_TEXT),
        ]
    code, out, _ = cli(argv)
    if code:
        return
    result = json.loads(out)
    k = int(_options(argv).get("-k", "10"))
    assert result["k"] == min(k, N_ITEMS)
    assert result["n_cases"] >= 1
    assert 0.0 <= result["coverage"] <= 1.0
    for summary in result["metrics"]:
        name, mean = summary["metric"], summary["mean"]
        if name.startswith(("auc", "rr", "p@", "r@", "ndcg", "hr", "ap")) and mean is not None:
            assert -1e-9 <= mean <= 1 + 1e-9, (name, mean)


# -- writing commands on a copy -------------------------------------------------------------------
@contextlib.contextmanager
def copy_of(ref: Reference) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="fuzz-cli-") as tmp:
        root = Path(tmp) / "ws"
        shutil.copytree(ref.root, root)
        yield root


@fuzz(120)
@given(data=st.data())
def test_writing_commands(ref: Reference, data: st.DataObject) -> None:
    case("cli/write")
    draw = data.draw
    command = draw(st.sampled_from(["recommend-all", "index", "embed"]))
    with copy_of(ref) as root:
        before = {p.relative_to(root.parent) for p in root.parent.rglob("*")}
        if command == "recommend-all":
            argv = ["recommend-all", "-w", str(root), "--no-progress", "--format", "json"]
            argv += _maybe(draw, "-k", INT_TEXT, 1)
            argv += _maybe(draw, "--run", HOSTILE_TEXT | st.text(max_size=6), 1)
            argv += _maybe(draw, "--chunk-size", INT_TEXT, 2)
            argv += _maybe(draw, "--index", st.sampled_from(["visrank", "exact", "faiss-flat"]), 2)
            argv += _maybe(draw, "--candidates", INT_TEXT, 3)
            if draw(st.integers(0, 3)) == 0:
                argv += ["--kinds", *draw(KINDS)]
        elif command == "index":
            argv = ["index", "build", "-w", str(root)]
            argv += _maybe(draw, "--name", HOSTILE_TEXT | st.text(max_size=6), 1)
            argv += _maybe(
                draw,
                "--kind",
                st.sampled_from(["exact", "faiss-flat", "faiss-hnsw", "faiss-ivf", "x"]),
                1,
            )
            argv += _maybe(draw, "--metric", METRIC, 2)
            argv += _maybe(
                draw,
                "--param",
                st.sampled_from(
                    ["M=8", "M=99999999999", "nlist=-1", "nlist=4", "ef_search=0", "x=1"]
                ),
                2,
            )
        else:
            argv = ["embed", "-w", str(root), "--features", "pix"]
            argv += _maybe(draw, "--name", HOSTILE_TEXT | st.text(max_size=6), 1)
            argv += _maybe(draw, "--n-components", INT_TEXT, 1)
        code, out, _ = cli(argv)
        after = {p.relative_to(root.parent) for p in root.parent.rglob("*")}
        # nothing is ever written outside the workspace
        assert all(p.parts[0] == "ws" for p in after - before), after - before
        if code == 0 and command == "recommend-all":
            run = json.loads(out)[0]
            rows = np.load(Path(run["directory"]) / "rows.npy", mmap_mode="r")
            k = int(_options(argv).get("-k", "10"))
            assert rows.shape == (run["users"], min(k, N_ITEMS))
            assert Path(run["directory"]).resolve().is_relative_to(root.resolve())


# -- import-seed on generated assets folders ------------------------------------------------------
@fuzz(120)
@given(data=st.data())
def test_import_seed(data: st.DataObject) -> None:
    case("cli/import-seed")
    draw = data.draw
    with tempfile.TemporaryDirectory(prefix="fuzz-seed-") as tmp:
        assets = write_tiny_assets(Path(tmp) / "assets")
        target = draw(
            st.sampled_from(
                [
                    "resnet50_feature_matrix.npy",
                    "index2artworkId.json",
                    "past_transactions.pickle",
                    "artworkImageUrlsCache.json",
                    "ground_truth.pickle",
                    None,
                ]
            )
        )
        if target is not None:
            path = assets / target
            blob = bytearray(path.read_bytes())
            how = draw(st.sampled_from(["flip", "cut", "deep", "huge-int", "surrogate", "dir"]))
            if how == "flip" and blob:
                at = draw(st.integers(0, len(blob) - 1))
                blob[at] ^= 1 << draw(st.integers(0, 7))
                path.write_bytes(bytes(blob))
            elif how == "cut":
                path.write_bytes(bytes(blob[: draw(st.integers(0, len(blob)))]))
            elif how == "deep" and target.endswith(".json"):
                path.write_text("[" * 3000 + "]" * 3000)
            elif how == "huge-int" and target == "index2artworkId.json":
                path.write_text(json.dumps([int("9" * 400), *TINY_IDS[1:]]))
            elif how == "surrogate" and target == "index2artworkId.json":
                path.write_text('["\\ud800", 17, 9003, 42]')
            elif how == "dir":
                path.unlink()
                path.mkdir()
        argv = ["import-seed", str(assets), "-w", str(Path(tmp) / "ws"), "--format", "json"]
        argv += _maybe(draw, "--max-events", INT_TEXT, 2)
        if draw(st.booleans()):
            argv.append("--allow-nan")
        if draw(st.booleans()):
            argv.append("--drop-missing")
        code, out, _ = cli(argv)
        if code == 0:
            report = json.loads(out)[0]
            con = sqlite3.connect(Path(tmp) / "ws" / "artrec.db")
            try:
                n_items = con.execute("SELECT COUNT(*) FROM items").fetchone()[0]
                n_events = con.execute("SELECT COUNT(*) FROM interactions").fetchone()[0]
            finally:
                con.close()
            assert report["items"] == n_items
            assert report["train_events"] + report["test_events"] == n_events


# -- damaged workspaces ----------------------------------------------------------------------------
@fuzz(120)
@given(data=st.data())
def test_damaged_workspace(ref: Reference, data: st.DataObject) -> None:
    case("cli/damaged")
    draw = data.draw
    with copy_of(ref) as root:
        files = sorted(p for p in root.rglob("*") if p.is_file())
        path = draw(st.sampled_from(files))
        blob = bytearray(path.read_bytes())
        how = draw(st.sampled_from(["flip", "flip-head", "cut", "empty", "remove", "garbage"]))
        if how in ("flip", "flip-head") and blob:
            top = min(len(blob), 128) if how == "flip-head" else len(blob)
            at = draw(st.integers(0, top - 1))
            blob[at] ^= 1 << draw(st.integers(0, 7))
            path.write_bytes(bytes(blob))
        elif how == "cut":
            path.write_bytes(bytes(blob[: draw(st.integers(0, max(len(blob) - 1, 0)))]))
        elif how == "empty":
            path.write_bytes(b"")
        elif how == "remove":
            path.unlink()
        else:
            path.write_bytes(draw(st.binary(min_size=1, max_size=64)))
        query = ref.ids[draw(st.integers(0, N_ITEMS - 1))]
        argv = draw(
            st.sampled_from(
                [
                    ["similar", "-w", str(root), query, "--format", "json"],
                    ["recommend", "-w", str(root), "--all-users", "--format", "json"],
                    ["recommend", "-w", str(root), "--liked", query, "--format", "json"],
                    [
                        "evaluate",
                        "-w",
                        str(root),
                        "--protocol",
                        "leave-last-out",
                        "--format",
                        "json",
                    ],
                    ["index", "info", "-w", str(root)],
                ]
            )
        )
        code, out, _ = cli(argv)
        if code == 0 and argv[0] == "similar":
            rows = _json(out)
            assert len(rows) == 10 and query not in [r["item_id"] for r in rows]
            assert all(math.isfinite(r["score"]) for r in rows)
