"""No acknowledged write is lost when the server is killed with SIGKILL mid-storm.

``artrec serve`` runs as a real process group (uvicorn, two worker processes) on a copy of
a workspace, on 127.0.0.1. Eight client threads record likes and purchases (as the admin,
through the API) and stock changes as fast as the server takes them; after a moment the
whole process group gets ``kill -9``. Then every write the server acknowledged (201/200)
must be in the SQLite database, which must pass ``PRAGMA integrity_check``. Bounded: at
most 3,000 writes and 3 s of storm.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from _uvicorn import free_port
from server_workspace import build_workspace

ADMIN_TOKEN = "durability-admin-" + uuid.uuid4().hex
CLIENTS = 8
MAX_WRITES = 3000
STORM_S = 3.0


def _wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"artrec serve exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("artrec serve did not answer /health in time")


def test_no_acknowledged_write_is_lost_under_kill_9(tmp_path: Path) -> None:
    root = build_workspace(tmp_path / "ws")
    token_file = tmp_path / "admin-token"
    token_file.write_text(ADMIN_TOKEN)
    con = sqlite3.connect(root / "artrec.db")
    items = [r[0] for r in con.execute("SELECT item_id FROM items ORDER BY row LIMIT 260")]
    con.close()
    liked, sold = items[:60], items[60:]
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("ARTREC_ADMIN_TOKEN", None)
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "artrec", "serve", "-w", str(root), "--port", str(port),
            "--workers", "2", "--log-level", "warning", "--admin-token-file", str(token_file),
            "--max-writes-per-minute", "0",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    acked_events: list[tuple[str, str, str]] = []
    acked_stock: dict[str, bool] = {}
    lock = threading.Lock()
    stop = threading.Event()
    budget = iter(range(MAX_WRITES))
    try:
        _wait_ready(port, proc)

        def client(n: int) -> None:
            headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            while not stop.is_set():
                with lock:
                    i = next(budget, None)
                if i is None:
                    return
                try:
                    if i % 10 == 9 and i // 10 < len(sold):  # each of these items sold once
                        item = sold[i // 10]
                        conn.request("PATCH", f"/items/{item}", '{"in_stock": false}', headers)
                        res = conn.getresponse()
                        res.read()
                        if res.status == 200:
                            with lock:
                                acked_stock[item] = False
                    else:
                        user = f"storm-{n}-{i}"
                        kind = "purchase" if i % 3 == 0 else "like"
                        item = liked[i % len(liked)]
                        body = json.dumps({"item_id": item, "kind": kind})
                        conn.request("POST", f"/users/{user}/interactions", body, headers)
                        res = conn.getresponse()
                        res.read()
                        if res.status == 201:
                            with lock:
                                acked_events.append((user, item, kind))
                except (OSError, http.client.HTTPException):
                    conn.close()  # killed mid-request: that write was never acknowledged
                    if stop.is_set():
                        return
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

        threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(CLIENTS)]
        for t in threads:
            t.start()
        time.sleep(STORM_S)
        os.killpg(proc.pid, signal.SIGKILL)  # the master and both workers, mid-storm
        stop.set()
        for t in threads:
            t.join(timeout=15)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert len(acked_events) >= 50, "the storm acknowledged too few writes to mean anything"

    con = sqlite3.connect(root / "artrec.db")
    try:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored = set(
            con.execute(
                "SELECT user_id, item_id, kind FROM interactions WHERE user_id LIKE 'storm-%'"
            ).fetchall()
        )
        stock = dict(con.execute("SELECT item_id, in_stock FROM items").fetchall())
    finally:
        con.close()
    lost = [e for e in acked_events if e not in stored]
    assert not lost, f"{len(lost)} of {len(acked_events)} acknowledged writes lost: {lost[:3]}"
    # every acknowledged sale is stored (each item was sold at most once in the storm)
    assert acked_stock
    unsold = [i for i in acked_stock if stock[i] != 0]
    assert not unsold, f"{len(unsold)} of {len(acked_stock)} acknowledged sales lost"
    print(
        f"durability: {len(acked_events)} events and {len(acked_stock)} sales acknowledged, 0 lost"
    )
