"""The notebook's recommendation loop vs artrec's batch VisRank (issue 2).

One command::

    .venv/bin/python benchmarks/bench_notebook_vs_batch.py

1. Generates a SIMULATED seed-format ``assets/`` folder of 13,297 artworks x (2048 + 4096)
   features and 2,919 users with 1-20 past purchases each
   (:func:`artrec.data.synthetic.write_seed_assets`), imports it into a workspace
   (:func:`artrec.data.seed.import_seed`) and builds the hybrid PCA-100 embedding
   (:func:`artrec.embedding.build_embedding`), as the notebook's
   ``pca100_resnet_vgg_hybrid_featmat``. All of this is cached under ``--workdir``.
2. Times (a) the notebook's ``recommend()`` loop, reproduced faithfully (per user, per
   artwork, per past purchase one ``scipy.spatial.distance.cosine`` call, sort ascending,
   skip what the user bought, first 10; images and plots left out), and (b) artrec's batch
   path (:class:`artrec.recommend.visrank.VisRankRecommender`, cosine, ``sum_distance``) for
   ALL users.
3. The notebook loop needs hours for all 2,919 users on a 2-core machine, so it runs on a
   seeded random sample of ``--sample`` users and its time is extrapolated linearly to all
   users by the number of (artwork, past purchase) distance evaluations, which is what its
   cost is proportional to (``time_all = time_sample * pairs_all / pairs_sample``).
4. Asserts that both give identical top-10 lists on every sampled user, and reports the
   speed ratio and the peak memory of each contender. Each contender runs in its own
   child process, so its peak resident set size (``VmHWM``) is its own; the peak of
   Python/numpy allocations (``tracemalloc``) is measured in a separate, traced pass so the
   tracing overhead never enters the timings.

Prints a Markdown section for docs/benchmarks.md and writes ``results.json`` in the workdir.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

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
    import shutil

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
    sklearn's PCA returns it), index2artworkId and past_transactions."""
    from artrec.data.safe_pickle import load_pickle
    from artrec.data.workspace import Workspace
    from artrec.embedding import load_embedding

    assets = workdir / "assets"
    index2artworkId = [int(i) for i in json.loads((assets / "index2artworkId.json").read_text())]
    raw = load_pickle(assets / "past_transactions.pickle")
    past = dict(raw) if isinstance(raw, dict) else dict(enumerate(raw))
    emb = load_embedding(Workspace.open(workdir / "ws"), "hybrid").align(index2artworkId)
    return np.asarray(emb.matrix, dtype=np.float64), index2artworkId, past


# -- (a) the notebook ----------------------------------------------------------------------------
def notebook_recommend(
    featmat: np.ndarray, index2artworkId: list[int], past_transactions: Any, user: int, k: int = K
) -> list[int]:
    """The notebook's recommend(), reproduced faithfully (same as
    tests/test_notebook_equivalence.py): sum of SciPy cosine distances, sorted ascending."""
    from scipy.spatial import distance

    artworkId2index = {artwork_id: i for i, artwork_id in enumerate(index2artworkId)}
    user_artworks = past_transactions[user]
    user_indexes = [artworkId2index[artwork_id] for artwork_id in user_artworks]
    distances = []
    for i in range(len(featmat)):
        d = 0.0
        for j in user_indexes:
            d += distance.cosine(featmat[i], featmat[j])
        distances.append((d, i))
    distances = sorted(distances)
    recommended = []
    for _d, i in distances:
        artwork_id = index2artworkId[i]
        if artwork_id in user_artworks:
            continue
        recommended.append(artwork_id)
        if len(recommended) == k:
            break
    return recommended


def run_notebook(workdir: Path, users: list[int], trace: bool) -> dict[str, Any]:
    featmat, index2artworkId, past = load_inputs(workdir)
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    lists = {str(u): notebook_recommend(featmat, index2artworkId, past, u) for u in users}
    elapsed = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] if trace else None
    pairs = len(featmat) * sum(len(past[u]) for u in users)
    return {"seconds": elapsed, "lists": lists, "pairs": pairs, "tracemalloc_peak": peak}


# -- (b) artrec's batch path ----------------------------------------------------------------------
def run_batch(workdir: Path, trace: bool) -> dict[str, Any]:
    from artrec.recommend.base import TrainData
    from artrec.recommend.visrank import VisRankRecommender
    from artrec.vectors import as_id_array

    featmat, index2artworkId, past = load_inputs(workdir)
    vectors = featmat.astype(np.float32)  # as stored in the workspace
    del featmat
    if trace:
        tracemalloc.start()
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
    elapsed = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] if trace else None
    pairs = len(ids) * sum(len(past[u]) for u in users)
    return {"seconds": elapsed, "lists": lists, "pairs": pairs, "tracemalloc_peak": peak}


def peak_rss_kib() -> int:
    """This process's peak resident set size in KiB.

    ``VmHWM`` from ``/proc/self/status`` belongs to this process image alone. (On Linux,
    ``getrusage().ru_maxrss`` survives ``execve`` and would report the parent's peak.)
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def child(args: argparse.Namespace) -> int:
    """Run one contender in this (child) process and write its result as JSON."""
    users = [int(u) for u in args.users.split(",")] if args.users else []
    if args.contender == "notebook":
        result = run_notebook(args.workdir, users, args.trace)
    else:
        result = run_batch(args.workdir, args.trace)
    result["peak_rss_kib"] = peak_rss_kib()
    Path(args.out).write_text(json.dumps(result))
    return 0


def spawn(workdir: Path, contender: str, users: list[int], trace: bool) -> dict[str, Any]:
    out = workdir / f"{contender}{'-traced' if trace else ''}.json"
    cmd = [
        sys.executable,
        __file__,
        "--workdir",
        str(workdir),
        "--contender",
        contender,
        "--out",
        str(out),
        "--users",
        ",".join(map(str, users)),
    ]
    if trace:
        cmd.append("--trace")
    subprocess.run(cmd, check=True)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/artrec-bench/notebook-vs-batch"))
    parser.add_argument("--sample", type=int, default=24, help="users the notebook loop runs on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fresh", action="store_true", help="regenerate the dataset")
    parser.add_argument("--contender", choices=("notebook", "batch"), help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--users", default="", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.contender:
        return child(args)

    setup = prepare_workspace(args.workdir, args.fresh, args.seed)
    _, _, past = load_inputs(args.workdir)
    rng = np.random.default_rng(args.seed)
    sample = sorted(int(u) for u in rng.choice(sorted(past), size=args.sample, replace=False))

    batch = spawn(args.workdir, "batch", [], trace=False)
    batch_traced = spawn(args.workdir, "batch", [], trace=True)
    notebook = spawn(args.workdir, "notebook", sample, trace=False)
    notebook_traced = spawn(args.workdir, "notebook", sample[:2], trace=True)

    mismatched = [u for u in map(str, sample) if notebook["lists"][u] != batch["lists"][u]]
    if mismatched:
        print(f"MISMATCH on users {mismatched}", file=sys.stderr)
        return 1
    total_pairs = batch["pairs"]
    nb_all = notebook["seconds"] * total_pairs / notebook["pairs"]
    ratio = nb_all / batch["seconds"]
    per_user_nb = notebook["seconds"] / len(sample)
    per_user_batch = batch["seconds"] / len(batch["lists"])
    results = {
        "setup": setup,
        "n_items": N_ITEMS,
        "n_users": len(batch["lists"]),
        "sample_users": len(sample),
        "notebook_sample_s": round(notebook["seconds"], 2),
        "notebook_all_users_extrapolated_s": round(nb_all, 1),
        "batch_all_users_s": round(batch["seconds"], 3),
        "speed_ratio": round(ratio, 0),
        "per_user_ms": {
            "notebook": round(1000 * per_user_nb, 1),
            "batch": round(1000 * per_user_batch, 3),
        },
        "identical_top10_users": len(sample),
        "peak_rss_mib": {
            "notebook": round(notebook["peak_rss_kib"] / 1024, 1),
            "batch": round(batch["peak_rss_kib"] / 1024, 1),
        },
        "tracemalloc_peak_mib": {
            "notebook": round(notebook_traced["tracemalloc_peak"] / 2**20, 2),
            "batch": round(batch_traced["tracemalloc_peak"] / 2**20, 2),
        },
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, numpy {np.__version__}",
    }
    (args.workdir / "results.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    print(
        f"\n| contender | users timed | time, all {results['n_users']} users | per user | "
        "peak RSS | peak traced allocations |\n|---|---|---|---|---|---|\n"
        f"| notebook loop (SciPy, per pair) | {len(sample)} sampled | "
        f"{nb_all:,.0f} s (extrapolated) | {1000 * per_user_nb:,.0f} ms | "
        f"{results['peak_rss_mib']['notebook']} MiB | {results['tracemalloc_peak_mib']['notebook']} MiB |\n"
        f"| artrec batch VisRank | all | {batch['seconds']:.2f} s | "
        f"{1000 * per_user_batch:.2f} ms | {results['peak_rss_mib']['batch']} MiB | "
        f"{results['tracemalloc_peak_mib']['batch']} MiB |\n\n"
        f"speed ratio: {ratio:,.0f}x; identical top-10 lists on all {len(sample)} sampled users"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
