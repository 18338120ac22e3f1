"""Load benchmark of the artrec server: 32 concurrent clients over loopback.

Starts ``artrec serve`` (uvicorn, a fixed number of worker processes) on 127.0.0.1 over the
full 5,736-painting public-art workspace, then drives ``GET /items/{id}/similar`` and
``POST /recommendations`` with ``--clients`` concurrent keep-alive clients for a fixed
number of requests each, and reports throughput, latency percentiles, errors, server CPU per
request (all server processes) and the peak resident memory (``VmHWM``) of each worker
process.

The workspace is ``--workspace`` when given (e.g. the demo workspace, whose default
embedding is the EfficientNet + hand-engineered hybrid). Otherwise one is built in
``--cache`` from ``$ARTREC_DATA_HOME/public-art`` with a cheap real embedding:
thumbnails downsampled to 16x16 RGB, PCA to 100 dimensions (the demo embedding's size),
L2-normalised. The embedding used is printed with the results.

Two more measurements:

* ``GET /users/{id}/recommendations`` with an ``Authorization: Bearer`` admin token (the
  identity check of every ``/users`` route), for the user ids of the workspace's log;
* ``/health`` under load: ``--probe-clients`` (8) clients POST recommendations while one
  more connection asks ``GET /health`` every 10 ms; its latency percentiles show whether
  recommendation work blocks the event loop.

``--src DIR`` (repeatable) measures the server of each source tree in turn (its
``PYTHONPATH``), in one run, and prints the ratios to the first: a before/after comparison
on the same machine at the same time. ``--recommender NAME`` (repeatable; ``serve
--recommender``) does the same for who answers recommendations: ``visrank``, or the
workspace's chosen model (``auto`` after ``artrec tune``; the server's default when the
workspace has one), so VisRank and the tuned hybrid are measured side by side. The
workspace is never modified by the benchmark itself, but a server may write its signing
secret there: give it a copy.

Every run records its environment with the results, as the server process sees it
(``server_environment``: the versions of artrec, numpy, scipy, FastAPI, Starlette, uvicorn,
pydantic, SQLAlchemy, FAISS, scikit-learn; the BLAS/OpenMP libraries numpy and scipy load
and their thread counts; the thread variables), the load average at the start, the
workers and clients, and the workspace's size (items, users, interactions, database size,
the embedding's name, shape and dtype).

Bounded: loopback only, a fixed request count, a timeout per request, and the server
process is always stopped.

Usage::

    python benchmarks/bench_server_load.py [--workers 2] [--clients 32] [--requests 4000]
        [--workspace COPY] [--src OLD/src --src NEW/src]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

EMBEDDING = "pixels_pca100"


def build_workspace(root: Path, data_home: Path) -> Path:
    """The full public-art workspace with the pixel-PCA(100) embedding, built once."""
    from PIL import Image

    from artrec.data.public_art import fetch_public_art
    from artrec.data.workspace import Workspace
    from artrec.vectors import FeatureSet

    if (root / "artrec.db").is_file() and EMBEDDING in FeatureSet.available(root / "embeddings"):
        return root
    ws = fetch_public_art(data_home, root, download_if_missing=False)
    catalog = Workspace.open(root).catalog()
    assert catalog.image is not None
    rows = []
    for path in catalog.image.tolist():
        with Image.open(path) as img:
            small = img.convert("RGB").resize((16, 16), Image.Resampling.BILINEAR)
        rows.append(np.asarray(small, dtype=np.float64).ravel() / 255.0)
    x = np.stack(rows)
    x -= x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    z = x @ vt[:100].T
    z /= np.linalg.norm(z, axis=1, keepdims=True) + 1e-12
    FeatureSet(
        EMBEDDING,
        catalog.item_ids,
        z.astype(np.float32),
        {"model": "16x16 RGB pixels + PCA(100) + L2", "note": "server load benchmark"},
    ).save(ws.embeddings_dir)
    ws.set_meta("default_embedding", EMBEDDING)
    return root


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds (user + system) used so far by process ``root`` and its descendants."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += stats[pid][1]
        todo.extend(p for p, (ppid, _) in stats.items() if ppid == pid)
    return total


def worker_peak_rss_mib(root: int) -> list[float]:
    """Peak resident set size (``VmHWM``, MiB) of each process below ``root``, largest first.

    ``root`` is the ``artrec serve`` process; with several uvicorn workers it supervises
    them, with one it serves itself (then it is the only entry).
    """
    import psutil

    procs = psutil.Process(root).children(recursive=True) or [psutil.Process(root)]
    peaks = []
    for proc in procs:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024.0)
    return sorted(peaks, reverse=True)


def client_cpu_seconds() -> float:
    """CPU seconds used so far by this (the client) process."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    workspace: Path,
    port: int,
    workers: int,
    src: Path | None = None,
    token: str = "",
    recommender: str | None = None,
    request_threads: int | None = None,
) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "artrec",
        "serve",
        "-w",
        str(workspace),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        *(["--recommender", recommender] if recommender else []),
        *(["--request-threads", str(request_threads)] if request_threads else []),
    ]
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    if token:
        env["ARTREC_ADMIN_TOKEN"] = token  # a server without an identity model ignores it
    return subprocess.Popen(cmd, start_new_session=True, env=env)


def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> dict[str, Any]:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with code {proc.returncode}")
        try:
            res = httpx.get(base + "/health", timeout=2.0)
            if res.status_code == 200:
                return dict(res.json())
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit("server did not become ready")


class _Connection:
    """A minimal HTTP/1.1 keep-alive client connection (the benchmark's load generator).

    httpx costs about as much CPU per request as the server itself; on a 2-core machine the
    load generator would then steal half the CPU from the server it measures. This client
    writes a request and reads a ``Content-Length`` response, nothing more.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: Any, headers: str = ""
    ) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        payload = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{headers}"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        head += f"Content-Length: {len(payload)}\r\n\r\n"
        self.writer.write(head.encode() + payload)
        status_line = await self.reader.readuntil(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        length, close = 0, False
        while True:
            line = await self.reader.readuntil(b"\r\n")
            if line == b"\r\n":
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        data = await self.reader.readexactly(length)
        if close:
            await self.close()
        return status, data

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


#: Seconds between one wave of client connections closing and the next opening. The
#: server's parent process gives each new connection to the worker holding the fewest open
#: ones, and a worker counts a connection closed once its event loop has read the client's
#: FIN; 32 connections closed and 32 opened within the same few milliseconds can find one
#: worker that has not read its FINs yet, and the new wave is then split unevenly (10/22 was
#: seen), which sets that phase's p99. Real clients do not leave and come back in lockstep.
SETTLE_SECONDS = 0.25


async def drive(
    base: str,
    make_request: Any,
    *,
    clients: int,
    total: int,
    timeout: float,
    headers: str = "",
    probe: list[float] | None = None,
) -> dict[str, Any]:
    """Run ``total`` requests from ``clients`` concurrent keep-alive clients; latencies in ms.

    Every client first opens its connection and makes one request, before the clock starts:
    the timed requests run on open keep-alive connections, as a load generator such as wrk
    times them. Those first requests (TCP connect, the parent process handing the connection
    to a worker, the request) are reported on their own (``first_request_*``). The load
    generator's own garbage collector is paused while the clock runs.

    With ``probe`` (a list), one more connection asks ``GET /health`` every 10 ms while the
    clients run and appends each latency (ms) to it.
    """
    host, port = base.removeprefix("http://").rsplit(":", 1)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    counter = iter(range(total))
    conns = [_Connection(host, int(port)) for _ in range(clients)]
    probe_conn = _Connection(host, int(port))
    firsts: list[float] = []

    async def first(conn: _Connection, rng: random.Random) -> None:
        method, url, body = make_request(rng)
        t0 = time.perf_counter()
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
            await asyncio.wait_for(conn.request(method, url, body, headers), timeout)
            firsts.append((time.perf_counter() - t0) * 1000.0)

    await asyncio.gather(*(first(c, random.Random(-1 - i)) for i, c in enumerate(conns)))
    if probe is not None:
        await asyncio.wait_for(probe_conn.request("GET", "/health", None), timeout)

    async def client(cid: int) -> None:
        rng = random.Random(cid)
        conn = conns[cid]
        try:
            for _ in counter:
                method, url, body = make_request(rng)
                t0 = time.perf_counter()
                try:
                    status, data = await asyncio.wait_for(
                        conn.request(method, url, body, headers), timeout
                    )
                    ok = status == 200 and data[:1] == b"{"
                    key = f"HTTP {status}"
                except (
                    OSError,
                    asyncio.IncompleteReadError,
                    asyncio.TimeoutError,
                    ValueError,
                ) as exc:
                    ok, key = False, type(exc).__name__
                    await conn.close()
                latencies.append((time.perf_counter() - t0) * 1000.0)
                if not ok:
                    errors[key] = errors.get(key, 0) + 1
        finally:
            await conn.close()

    done = asyncio.Event()

    async def prober() -> None:
        assert probe is not None
        conn = probe_conn
        try:
            while not done.is_set():
                t0 = time.perf_counter()
                status, _ = await asyncio.wait_for(conn.request("GET", "/health", None), timeout)
                if status == 200:
                    probe.append((time.perf_counter() - t0) * 1000.0)
                await asyncio.sleep(0.01)
        finally:
            await conn.close()

    async def load() -> None:
        await asyncio.gather(*(client(c) for c in range(clients)))
        done.set()

    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        await asyncio.gather(load(), *([prober()] if probe is not None else []))
        wall = time.perf_counter() - start
    finally:
        gc.enable()
    lat = np.asarray(latencies)
    first_lat = np.asarray(firsts or [np.nan])
    return {
        "requests": len(lat),
        "seconds": round(wall, 3),
        "throughput_rps": round(len(lat) / wall, 1),
        "p50_ms": round(float(np.percentile(lat, 50)), 2),
        "p90_ms": round(float(np.percentile(lat, 90)), 2),
        "p99_ms": round(float(np.percentile(lat, 99)), 2),
        "max_ms": round(float(lat.max()), 2),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "first_requests": len(firsts),
        "first_request_p50_ms": round(float(np.percentile(first_lat, 50)), 2),
        "first_request_max_ms": round(float(first_lat.max()), 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, help="use this workspace (e.g. the demo's)")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("TMPDIR", "/tmp")) / "artrec-bench-server-ws",
        help="where to build the benchmark workspace when --workspace is not given",
    )
    parser.add_argument("--data-home", type=Path, default=os.environ.get("ARTREC_DATA_HOME"))
    parser.add_argument("--workers", type=int, default=2, help="server workers (default 2)")
    parser.add_argument(
        "--request-threads",
        type=int,
        default=None,
        help="serve --request-threads (default: the server's own, the CPUs up to 8)",
    )
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    parser.add_argument(
        "--requests", type=int, default=4000, help="requests per endpoint (default 4000)"
    )
    parser.add_argument("-k", type=int, default=10, help="results per request (default 10)")
    parser.add_argument("--profile-size", type=int, default=5, help="liked ids per POST (5)")
    parser.add_argument("--timeout", type=float, default=10.0, help="per-request timeout (s)")
    parser.add_argument(
        "--probe-clients",
        type=int,
        default=8,
        help="clients POSTing recommendations while /health is probed (default 8)",
    )
    parser.add_argument(
        "--src",
        type=Path,
        action="append",
        default=[],
        help="source tree to serve from (its PYTHONPATH); repeat to compare, in one run",
    )
    parser.add_argument(
        "--recommender",
        action="append",
        default=[],
        metavar="NAME",
        help="serve --recommender (visrank, or a saved model such as auto); repeat to "
        "compare, in one run (default: the server's own choice)",
    )
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)

    if args.workspace is not None:
        workspace = args.workspace
    else:
        if args.data_home is None:
            parser.error("set ARTREC_DATA_HOME or --data-home, or give --workspace")
        print(f"building/using benchmark workspace {args.cache}", file=sys.stderr)
        workspace = build_workspace(args.cache, Path(args.data_home))

    def stop(signum: int, _frame: Any) -> None:
        raise SystemExit(f"interrupted by signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    runs = []
    for src in args.src or [None]:
        for recommender in args.recommender or [None]:
            print(
                f"== serving from {src or 'the current PYTHONPATH'}"
                f"{', recommender ' + recommender if recommender else ''}",
                file=sys.stderr,
            )
            runs.append(measure(workspace, args, src, recommender))
    for results in runs:
        print(f"\n### {results['src']}")
        print(json.dumps(results, indent=2))
        print_table(results)
    if len(runs) > 1:
        print_ratios(runs)
    if args.json:
        args.json.write_text(json.dumps(runs if len(runs) > 1 else runs[0], indent=2))
    return 0


#: Run in the server's environment (its PYTHONPATH and variables): what it imports, at which
#: versions, and the BLAS / OpenMP libraries numpy and scipy load with their thread counts
#: once the cap `artrec serve` applies at start-up (its default ``--blas-threads 1``, which
#: the benchmark does not change) is in place.
_ENVIRONMENT_PROBE = """
import importlib.metadata as md, json, os
out = {"packages": {}, "threads_env": {}}
for name in ("artrec", "numpy", "scipy", "fastapi", "starlette", "uvicorn", "pydantic",
             "sqlalchemy", "faiss-cpu", "threadpoolctl", "scikit-learn"):
    try:
        out["packages"][name] = md.version(name)
    except md.PackageNotFoundError:
        out["packages"][name] = None
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY"):
    out["threads_env"][var] = os.environ.get(var)
import numpy, scipy.linalg  # noqa: F401  (load their BLAS)
from threadpoolctl import threadpool_info
try:  # the BLAS thread cap `artrec serve` applies at start-up (--blas-threads, default 1)
    from artrec.cli.serve import _limit_blas_threads
    _limit_blas_threads(1)
    out["serve_blas_cap"] = 1
except ImportError:
    out["serve_blas_cap"] = None
out["blas"] = [
    {k: i.get(k) for k in ("internal_api", "version", "num_threads", "threading_layer", "architecture")}
    | {"library": os.path.basename(i["filepath"])}
    for i in threadpool_info()
]
import artrec
out["artrec_file"] = artrec.__file__
print(json.dumps(out))
"""


def server_environment(workspace: Path, src: Path | None, embedding: str) -> dict[str, Any]:
    """Package versions, BLAS libraries and their threads as the server process sees them
    (the same interpreter, ``PYTHONPATH`` and variables), and the workspace's size."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    probe = subprocess.run(
        [sys.executable, "-c", _ENVIRONMENT_PROBE],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    info: dict[str, Any] = (
        json.loads(probe.stdout.strip().splitlines()[-1])
        if probe.returncode == 0
        else {"probe_error": probe.stderr.strip().splitlines()[-1:]}
    )
    import sqlite3

    con = sqlite3.connect(f"file:{workspace / 'artrec.db'}?mode=ro", uri=True)
    try:
        events = con.execute("SELECT COUNT(*) FROM interactions").fetchone()[0]
        users = con.execute("SELECT COUNT(DISTINCT user_id) FROM interactions").fetchone()[0]
    finally:
        con.close()
    vectors = np.load(workspace / "embeddings" / f"{embedding}.npy", mmap_mode="r")
    info["workspace_size"] = {
        "interactions": int(events),
        "users": int(users),
        "embedding": embedding,
        "embedding_shape": list(vectors.shape),
        "embedding_dtype": str(vectors.dtype),
        "database_mib": round((workspace / "artrec.db").stat().st_size / 2**20, 1),
    }
    return info


def _user_ids(workspace: Path, n: int = 200) -> list[str]:
    import sqlite3

    con = sqlite3.connect(f"file:{workspace / 'artrec.db'}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT DISTINCT user_id FROM interactions WHERE kind IN ('purchase', 'like') LIMIT ?",
            (n,),
        ).fetchall()
    finally:
        con.close()
    return [str(r[0]) for r in rows]


def measure(
    workspace: Path, args: argparse.Namespace, src: Path | None, recommender: str | None = None
) -> dict[str, Any]:
    """Start a server (from ``src``, with ``recommender``), measure every endpoint and
    /health under load."""
    import secrets

    token = secrets.token_urlsafe(24)
    auth = f"Authorization: Bearer {token}\r\n"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(
        workspace, port, args.workers, src, token, recommender, args.request_threads
    )
    try:
        health = wait_ready(base, proc)
        import httpx

        ids = [
            i["item_id"]
            for page in range(1, 1 + -(-health["items"] // 100))
            for i in httpx.get(f"{base}/items", params={"page": page, "per_page": 100}).json()[
                "items"
            ]
        ]
        users = _user_ids(workspace)
        k = args.k

        def similar(rng: random.Random) -> tuple[str, str, None]:
            return "GET", f"/items/{rng.choice(ids)}/similar?k={k}", None

        def recommend(rng: random.Random) -> tuple[str, str, dict[str, Any]]:
            return (
                "POST",
                "/recommendations",
                {"liked_item_ids": rng.sample(ids, args.profile_size), "k": k},
            )

        def user_recommend(rng: random.Random) -> tuple[str, str, None]:
            return "GET", f"/users/{rng.choice(users)}/recommendations?k={k}", None

        model = health.get("model") or {}
        answered_by = model.get("name") or "visrank"
        results: dict[str, Any] = {
            "src": f"{src or 'current PYTHONPATH'} ({answered_by})",
            "recommender": answered_by,
            "model": model or None,
            "machine": f"{platform.node()} ({os.cpu_count()} CPUs, {platform.processor() or platform.machine()})",
            "python": platform.python_version(),
            "workspace": str(workspace),
            "items": health["items"],
            "embedding": health["embedding"],
            "workers": args.workers,
            "request_threads": args.request_threads,
            "load_average_at_start": os.getloadavg(),
            "environment": server_environment(workspace, src, health["embedding"]),
            "clients": args.clients,
            "k": k,
            "profile_size": args.profile_size,
            "endpoints": {},
        }
        endpoints: list[tuple[str, Any, str]] = [
            ("GET /items/{id}/similar", similar, ""),
            ("POST /recommendations", recommend, ""),
        ]
        if users:
            endpoints.append(("GET /users/{id}/recommendations (bearer)", user_recommend, auth))
        for name, maker, headers in endpoints:
            # warm-up: every worker builds its index / fitted recommender
            print(f"warming up {name}", file=sys.stderr)
            asyncio.run(
                drive(
                    base, maker, clients=args.clients, total=args.clients * 8, timeout=60,
                    headers=headers,
                )
            )  # fmt: skip
            time.sleep(SETTLE_SECONDS)  # the warm-up's clients are gone before the next come
            print(f"measuring {name}: {args.requests} requests", file=sys.stderr)
            server0, client0 = tree_cpu_seconds(proc.pid), client_cpu_seconds()
            stats = asyncio.run(
                drive(
                    base, maker, clients=args.clients, total=args.requests,
                    timeout=args.timeout, headers=headers,
                )
            )  # fmt: skip
            stats["server_cpu_ms_per_request"] = round(
                (tree_cpu_seconds(proc.pid) - server0) * 1000 / stats["requests"], 3
            )
            stats["client_cpu_ms_per_request"] = round(
                (client_cpu_seconds() - client0) * 1000 / stats["requests"], 3
            )
            results["endpoints"][name] = stats
        time.sleep(SETTLE_SECONDS)
        print(f"probing /health under {args.probe_clients} recommendation clients", file=sys.stderr)
        probe: list[float] = []
        stats = asyncio.run(
            drive(
                base, recommend, clients=args.probe_clients, total=args.requests,
                timeout=args.timeout, probe=probe,
            )
        )  # fmt: skip
        lat = np.asarray(probe) if probe else np.asarray([np.nan])
        results["health_under_load"] = {
            "load": f"{args.probe_clients} clients POST /recommendations",
            "load_throughput_rps": stats["throughput_rps"],
            "probes": len(probe),
            "p50_ms": round(float(np.percentile(lat, 50)), 2),
            "p95_ms": round(float(np.percentile(lat, 95)), 2),
            "p99_ms": round(float(np.percentile(lat, 99)), 2),
            "max_ms": round(float(np.max(lat)), 2),
        }
        peaks = worker_peak_rss_mib(proc.pid)[: args.workers]
        results["peak_rss_mib_per_worker"] = [round(p, 1) for p in peaks]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    results["load_average_at_end"] = os.getloadavg()
    return results


def print_table(results: dict[str, Any]) -> None:
    env = results.get("environment", {})
    packages = ", ".join(f"{k} {v}" for k, v in env.get("packages", {}).items() if v)
    blas = "; ".join(
        f"{b.get('internal_api')} {b.get('version')} ({b.get('library')}, "
        f"{b.get('num_threads')} threads)"
        for b in env.get("blas", [])
    )
    size = env.get("workspace_size", {})
    print(f"machine: {results['machine']}, Python {results['python']}")
    print(
        f"load average at start: {', '.join(f'{v:.2f}' for v in results['load_average_at_start'])}"
    )
    print(
        f"workers: {results['workers']}, request threads: {results.get('request_threads') or 'default'}, "
        f"clients: {results['clients']}, k: {results['k']}"
    )
    print(f"packages: {packages}")
    print(
        f"BLAS/OpenMP per worker (after artrec serve's cap, --blas-threads "
        f"{env.get('serve_blas_cap')}): {blas}; thread variables given: {env.get('threads_env')}"
    )
    print(
        f"workspace: {results['items']} items, {size.get('users')} users, "
        f"{size.get('interactions')} interactions, database {size.get('database_mib')} MiB; "
        f"embedding {size.get('embedding')} {size.get('embedding_shape')} {size.get('embedding_dtype')}\n"
    )
    print(
        "| endpoint | requests | throughput (req/s) | p50 (ms) | p90 (ms) | p99 (ms) | "
        "max (ms) | errors | server CPU/req (ms) | client CPU/req (ms) | "
        "first request per connection, p50 / max (ms) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in results["endpoints"].items():
        print(
            f"| `{name}` | {r['requests']} | {r['throughput_rps']} | {r['p50_ms']} | "
            f"{r['p90_ms']} | {r['p99_ms']} | {r['max_ms']} | {r['errors']} | "
            f"{r['server_cpu_ms_per_request']} | {r['client_cpu_ms_per_request']} | "
            f"{r.get('first_request_p50_ms')} / {r.get('first_request_max_ms')} |"
        )
    h = results["health_under_load"]
    print(
        f"\n/health under load ({h['load']}, {h['load_throughput_rps']} req/s): "
        f"{h['probes']} probes, p50 {h['p50_ms']} ms, p95 {h['p95_ms']} ms, "
        f"p99 {h['p99_ms']} ms, max {h['max_ms']} ms"
    )
    peaks = results.get("peak_rss_mib_per_worker") or []
    print(f"peak RSS per worker (MiB): {', '.join(str(p) for p in peaks)}")


def print_ratios(runs: list[dict[str, Any]]) -> None:
    first = runs[0]
    print(f"\n### ratios to {first['src']}")
    print("| endpoint | " + " | ".join(r["src"] for r in runs[1:]) + " |")
    print("|---|" + "---:|" * (len(runs) - 1))
    for name, base in first["endpoints"].items():
        cells = []
        for r in runs[1:]:
            other = r["endpoints"].get(name)
            if other is None:
                cells.append("-")
                continue
            cpu = other["server_cpu_ms_per_request"] / base["server_cpu_ms_per_request"]
            rps = other["throughput_rps"] / base["throughput_rps"]
            cells.append(f"server CPU/req x{cpu:.2f}, throughput x{rps:.2f}")
        print(f"| `{name}` | " + " | ".join(cells) + " |")
    cells = [
        f"p99 {r['health_under_load']['p99_ms']} ms (was {first['health_under_load']['p99_ms']})"
        for r in runs[1:]
    ]
    print("| `/health` under load | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.exit(main())
