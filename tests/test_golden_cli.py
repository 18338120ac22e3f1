"""Golden outputs: every CLI command, run on small workspaces built here, prints what it printed
when the golden files were recorded.

Two workspaces: one imported from SIMULATED notebook-format assets (``write_seed_assets``:
no titles, no artists, a given train/test split), and one of 120 real public-art works with
a pixel embedding and hand-written SIMULATED purchases (``_visrank_workspace``). The
commands' tables, CSV and JSON are compared with ``tests/golden/<case>.txt``: text exactly,
numbers at the precision they are printed with (one unit of the last printed digit, so a
rounding boundary may flip), JSON floats to a relative 1e-6. Paths of the temporary
directories are replaced by ``<ROOT>``, and timings by ``<T>``.

Record the files again (only after a deliberate change of output) with
``ARTREC_UPDATE_GOLDEN=1 pytest tests/test_golden_cli.py``.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

import pytest

from _visrank_workspace import build_workspace
from artrec.cli import main
from artrec.data.synthetic import write_seed_assets

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("ARTREC_UPDATE_GOLDEN") == "1"
#: JSON keys whose values are timings or creation times (masked).
TIMING_KEYS = frozenset({"seconds", "build_s", "created", "saved", "items_per_s"})
_NUMBER = re.compile(r"-?\d+\.\d+(?:e[-+]?\d+)?|-?\d+(?:e[-+]?\d+)?")


# -- normalising and comparing ---------------------------------------------------------------
def _mask_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "<T>" if k in TIMING_KEYS else _mask_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_json(v) for v in value]
    return value


def normalise(text: str, root: Path) -> str:
    """Temporary paths replaced by ``<ROOT>``; JSON documents re-dumped with timings masked."""
    text = text.replace(str(root), "<ROOT>")
    stripped = text.strip()
    if stripped[:1] in "[{":
        return json.dumps(_mask_json(json.loads(stripped)), indent=1, sort_keys=True) + "\n"
    return text


def _json_equal(a: Any, b: Any, where: str = "$") -> None:
    if isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, (int, float)) and isinstance(b, (int, float)), where
        assert math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9), f"{where}: {a} != {b}"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a) == sorted(b), f"{where}: keys differ"
        for key in a:
            _json_equal(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{where}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _json_equal(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def _text_equal(got: str, want: str) -> None:
    """Equal text, numbers within one unit of their last printed digit."""
    got_lines, want_lines = got.splitlines(), want.splitlines()
    assert len(got_lines) == len(want_lines), f"{len(got_lines)} lines, expected {len(want_lines)}"
    for n, (g, w) in enumerate(zip(got_lines, want_lines, strict=True), start=1):
        g_nums, w_nums = _NUMBER.findall(g), _NUMBER.findall(w)
        assert _NUMBER.sub("#", g) == _NUMBER.sub("#", w), f"line {n}:\n{g}\n{w}"
        for a, b in zip(g_nums, w_nums, strict=True):
            decimals = len(b.split(".")[1].split("e")[0]) if "." in b else 0
            tol = 1.01 * 10.0**-decimals if decimals else 0.0
            assert abs(float(a) - float(b)) <= tol * max(1.0, abs(float(b)) if "e" in b else 1.0), (
                f"line {n}: {a} != {b}\n{g}\n{w}"
            )


def check(case: str, text: str) -> None:
    """Compare ``text`` with ``tests/golden/<case>.txt`` (or record it)."""
    path = GOLDEN / f"{case}.txt"
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.is_file(), f"no golden file {path}; record with ARTREC_UPDATE_GOLDEN=1"
    want = path.read_text(encoding="utf-8")
    if want.strip()[:1] in "[{":
        _json_equal(json.loads(text), json.loads(want))
    else:
        _text_equal(text, want)


def run(argv: list[str], root: Path, capsys: pytest.CaptureFixture[str]) -> str:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    return normalise(out, root)


# -- the seed-format workspace ---------------------------------------------------------------
@pytest.fixture(scope="module")
def seed_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("golden_seed")
    write_seed_assets(
        root / "assets", n_items=150, n_users=30, dims=(64, 96), purchases=(2, 8), seed=11
    )
    return root


SEED_STEPS: list[tuple[str, list[str]]] = [
    ("import_seed", ["import-seed", "{assets}", "-w", "{ws}", "--format", "json"]),
    (
        "embed",
        [
            "embed",
            "-w",
            "{ws}",
            "--features",
            "resnet50",
            "vgg19",
            "--n-components",
            "12",
            "--format",
            "json",
        ],
    ),
    (
        "embed_components",
        [
            "embed",
            "-w",
            "{ws}",
            "--features",
            "vgg19",
            "--n-components",
            "5",
            "--name",
            "vgg5",
            "--no-default",
            "--components",
        ],
    ),
    ("similar_table", ["similar", "-w", "{ws}", "{item0}", "{item1}", "-k", "5"]),
    (
        "similar_json",
        [
            "similar",
            "-w",
            "{ws}",
            "{item2}",
            "-k",
            "4",
            "--metric",
            "euclidean",
            "--format",
            "json",
        ],
    ),
    (
        "similar_other_embedding",
        [
            "similar",
            "-w",
            "{ws}",
            "{item0}",
            "-k",
            "3",
            "--embedding",
            "vgg5",
            "--metric",
            "correlation",
            "--include-self",
        ],
    ),
    ("recommend_users", ["recommend", "-w", "{ws}", "--user", "0", "1", "-k", "5"]),
    (
        "recommend_liked_json",
        [
            "recommend",
            "-w",
            "{ws}",
            "--liked",
            "{item0}",
            "{item3}",
            "-k",
            "4",
            "--aggregation",
            "topm_mean",
            "-m",
            "2",
            "--format",
            "json",
        ],
    ),
    (
        "recommend_all_users_csv",
        [
            "recommend",
            "-w",
            "{ws}",
            "--all-users",
            "-k",
            "3",
            "--metric",
            "manhattan",
            "--aggregation",
            "max",
            "--format",
            "csv",
        ],
    ),
    (
        "recommend_diversified",
        [
            "recommend",
            "-w",
            "{ws}",
            "--user",
            "2",
            "-k",
            "5",
            "--diversify",
            "0.5",
            "--kinds",
            "purchase",
        ],
    ),
    ("evaluate_table", ["evaluate", "-w", "{ws}", "--protocol", "given", "-k", "5", "--no-record"]),
    (
        "evaluate_popular_json",
        ["evaluate", "-w", "{ws}", "--recommender", "popular", "-k", "5", "--format", "json"],
    ),
    (
        "evaluate_max_csv",
        [
            "evaluate",
            "-w",
            "{ws}",
            "--metric",
            "euclidean",
            "--aggregation",
            "max",
            "-k",
            "5",
            "--format",
            "csv",
            "--no-record",
        ],
    ),
    (
        "evaluate_random",
        [
            "evaluate",
            "-w",
            "{ws}",
            "--recommender",
            "random",
            "--seed",
            "3",
            "--aggregation",
            "mean",
            "-k",
            "5",
            "--no-record",
        ],
    ),
    (
        "compare_table",
        [
            "compare",
            "-w",
            "{ws}",
            "--protocol",
            "given",
            "-k",
            "5",
            "--metrics",
            "cosine",
            "euclidean",
            "--aggregations",
            "sum_distance",
            "max",
            "--baselines",
            "random",
            "popular",
            "--no-record",
        ],
    ),
    (
        "compare_json",
        [
            "compare",
            "-w",
            "{ws}",
            "-k",
            "5",
            "--embeddings",
            "hybrid",
            "vgg5",
            "--aggregations",
            "topm_mean",
            "--baseline",
            "popular",
            "--format",
            "json",
        ],
    ),
    (
        "compare_csv",
        ["compare", "-w", "{ws}", "-k", "3", "--baselines", "--format", "csv", "--no-record"],
    ),
    ("index_build", ["index", "build", "-w", "{ws}", "--index", "exact", "--format", "json"]),
    (
        "index_build_faiss",
        [
            "index",
            "build",
            "-w",
            "{ws}",
            "--index",
            "faiss-flat",
            "--embedding",
            "vgg5",
            "--format",
            "json",
        ],
    ),
    ("index_info", ["index", "info", "-w", "{ws}", "--format", "json"]),
    (
        "recommend_all_visrank",
        ["recommend-all", "-w", "{ws}", "-k", "4", "--no-progress", "--format", "json"],
    ),
    (
        "recommend_all_index",
        [
            "recommend-all",
            "-w",
            "{ws}",
            "-k",
            "4",
            "--index",
            "exact",
            "--candidates",
            "15",
            "--aggregation",
            "topm_mean",
            "--split",
            "train",
            "--no-progress",
            "--format",
            "json",
        ],
    ),
    (
        "recommend_all_faiss",
        [
            "recommend-all",
            "-w",
            "{ws}",
            "-k",
            "3",
            "--index",
            "faiss-flat",
            "--embedding",
            "vgg5",
            "--aggregation",
            "max",
            "--include-sold",
            "--run",
            "faiss-run",
            "--no-progress",
            "--format",
            "json",
        ],
    ),
]


def test_seed_workspace_commands(seed_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from artrec.data.workspace import Workspace
    from artrec.recommend.batch import load_batch

    ws = seed_root / "ws"
    values = {"assets": str(seed_root / "assets"), "ws": str(ws)}
    for case, argv in SEED_STEPS:
        if case == "similar_table":
            items = Workspace.open(ws).catalog().item_ids.tolist()
            values.update({f"item{i}": items[i * 7] for i in range(4)})
        text = run([a.format(**values) for a in argv], seed_root, capsys)
        check(f"seed_{case}", text)
    # the batch runs' contents, read back
    for run_dir in sorted((ws / "recommendations").iterdir()):
        batch = load_batch(run_dir)
        users = batch.user_ids.tolist()
        lists = {u: batch.for_user(u) for u in users[:6]}
        check(f"seed_batch_{run_dir.name}", json.dumps(lists, indent=1, sort_keys=True) + "\n")
    # the report (text and numbers; embedded images and the date left out)
    out = seed_root / "report.html"
    code = main(["report", "-w", str(ws), "-o", str(out)])
    capsys.readouterr()
    assert code == 0
    check("seed_report", report_text(out.read_text(encoding="utf-8"), seed_root))


def report_text(html: str, root: Path) -> str:
    """The report's text, one tag per line, with images, the date and paths masked."""
    html = html.replace(str(root), "<ROOT>")
    html = re.sub(r"data:image/[a-z]+;base64,[A-Za-z0-9+/=]+", "<IMG>", html)
    html = re.sub(r"Generated [^<]* from", "Generated <DATE> from", html)
    html = re.sub(r"<style>.*?</style>", "", html, flags=re.S)
    return re.sub(r">\s*<", ">\n<", html) + "\n"


# -- the public-art workspace ----------------------------------------------------------------
@pytest.fixture(scope="module")
def art_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("golden_art")
    build_workspace(root / "ws")
    return root


ART_STEPS: list[tuple[str, list[str]]] = [
    ("similar", ["similar", "-w", "{ws}", "{item0}", "-k", "5"]),
    ("recommend_user", ["recommend", "-w", "{ws}", "--user", "u1", "u2", "-k", "4"]),
    (
        "recommend_liked_json",
        ["recommend", "-w", "{ws}", "--liked", "{item1}", "-k", "3", "--format", "json"],
    ),
    (
        "evaluate_artist",
        [
            "evaluate",
            "-w",
            "{ws}",
            "--protocol",
            "leave-last-out",
            "--recommender",
            "artist",
            "-k",
            "3",
            "--kinds",
            "purchase",
            "like",
            "--no-record",
        ],
    ),
    (
        "compare",
        [
            "compare",
            "-w",
            "{ws}",
            "--protocol",
            "leave-last-out",
            "-k",
            "3",
            "--embeddings",
            "pixels",
            "--kinds",
            "purchase",
            "like",
            "--no-record",
        ],
    ),
    (
        "recommend_all",
        [
            "recommend-all",
            "-w",
            "{ws}",
            "-k",
            "3",
            "--kinds",
            "purchase,like",
            "--no-progress",
            "--format",
            "json",
        ],
    ),
]


def test_public_art_workspace_commands(art_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from artrec.data.workspace import Workspace

    ws = art_root / "ws"
    items = Workspace.open(ws).catalog().item_ids.tolist()
    values = {"ws": str(ws), "item0": items[7], "item1": items[40]}
    for case, argv in ART_STEPS:
        text = run([a.format(**values) for a in argv], art_root, capsys)
        check(f"art_{case}", text)
