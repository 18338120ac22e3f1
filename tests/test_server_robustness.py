"""The server under hostile clients and odd workspaces.

* Slow and idle connections are closed: raw sockets on 127.0.0.1 against uvicorn with
  artrec's protocol (a header deadline) and a keep-alive timeout; bounded in count and time.
* A slow body gets 408; scoring runs on the event loop only when it is small.
* The artwork page of a work without a vector renders ("No similar works yet").
* A read-only workspace is served read-only: pages and reads work, writes get 503.
* The OpenAPI schema states the rules the server applies (strict booleans, ``Allow``).
"""

from __future__ import annotations

import contextlib
import inspect
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

from fastapi.testclient import TestClient  # noqa: E402

from _uvicorn import running  # noqa: E402
from artrec.server.app import create_app  # noqa: E402
from artrec.server.protocol import protocol_class  # noqa: E402
from artrec.server.settings import Settings  # noqa: E402
from server_workspace import EMBEDDING, build_workspace, record_scoring_places  # noqa: E402

ADMIN_TOKEN = "robustness-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_workspace(tmp_path_factory.mktemp("robust") / "ws")


@pytest.fixture(scope="module")
def server(workspace: Path) -> Iterator[tuple[str, int]]:
    """uvicorn with a 1 s header deadline, a 1 s keep-alive and a 1 s body timeout."""
    settings = Settings(
        workspace=workspace,
        keep_alive_timeout=1.0,
        header_timeout=1.0,
        body_timeout=1.0,
        admin_token=ADMIN_TOKEN,
    )
    with running(
        create_app(settings),
        timeout_keep_alive=settings.keep_alive_timeout,
        http=protocol_class(settings.header_timeout),
    ) as port:
        yield "127.0.0.1", port


def _closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed ``sock`` (read EOF or reset), or None if it did not."""
    start = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - start < seconds:
        try:
            data = sock.recv(4096)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return time.monotonic() - start
        if data == b"":
            return time.monotonic() - start
    return None


def _get(host: str, port: int, path: str) -> int:
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        head = s.recv(64)
    return int(head.split()[1])


# -- connections ------------------------------------------------------------------------------
def test_idle_and_slow_connections_are_closed(server: tuple[str, int]) -> None:
    host, port = server
    idle = [socket.create_connection((host, port), timeout=5) for _ in range(20)]
    slow = [socket.create_connection((host, port), timeout=5) for _ in range(20)]
    stop = threading.Event()

    def trickle() -> None:  # one header byte per connection every 0.2 s, never finishing
        request = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
        for i in range(len(request)):
            if stop.is_set():
                return
            for s in slow:
                with contextlib.suppress(OSError):
                    s.send(request[i : i + 1])
            time.sleep(0.2)

    writer = threading.Thread(target=trickle, daemon=True)
    writer.start()
    try:
        waited = [_closed_within(s, 6.0) for s in idle + slow]
    finally:
        stop.set()
        writer.join(timeout=5)
        for s in idle + slow:
            s.close()
    assert all(w is not None for w in waited), f"{waited.count(None)} of 40 stayed open"
    assert max(w for w in waited if w is not None) < 4.0
    assert _get(host, port, "/health") == 200  # the server still serves


def test_an_idle_keep_alive_connection_is_closed(server: tuple[str, int]) -> None:
    host, port = server
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(5)
        assert s.recv(64).startswith(b"HTTP/1.1 200")
        time.sleep(0.2)
        waited = _closed_within(s, 5.0)
    assert waited is not None and waited < 3.0


def test_a_slow_body_gets_408(server: tuple[str, int]) -> None:
    host, port = server
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(
            b"POST /recommendations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 200\r\n\r\n{"
        )
        s.settimeout(5)
        start = time.monotonic()
        head = s.recv(64)
    assert head.startswith(b"HTTP/1.1 408"), head
    assert time.monotonic() - start < 4.0


def test_small_scoring_runs_on_the_event_loop_and_big_scoring_in_threads(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request whose scoring work is at most INLINE_PAIRS (catalogue x profile) pairs is
    computed on the event loop; a bigger one, or one with MMR re-ranking, in the thread
    pool, so it never holds the loop (and /health) for long. Both give the same answer."""
    from artrec.server import routes_api

    places = record_scoring_places(monkeypatch)
    assert inspect.iscoroutinefunction(routes_api.health)
    settings = Settings(workspace=workspace, admin_token=ADMIN_TOKEN)
    with TestClient(create_app(settings), headers=ADMIN) as c:
        n = c.get("/health").json()["items"]
        ids = [i["item_id"] for i in c.get("/items").json()["items"][:3]]
        for i in ids:
            assert c.post("/users/someone/interactions", json={"item_id": i}).status_code == 201

        def answers() -> list[Any]:
            return [
                c.get(f"/items/{ids[0]}/similar").json(),
                c.post("/recommendations", json={"liked_item_ids": ids[:2]}).json(),
                c.get("/users/someone/recommendations").json(),
            ]

        inline = answers()
        assert places == ["loop"] * 3
        places.clear()
        monkeypatch.setattr(routes_api, "INLINE_PAIRS", 0)
        assert answers() == inline
        assert places == ["thread"] * 3
        places.clear()

        # the bound counts catalogue x profile pairs: 2n is over 2n - 1, n is not
        monkeypatch.setattr(routes_api, "INLINE_PAIRS", 2 * n - 1)
        liked_one = c.post("/recommendations", json={"liked_item_ids": ids[:1]})
        liked_two = c.post("/recommendations", json={"liked_item_ids": ids[:2]})
        assert liked_one.status_code == liked_two.status_code == 200
        assert places == ["loop", "thread"]
        places.clear()

        monkeypatch.setattr(routes_api, "INLINE_PAIRS", 10**9)
        c.post("/recommendations", json={"liked_item_ids": ids[:1], "diversify": 0.5})
        c.get("/users/someone/recommendations", params={"diversify": 0.5})
        assert places == ["thread"] * 2


def test_a_serving_process_freezes_its_startup_heap(workspace: Path) -> None:
    """A worker process takes what it loaded at start-up out of the garbage collector's
    passes (gc.freeze), so a full collection under load does not walk it."""
    from artrec.server.settings import SETTINGS_ENV

    code = (
        "import gc; from artrec.server.app import create_app_from_env; "
        "create_app_from_env(); print(gc.get_freeze_count())"
    )
    env = {**os.environ, SETTINGS_ENV: Settings(workspace=workspace).to_json()}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) > 10_000


# -- odd workspaces -----------------------------------------------------------------------------
def test_the_artwork_page_of_a_work_without_a_vector(workspace: Path, tmp_path: Path) -> None:
    from artrec.data.catalog import Catalog
    from artrec.data.workspace import Workspace

    root = tmp_path / "ws"
    shutil.copytree(workspace, root)
    ws = Workspace.open(root)
    ws.upsert_items(
        Catalog(
            np.array(["new-work"], dtype=object),
            {"title": np.array(["A work just added"], dtype=object)},
        )
    )
    with TestClient(create_app(Settings(workspace=root))) as c:
        page = c.get("/artworks/new-work")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "A work just added" in page.text and "No similar works yet." in page.text
        res = c.get("/items/new-work/similar")
        assert res.status_code == 404
        assert "no vector in embedding" in res.json()["detail"]
        # a profile of works without vectors recommends nothing (and is no error)
        res = c.post("/recommendations", json={"liked_item_ids": ["new-work"]})
        assert res.status_code == 200 and res.json()["results"] == []


def _drop_dac() -> list[str]:
    """A command prefix under which root, too, obeys file permissions (or [] when not root)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot make a read-only workspace")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


READ_ONLY_SERVER = """
import json, sys
from fastapi.testclient import TestClient
from artrec.server.app import create_app
from artrec.server.settings import Settings
app = create_app(Settings(workspace=sys.argv[1], secret_key="read-only-secret-0123456789"))
out = {}
with TestClient(app) as c:
    page = c.get("/")
    out["page"] = page.status_code
    uid = page.text.split('data-user-id="')[1].split('"')[0]
    csrf = page.text.split('data-csrf-token="')[1].split('"')[0]
    items = [i["item_id"] for i in c.get("/items").json()["items"]]
    out["similar"] = c.get(f"/items/{items[0]}/similar").status_code
    out["recommend"] = c.post("/recommendations", json={"liked_item_ids": items[:2]}).status_code
    res = c.post(f"/users/{uid}/interactions", json={"item_id": items[0]},
                 headers={"X-CSRF-Token": csrf})
    out["like"] = [res.status_code, res.json()["detail"]]
    out["health"] = c.get("/health").json()["database_ok"]
print(json.dumps(out))
"""


def test_a_read_only_workspace_is_served_read_only(workspace: Path, tmp_path: Path) -> None:
    import json

    root = tmp_path / "ro"
    shutil.copytree(workspace, root)
    for path in [root, *root.rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o222)
    before = (root / "artrec.db").read_bytes()
    files = sorted(p.name for p in root.iterdir())
    try:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        env.pop("ARTREC_SECRET_KEY", None)
        done = subprocess.run(
            [*_drop_dac(), sys.executable, "-c", READ_ONLY_SERVER, str(root)],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        out = json.loads(done.stdout.strip().splitlines()[-1])
        assert out["page"] == 200 and out["similar"] == 200 and out["recommend"] == 200
        assert out["health"] is True
        assert out["like"][0] == 503 and "read-only" in out["like"][1]
        assert (root / "artrec.db").read_bytes() == before
        assert sorted(p.name for p in root.iterdir()) == files  # nothing written
    finally:
        for path in [root, *root.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)


# -- the schema states the rules ----------------------------------------------------------------
def test_the_schema_states_the_rules(workspace: Path) -> None:
    with TestClient(create_app(Settings(workspace=workspace, admin_token=ADMIN_TOKEN))) as c:
        spec: dict[str, Any] = c.get("/openapi.json").json()
        item = c.get("/items").json()["items"][0]["item_id"]
        # a boolean is a boolean
        assert spec["components"]["schemas"]["StockPatch"]["properties"]["in_stock"] == {
            "type": "boolean",
            "title": "In Stock",
            "description": "false: sold; true: back in stock.",
        }
        res = c.patch(f"/items/{item}", json={"in_stock": 0}, headers=ADMIN)
        assert res.status_code == 422 and "in_stock" in res.json()["detail"]
        # Allow lists every method of the path
        for method, path, allow in (
            ("POST", f"/items/{item}", "GET, PATCH"),
            ("PUT", "/users/u1/interactions", "GET, POST"),
            ("GET", "/recommendations", "POST"),
        ):
            res = c.request(method, path)
            assert res.status_code == 405 and res.headers["allow"] == allow
        # every operation documents its errors
        for path, operations in spec["paths"].items():
            for method, op in operations.items():
                codes = set(op["responses"])
                if "{" in path or op.get("parameters") or "requestBody" in op:
                    assert "422" in codes, (method, path)
                if path.startswith("/users/"):
                    assert {"401", "403"} <= codes, (method, path)
                if method in ("post", "patch", "delete") and path != "/recommendations":
                    assert {"401", "403", "413", "429"} <= codes, (method, path)
        body = spec["components"]["schemas"]["RecommendRequest"]["properties"]
        assert body["liked_item_ids"]["maxItems"] == 1000
        metric = c.get(f"/items/{item}/similar", params={"metric": "cosin"})
        assert metric.status_code == 422 and "'cosin'" in metric.json()["detail"]
        assert c.get(f"/items/{item}/similar", params={"embedding": EMBEDDING}).status_code == 200
