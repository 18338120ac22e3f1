"""The notebook's recommend() vs artrec's batch VisRank vs the floor, side by side in one process.

One command::

    .venv/bin/python benchmarks/bench_notebook_vs_batch.py

1. Generates a SIMULATED seed-format ``assets/`` folder of 13,297 artworks x (2048 + 4096)
   features and 2,919 users with 1-20 past purchases each
   (:func:`artrec.data.synthetic.write_seed_assets`), imports it into a workspace
   (:func:`artrec.data.seed.import_seed`) and builds the hybrid PCA-100 embedding
   (:func:`artrec.embedding.build_embedding`), as the notebook's
   ``pca100_resnet_vgg_hybrid_featmat``. All of this is cached under ``--workdir``.
2. Times three contenders on the same data, in this process, one after the other:

   * **notebook**: the notebook's own ``recommend()`` (``tests/_notebook.py``, the copy the
     equivalence test checks): per user one scikit-learn ``pairwise_distances`` call per
     past purchase over the whole catalogue, then a Python loop pushing every artwork's
     sum of distances onto a heap; no images or plots. It needs minutes for all users on 2
     cores, so it runs on a seeded uniform random sample of ``--sample`` users (0: all) and
     its time is scaled to all users by the user count (an unbiased estimate for a
     uniform sample).
   * **artrec**: :class:`artrec.recommend.visrank.VisRankRecommender` (cosine,
     ``sum_distance``, float64) fitted and ranking ALL users, ids mapped to rows and back.
   * **floor**: the least work the ranking needs: the catalogue normalised once, each
     user's normalised profile vectors summed, one matrix product of those sums against
     the catalogue (float64, as artrec's default, so the lists can be compared exactly),
     purchases set to ``-inf``, ``argpartition`` top-k and a sort of those k; users go in
     chunks of 256 so the score block stays in cache (the same chunk size as artrec's).

   The fast two run ``--repeat`` times, interleaved; the best time of each is reported.
3. Asserts identical top-10 lists: artrec vs the floor for every user, artrec vs the
   notebook for every sampled user; exits 1 otherwise.

Prints the results as JSON and a Markdown table, and writes ``results.json`` in the workdir.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _notebook import lookups, notebook_recommend

N_ITEMS = 13_297
N_USERS = 2_919
DIMS = (2048, 4096)
K = 10


# -- data ------------------------------------------------------------------------------------
def prepare_workspace(workdir: Path, fresh: bool, seed: int) -> dict[str, Any]:
    """Generate, import and embed the simulated dataset (cached); returns setup timings."""
    from artrec.data.seed import import_seed
    from artrec.data.synthetic import write_seed_assets
    from artrec.data.workspace import Workspace
    from artrec.embedding import build_embedding

    assets, ws_dir = workdir / "assets", workdir / "ws"
    done = workdir / "prepared.json"
    if done.is_file() and not fresh:
        return dict(json.loads(done.read_text()), cached=True)
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    t0 = time.perf_counter()
    write_seed_assets(
        assets, N_ITEMS, N_USERS, dims=DIMS, purchases=(1, 20), test_purchases=(1, 3), seed=seed
    )
    t1 = time.perf_counter()
    ws = Workspace.create(ws_dir)
    import_seed(assets, ws)
    t2 = time.perf_counter()
    build_embedding(ws, ["resnet50", "vgg19"], "hybrid", n_components=100)
    t3 = time.perf_counter()
    info = {
        "generate_s": round(t1 - t0, 2),
        "import_s": round(t2 - t1, 2),
        "embed_s": round(t3 - t2, 2),
        "seed": seed,
    }
    done.write_text(json.dumps(info))
    return dict(info, cached=False)


def load_inputs(workdir: Path) -> tuple[np.ndarray, list[int], dict[int, list[int]]]:
    """The notebook's three inputs: the PCA-100 matrix (index2artworkId order, float64 as
    scikit-learn's PCA returns it), index2artworkId and past_transactions."""
    from artrec.data.safe_pickle import load_pickle
    from artrec.data.workspace import Workspace
    from artrec.embedding import load_embedding

    assets = workdir / "assets"
    index2artworkId = [int(i) for i in json.loads((assets / "index2artworkId.json").read_text())]
    raw = load_pickle(assets / "past_transactions.pickle")
    past = dict(raw) if isinstance(raw, dict) else dict(enumerate(raw))
    emb = load_embedding(Workspace.open(workdir / "ws"), "hybrid").align(index2artworkId)
    return np.asarray(emb.matrix, dtype=np.float64), index2artworkId, past


# -- the contenders ---------------------------------------------------------------------------
def run_notebook(
    featmat: np.ndarray, index2artworkId: list[int], past: dict[int, list[int]], users: list[int]
) -> tuple[float, dict[str, list[int]]]:
    artworkId2index = lookups(index2artworkId)
    t0 = time.perf_counter()
    lists = {
        str(u): notebook_recommend(featmat, u, past, index2artworkId, artworkId2index, K)
        for u in users
    }
    return time.perf_counter() - t0, lists


def run_artrec(
    featmat: np.ndarray, index2artworkId: list[int], past: dict[int, list[int]]
) -> tuple[float, dict[str, list[int]]]:
    from artrec.recommend.base import TrainData
    from artrec.recommend.visrank import VisRankRecommender
    from artrec.vectors import as_id_array

    vectors = featmat.astype(np.float32)  # as stored in the workspace
    t0 = time.perf_counter()
    ids = as_id_array(index2artworkId)
    row_of = {item_id: r for r, item_id in enumerate(ids.tolist())}
    users = sorted(past)
    profiles = [np.array([row_of[str(a)] for a in past[u]], dtype=np.int64) for u in users]
    rec = VisRankRecommender("cosine", "sum_distance").fit(TrainData(len(ids), vectors))
    ranking = rec.rank(profiles, K)
    lists = {
        str(u): [int(ids[r]) for r in rows if r >= 0]
        for u, rows in zip(users, ranking.rows.tolist(), strict=True)
    }
    return time.perf_counter() - t0, lists


def run_floor(
    featmat: np.ndarray, index2artworkId: list[int], past: dict[int, list[int]], chunk: int = 256
) -> tuple[float, dict[str, list[int]]]:
    vectors = featmat.astype(np.float32)  # as stored in the workspace
    t0 = time.perf_counter()
    row_of = {item_id: r for r, item_id in enumerate(index2artworkId)}
    users = sorted(past)
    sizes = np.array([len(past[u]) for u in users])
    rows = np.array([row_of[a] for u in users for a in past[u]], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    unit = vectors.astype(np.float64)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    n_items = len(unit)
    scores = np.empty((chunk, n_items))
    top = np.empty((len(users), K), dtype=np.int64)
    for lo in range(0, len(users), chunk):  # users in chunks: the scores stay in cache
        hi = min(len(users), lo + chunk)
        block_rows = rows[starts[lo] : starts[hi]]
        sums = np.add.reduceat(unit[block_rows], starts[lo:hi] - starts[lo])
        out = scores[: hi - lo]
        np.matmul(sums, unit.T, out=out)
        out[np.repeat(np.arange(hi - lo), sizes[lo:hi]), block_rows] = -np.inf
        part = np.argpartition(out, n_items - K, axis=1)[:, n_items - K :]
        part_scores = np.take_along_axis(out, part, axis=1)
        top[lo:hi] = np.take_along_axis(part, np.lexsort((part, -part_scores), axis=1), axis=1)
    lists = {
        str(u): [index2artworkId[r] for r in row]
        for u, row in zip(users, top.tolist(), strict=True)
    }
    return time.perf_counter() - t0, lists


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/artrec-bench/notebook-vs-batch"))
    parser.add_argument(
        "--sample", type=int, default=292, help="users the notebook runs on (0: all)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of artrec and the floor")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fresh", action="store_true", help="regenerate the dataset")
    args = parser.parse_args()

    setup = prepare_workspace(args.workdir, args.fresh, args.seed)
    featmat, index2artworkId, past = load_inputs(args.workdir)
    all_users = sorted(past)
    if args.sample <= 0 or args.sample >= len(all_users):
        sample = all_users
    else:
        rng = np.random.default_rng(args.seed)
        sample = sorted(int(u) for u in rng.choice(all_users, size=args.sample, replace=False))
    load_start = os.getloadavg()

    artrec_times, floor_times = [], []
    for _ in range(max(1, args.repeat)):
        seconds, floor_lists = run_floor(featmat, index2artworkId, past)
        floor_times.append(seconds)
        seconds, artrec_lists = run_artrec(featmat, index2artworkId, past)
        artrec_times.append(seconds)
    nb_seconds, nb_lists = run_notebook(featmat, index2artworkId, past, sample)
    load_end = os.getloadavg()

    vs_floor = [u for u in map(str, all_users) if artrec_lists[u] != floor_lists[u]]
    vs_notebook = [u for u in map(str, sample) if artrec_lists[u] != nb_lists[u]]
    nb_all = nb_seconds * len(all_users) / len(sample)
    best_artrec, best_floor = min(artrec_times), min(floor_times)
    results = {
        "setup": setup,
        "n_items": len(index2artworkId),
        "n_users": len(all_users),
        "notebook_users_timed": len(sample),
        "notebook_sample_s": round(nb_seconds, 2),
        "notebook_all_users_s": round(nb_all, 1),
        "artrec_all_users_s": [round(t, 4) for t in artrec_times],
        "floor_all_users_s": [round(t, 4) for t in floor_times],
        "per_user_ms": {
            "notebook": round(1000 * nb_seconds / len(sample), 2),
            "artrec": round(1000 * best_artrec / len(all_users), 4),
            "floor": round(1000 * best_floor / len(all_users), 4),
        },
        "speedup_vs_notebook": round(nb_all / best_artrec, 0),
        "artrec_over_floor": round(best_artrec / best_floor, 2),
        "identical_vs_notebook": f"{len(sample) - len(vs_notebook)} of {len(sample)}",
        "identical_vs_floor": f"{len(all_users) - len(vs_floor)} of {len(all_users)}",
        "load_average_start_end": [round(load_start[0], 2), round(load_end[0], 2)],
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
            f"{platform.python_version()}, numpy {np.__version__}"
        ),
    }
    (args.workdir / "results.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    n = len(all_users)
    print(
        f"\n| contender | users timed | time, all {n} users | per user |\n|---|---|---:|---:|\n"
        f"| notebook recommend() | {len(sample)} sampled ({nb_seconds:.1f} s) | "
        f"{nb_all:,.1f} s (scaled) | {results['per_user_ms']['notebook']:,} ms |\n"
        f"| artrec batch VisRank | all | {best_artrec:.3f} s | "
        f"{results['per_user_ms']['artrec']} ms |\n"
        f"| floor (GEMM + argpartition) | all | {best_floor:.3f} s | "
        f"{results['per_user_ms']['floor']} ms |\n\n"
        f"artrec vs notebook: {results['speedup_vs_notebook']:,.0f}x faster; "
        f"artrec / floor: {results['artrec_over_floor']}x; identical top-{K} lists: "
        f"{results['identical_vs_notebook']} sampled users (notebook), "
        f"{results['identical_vs_floor']} users (floor)"
    )
    if vs_floor or vs_notebook:
        print(f"MISMATCH: notebook {vs_notebook[:10]}, floor {vs_floor[:10]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
