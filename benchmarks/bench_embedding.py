"""Seed data and the embedding at the notebook's scale: the notebook's way vs artrec's, side by side.

On a SIMULATED seed-format folder (default 13,297 artworks x (2048 + 4096) features and
2,919 users, written by :func:`artrec.data.synthetic.write_seed_assets`) it measures:

* ``generate``: writing the simulated assets folder;
* ``import``: :func:`artrec.data.seed.import_seed` into a fresh workspace;
* ``notebook``: the notebook's embedding, faithfully -- ``np.hstack`` of the two matrices,
  z-score with ``std[std == 0] = 1``, ``sklearn.decomposition.PCA(n_components=100)
  .fit_transform`` (scikit-learn's default solver, randomized for this shape);
* ``artrec``: :class:`artrec.embedding.Embedding` (``svd_solver="auto"``: exact, the
  certified block Krylov eigensolver on the covariance operator of the standardised data,
  streamed from the memory-mapped float32 feature files in float64 chunks, never formed);
* ``full``: the same with ``svd_solver="covariance_eigh"`` (the full LAPACK
  eigen-decomposition of the covariance, artrec's previous exact solver).

Both sides import their libraries before the clock starts (the notebook
``sklearn.decomposition``, artrec ``scipy.linalg`` and ``threadpoolctl``, which its fit
would otherwise load on first use). Each step runs in its own child process, so the peak resident memory reported is that
step's alone (``VmHWM``, which includes the ~100 MiB of Python + numpy). The notebook and
artrec run ``--repeat`` times, alternating, each run in a fresh process, with the load
average before each; every run is printed and the ratio is given per round. The assets and
the workspace are reused from ``--workdir`` when they are there. The agreement
lines compare components: artrec's auto solver against the full decomposition as the
distance of each component from the full decomposition's eigenspace of its eigenvalue
(eigenvalues within 1e-8 relative form one eigenspace), and the notebook's output against
artrec's up to sign (max abs difference / std of the component). Times on a shared
machine are noisy; compare the ratios within one run.

Run::

    .venv/bin/python benchmarks/bench_embedding.py                       # full size
    .venv/bin/python benchmarks/bench_embedding.py --items 2000 --users 300   # quick
    .venv/bin/python benchmarks/bench_embedding.py --workdir /tmp/emb --repeat 3  # cached data
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def _peak_mib() -> float:
    """This process's peak resident memory: ``VmHWM`` on Linux, else ``ru_maxrss``.

    (``ru_maxrss`` survives ``execve`` on Linux, so a spawned child could report its
    parent's peak; ``VmHWM`` is the child's own.)
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _generate(work: str, items: int, users: int, dims: tuple[int, int]) -> dict[str, float]:
    from artrec.data.synthetic import write_seed_assets

    t = time.perf_counter()
    write_seed_assets(Path(work) / "assets", items, users, dims=dims, seed=0)
    return {"seconds": time.perf_counter() - t, "peak_mib": _peak_mib()}


def _import(work: str) -> dict[str, float]:
    from artrec.data.seed import import_seed

    t = time.perf_counter()
    import_seed(Path(work) / "assets", Path(work) / "ws")
    return {"seconds": time.perf_counter() - t, "peak_mib": _peak_mib()}


def _notebook(work: str, k: int) -> dict[str, float]:
    import sklearn.decomposition

    assets = Path(work) / "assets"
    t = time.perf_counter()
    resnet50_featmat = np.load(assets / "resnet50_feature_matrix.npy")
    vgg19_featmat = np.load(assets / "vgg19_feature_matrix.npy")
    hybrid = np.hstack([resnet50_featmat, vgg19_featmat])
    mean = hybrid.mean(0)
    std = hybrid.std(0)
    std[std == 0] = 1
    z = (hybrid - mean) / std
    pca100_resnet_vgg_hybrid_featmat = sklearn.decomposition.PCA(n_components=k).fit_transform(z)
    seconds = time.perf_counter() - t
    np.save(Path(work) / "notebook.npy", pca100_resnet_vgg_hybrid_featmat)
    return {"seconds": seconds, "peak_mib": _peak_mib(), **_cpu()}


def _cpu() -> dict[str, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"user_s": usage.ru_utime, "system_s": usage.ru_stime}


def _artrec(work: str, k: int, solver: str = "auto") -> dict[str, float]:
    # the libraries the fit loads on use, imported before the clock starts, as the
    # notebook's sklearn.decomposition (which loads scipy.linalg) is
    import scipy.linalg  # noqa: F401
    import threadpoolctl  # noqa: F401

    from artrec.data.workspace import Workspace
    from artrec.embedding import Embedding
    from artrec.vectors import FeatureSet

    ws = Workspace.open(Path(work) / "ws")
    t = time.perf_counter()
    sets = [FeatureSet.load(ws.features_dir, n) for n in ("resnet50", "vgg19")]
    emb = Embedding(k, svd_solver=solver)
    vectors = emb.fit_transform(sets, "hybrid")
    seconds = time.perf_counter() - t
    np.save(Path(work) / f"artrec-{solver}.npy", vectors.matrix)
    np.savez(
        Path(work) / f"components-{solver}.npz",
        components=emb.components_,
        values=emb.explained_variance_,
    )
    return {"seconds": seconds, "peak_mib": _peak_mib(), "solver": emb.solver_, **_cpu()}


def _full(work: str, k: int) -> dict[str, float]:
    return _artrec(work, k, "covariance_eigh")


def _in_child(fn: Any, *args: Any) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        return dict(pool.apply(fn, args))


def _prepared(work: Path, items: int, users: int, dims: tuple[int, int]) -> bool:
    """Whether ``work`` already holds the assets and the imported workspace of this size."""
    marker = work / "prepared.json"
    if not marker.is_file() or not (work / "ws" / "features" / "vgg19.npy").is_file():
        return False
    return json.loads(marker.read_text()) == {"items": items, "users": users, "dims": list(dims)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=13_297)
    parser.add_argument("--users", type=int, default=2_919)
    parser.add_argument("--dims", type=int, nargs=2, default=(2048, 4096))
    parser.add_argument("--components", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of notebook vs artrec")
    parser.add_argument("--workdir", default=None, help="keep files here (default: a temp dir)")
    args = parser.parse_args()
    dims = (int(args.dims[0]), int(args.dims[1]))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        results: dict[str, Any] = {}
        if not _prepared(work, args.items, args.users, dims):
            results["generate"] = _in_child(_generate, str(work), args.items, args.users, dims)
            results["import"] = _in_child(_import, str(work))
            marker = {"items": args.items, "users": args.users, "dims": list(dims)}
            (work / "prepared.json").write_text(json.dumps(marker))
        rounds = []
        for _ in range(args.repeat):
            load = os.getloadavg()[0]
            nb_run = _in_child(_notebook, str(work), args.components)
            ar_run = _in_child(_artrec, str(work), args.components)
            rounds.append({"load": load, "notebook": nb_run, "artrec": ar_run})
        results["full"] = _in_child(_full, str(work), args.components)
        nb = np.load(work / "notebook.npy")
        ours = np.load(work / "artrec-auto.npy")
        auto = np.load(work / "components-auto.npz")
        full = np.load(work / "components-covariance_eigh.npz")
        exact_err = []
        for u, lam in zip(auto["components"], auto["values"], strict=True):
            close = np.abs(full["values"] - lam) <= 1e-8 * full["values"][0]
            basis = full["components"][close].T
            exact_err.append(float(np.linalg.norm(u - basis @ (basis.T @ u))))
    signs = np.sign((nb * ours).sum(0))
    err = np.abs(ours - nb * signs).max(0) / nb.std(0)

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"numpy {np.__version__}"
    )
    print(
        f"data: SIMULATED, {args.items} items x ({dims[0]} + {dims[1]}) float32, "
        f"{args.users} users, PCA {args.components}\n"
    )
    for name in ("generate", "import"):
        if name in results:
            r = results[name]
            print(f"{name}: {r['seconds']:.1f} s, peak RSS {r['peak_mib']:.0f} MiB")
    print(
        "\n| round | load before | notebook s (user, sys) | artrec auto s (user, sys) "
        "| notebook / artrec | peak RSS MiB notebook, artrec |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for i, r in enumerate(rounds, start=1):
        nb_r, ar_r = r["notebook"], r["artrec"]
        print(
            f"| {i} | {r['load']:.1f} | {nb_r['seconds']:.2f} ({nb_r['user_s']:.1f}, "
            f"{nb_r['system_s']:.1f}) | {ar_r['seconds']:.2f} ({ar_r['user_s']:.1f}, "
            f"{ar_r['system_s']:.1f}) | **{nb_r['seconds'] / ar_r['seconds']:.2f}x** | "
            f"{nb_r['peak_mib']:.0f}, {ar_r['peak_mib']:.0f} |"
        )
    full_r = results["full"]
    print(
        f"\nfull eigen-decomposition (covariance_eigh): {full_r['seconds']:.1f} s "
        f"(user {full_r['user_s']:.1f}, sys {full_r['system_s']:.1f}), peak RSS "
        f"{full_r['peak_mib']:.0f} MiB; solver of auto: {rounds[-1]['artrec'].get('solver')}"
    )
    print(
        "auto vs the full decomposition, max distance of a component from its eigenspace: "
        f"{max(exact_err):.1e}"
    )
    print(f"load average at the end: {os.getloadavg()}")
    cuts = [c for c in (10, 50, args.components) if c <= len(err)]
    print(
        "agreement with the notebook (max |diff| / component std, up to sign): "
        + ", ".join(f"first {c}: {err[:c].max():.1e}" for c in cuts)
    )


if __name__ == "__main__":
    main()
