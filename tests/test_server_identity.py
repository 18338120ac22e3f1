"""The server's identity model (docs/server.md), through FastAPI's TestClient on a real
workspace: visitors are signed cookies, ``/users/{id}`` routes serve only that user, the
admin token guards stock, cookie-authenticated writes need the visitor's CSRF token, and
each identity's writes are limited. Every refusal is checked to have written nothing: the
events are read back from the workspace's own database.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("itsdangerous")

from fastapi.testclient import TestClient

from artrec.server.app import create_app
from artrec.server.auth import Auth, WriteLimiter, load_secret
from artrec.server.settings import Settings
from server_workspace import build_workspace

ADMIN_TOKEN = "identity-admin-" + uuid.uuid4().hex
SECRET = "identity-secret-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_workspace(tmp_path_factory.mktemp("identity") / "ws")


@pytest.fixture(scope="module")
def app(workspace: Path) -> Any:
    return create_app(Settings(workspace=workspace, admin_token=ADMIN_TOKEN, secret_key=SECRET))


@pytest.fixture()
def visitors(app: Any) -> Iterator[tuple[TestClient, TestClient]]:
    with TestClient(app) as a, TestClient(app) as b:
        yield a, b


@pytest.fixture(scope="module")
def items(app: Any) -> list[str]:
    with TestClient(app) as c:
        return [i["item_id"] for i in c.get("/items", params={"per_page": 20}).json()["items"]]


def _visit(client: TestClient) -> tuple[str, str]:
    """Open the gallery; the visitor's user id and CSRF token as the page hands them out."""
    page = client.get("/")
    assert page.status_code == 200
    uid = re.search(r'data-user-id="([^"]+)"', page.text)
    csrf = re.search(r'data-csrf-token="([^"]+)"', page.text)
    assert uid is not None and csrf is not None
    return uid.group(1), csrf.group(1)


def _events(workspace: Path, user: str) -> list[tuple[str, str]]:
    """The user's events as stored in the workspace database (item, kind)."""
    con = sqlite3.connect(workspace / "artrec.db")
    try:
        rows = con.execute(
            "SELECT item_id, kind FROM interactions WHERE user_id = ? ORDER BY id", (user,)
        ).fetchall()
    finally:
        con.close()
    return [(str(i), str(k)) for i, k in rows]


def _like(client: TestClient, user: str, item: str, csrf: str | None) -> Any:
    headers = {} if csrf is None else {"X-CSRF-Token": csrf}
    return client.post(f"/users/{user}/interactions", json={"item_id": item}, headers=headers)


# -- visitors ---------------------------------------------------------------------------------
def test_a_visitor_cannot_read_write_or_delete_another_visitors_events(
    visitors: tuple[TestClient, TestClient], items: list[str], workspace: Path
) -> None:
    alice, mallory = visitors
    a_uid, a_csrf = _visit(alice)
    m_uid, m_csrf = _visit(mallory)
    assert a_uid != m_uid
    assert _like(alice, a_uid, items[0], a_csrf).status_code == 201
    assert _like(alice, a_uid, items[1], a_csrf).status_code == 201
    before = _events(workspace, a_uid)
    assert before == [(items[0], "like"), (items[1], "like")]

    # mallory, with her own valid cookie and CSRF token, aims at alice's id
    for res in (
        mallory.get(f"/users/{a_uid}/interactions"),
        mallory.get(f"/users/{a_uid}/recommendations"),
        _like(mallory, a_uid, items[2], m_csrf),
        mallory.delete(f"/users/{a_uid}/interactions/{items[0]}", headers={"X-CSRF-Token": m_csrf}),
        mallory.delete(
            f"/users/{a_uid}/interactions/{items[0]}",
            params={"kind": "all"},
            headers={"X-CSRF-Token": a_csrf},  # even with alice's token: the cookie is hers
        ),
    ):
        assert res.status_code == 403, res.text
        assert "another user" in res.json()["detail"]
    assert _events(workspace, a_uid) == before
    # alice still reads and deletes her own
    assert alice.get(f"/users/{a_uid}/interactions").json()["item_ids"] == items[:2]
    res = alice.delete(f"/users/{a_uid}/interactions/{items[0]}", headers={"X-CSRF-Token": a_csrf})
    assert res.status_code == 200 and res.json()["deleted"] == 1
    assert _events(workspace, a_uid) == [(items[1], "like")]
    assert _events(workspace, m_uid) == []


def test_a_forged_or_foreign_cookie_is_nobody(app: Any, items: list[str], workspace: Path) -> None:
    with TestClient(app) as alice:
        a_uid, _ = _visit(alice)
        cookie = alice.cookies.get("artrec_visitor")
    assert cookie is not None and cookie.startswith(a_uid + ".")
    victim = str(uuid.uuid4())
    forged = [
        victim,  # the bare id of the old, unsigned cookie
        f"{victim}.{cookie.split('.', 1)[1]}",  # alice's signature on another id
        cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB"),
    ]
    other_server = Auth(b"another-server-secret-0123456789")
    forged.append(other_server.visitor_cookie(victim))  # signed with another secret
    for value in forged:
        with TestClient(app, cookies={"artrec_visitor": value}) as c:
            assert c.get("/me").json()["kind"] == "anonymous"
            res = c.get(f"/users/{victim}/interactions")
            assert res.status_code == 401 and res.headers["www-authenticate"].startswith("Bearer")
            csrf = Auth(SECRET.encode()).csrf_token(victim)
            assert _like(c, victim, items[0], csrf).status_code == 401
            # a page gives the holder of a forged cookie a fresh identity, never the victim's
            page = c.get("/")
            assert f'data-user-id="{victim}"' not in page.text
            assert "artrec_visitor" in page.cookies
    assert _events(workspace, victim) == []


def test_anonymous_requests_may_read_the_catalogue_but_no_users(app: Any, items: list[str]) -> None:
    with TestClient(app) as c:
        assert c.get("/me").json() == {
            "kind": "anonymous",
            "user_id": None,
            "scopes": [],
            "csrf_token": None,
        }
        assert c.get("/items").status_code == 200
        assert c.get(f"/items/{items[0]}/similar").status_code == 200
        assert c.post("/recommendations", json={"liked_item_ids": items[:2]}).status_code == 200
        for method, url in (
            ("GET", "/users/u1/interactions"),
            ("GET", "/users/u1/recommendations"),
            ("POST", "/users/u1/interactions"),
            ("DELETE", f"/users/u1/interactions/{items[0]}"),
        ):
            res = c.request(method, url, json={"item_id": items[0]})
            assert res.status_code == 401, (method, url)
        res = c.get("/users/u1/interactions", headers={"Authorization": "Basic dTE6cHc="})
        assert res.status_code == 401 and "Bearer" in res.json()["detail"]


# -- admin ------------------------------------------------------------------------------------
def test_admin_routes_refuse_requests_without_the_admin_token(
    app: Any, items: list[str], workspace: Path
) -> None:
    item = items[3]
    token_user = Auth(SECRET.encode()).issue_token("*", ["read", "write"], 600)

    def in_stock() -> bool:
        con = sqlite3.connect(workspace / "artrec.db")
        try:
            return bool(
                con.execute("SELECT in_stock FROM items WHERE item_id = ?", (item,)).fetchone()[0]
            )
        finally:
            con.close()

    with TestClient(app) as c:
        _, csrf = _visit(c)
        refusals = [
            (
                c.patch(f"/items/{item}", json={"in_stock": False}, headers={"X-CSRF-Token": csrf}),
                403,
            ),
            (TestClient(app).patch(f"/items/{item}", json={"in_stock": False}), 401),
            (
                TestClient(app).patch(
                    f"/items/{item}",
                    json={"in_stock": False},
                    headers={"Authorization": f"Bearer {ADMIN_TOKEN}x"},
                ),
                401,
            ),
            (
                TestClient(app).patch(
                    f"/items/{item}",
                    json={"in_stock": False},
                    headers={"Authorization": f"Bearer {token_user}"},
                ),
                403,
            ),
        ]
    for res, status in refusals:
        assert res.status_code == status, res.text
    assert in_stock()
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with TestClient(app, headers=admin) as c:
        assert c.patch(f"/items/{item}", json={"in_stock": False}).json()["in_stock"] is False
        assert not in_stock()
        assert c.patch(f"/items/{item}", json={"in_stock": True}).json()["in_stock"] is True
        # the admin may read and write anyone's data, without a CSRF token
        user = "someone-" + uuid.uuid4().hex[:8]
        assert _like(c, user, items[4], None).status_code == 201
        assert c.get(f"/users/{user}/interactions").json()["item_ids"] == [items[4]]
        assert c.get("/me").json()["kind"] == "admin"
    assert in_stock()


def test_a_server_without_an_admin_token_has_no_admin(
    workspace: Path, items: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ARTREC_ADMIN_TOKEN", raising=False)
    app = create_app(Settings(workspace=workspace, secret_key=SECRET))
    with TestClient(app) as c:
        res = c.patch(
            f"/items/{items[0]}", json={"in_stock": False}, headers={"Authorization": "Bearer "}
        )
        assert res.status_code == 401
        res = c.patch(
            f"/items/{items[0]}",
            json={"in_stock": False},
            headers={"Authorization": "Bearer " + "x" * 40},
        )
        assert res.status_code == 401


# -- API tokens --------------------------------------------------------------------------------
def test_api_tokens_serve_their_user_and_scopes(
    app: Any, items: list[str], workspace: Path
) -> None:
    auth = Auth(SECRET.encode())
    bob = "bob-" + uuid.uuid4().hex[:8]
    reader = auth.issue_token(bob, ["read"], 600)
    writer = auth.issue_token(bob, ["read", "write"], 600)
    backend = auth.issue_token("*", ["read", "write"], 600)

    def client(token: str) -> TestClient:
        return TestClient(app, headers={"Authorization": f"Bearer {token}"})

    assert _like(client(reader), bob, items[0], None).status_code == 403
    assert _events(workspace, bob) == []
    assert _like(client(writer), bob, items[0], None).status_code == 201  # no CSRF for tokens
    assert client(reader).get(f"/users/{bob}/interactions").json()["item_ids"] == [items[0]]
    assert client(reader).get("/users/alice/interactions").status_code == 403
    assert _like(client(writer), "alice", items[0], None).status_code == 403
    # a gallery back end acting for its logged-in users
    assert _like(client(backend), "carol-" + bob, items[1], None).status_code == 201
    assert client(backend).get(f"/users/{bob}/recommendations").status_code == 200
    assert client(backend).get("/me").json() == {
        "kind": "token",
        "user_id": "*",
        "scopes": ["read", "write"],
        "csrf_token": None,
    }
    # tampered, expired and foreign tokens are 401
    head, _, sig = writer.rpartition(".")
    expired = auth.issue_token(bob, ["read"], 1)
    time.sleep(2.1)
    for bad in (
        f"{head}.{'A' * len(sig)}",
        expired,
        Auth(b"another-server-secret-0123456789").issue_token(bob, ["read"], 600),
        "not-a-token",
    ):
        res = client(bad).get(f"/users/{bob}/interactions")
        assert res.status_code == 401, bad
    assert _events(workspace, bob) == [(items[0], "like")]


def test_token_requests_are_checked() -> None:
    from artrec.errors import DataError

    auth = Auth(b"0123456789abcdef0123456789")
    for subject, scopes, ttl in (
        ("", ["read"], 60),
        ("u" * 300, ["read"], 60),
        ("u", ["fly"], 60),
        ("u", [], 60),
        ("u", "read", 60),
        ("u", ["read"], 0),
        ("u", ["read"], 10**9),
        ("u", ["read"], float("nan")),
    ):
        with pytest.raises(DataError):
            auth.issue_token(subject, scopes, ttl)


# -- CSRF --------------------------------------------------------------------------------------
def test_a_cross_site_form_post_writes_nothing(
    visitors: tuple[TestClient, TestClient], items: list[str], workspace: Path
) -> None:
    alice, _ = visitors
    uid, csrf = _visit(alice)
    # what a hostile page's <form method=post> sends: the cookie, a form body, no header
    form = alice.post(
        f"/users/{uid}/interactions",
        data={"item_id": items[5], "kind": "purchase"},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert form.status_code == 403 and "cross-site" in form.json()["detail"]
    # the same without the browser's Sec-Fetch-Site header: the CSRF token is missing
    form = alice.post(f"/users/{uid}/interactions", data={"item_id": items[5]})
    assert form.status_code == 403 and "X-CSRF-Token" in form.json()["detail"]
    # JSON with a wrong token, and a cross-site fetch that somehow has the right one
    assert _like(alice, uid, items[5], "0" * len(csrf)).status_code == 403
    res = alice.post(
        f"/users/{uid}/interactions",
        json={"item_id": items[5]},
        headers={"X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"},
    )
    assert res.status_code == 403
    res = alice.delete(f"/users/{uid}/interactions/{items[5]}", params={"kind": "all"})
    assert res.status_code == 403
    assert _events(workspace, uid) == []
    # the page's own script (same origin, token in the header) writes
    res = alice.post(
        f"/users/{uid}/interactions",
        json={"item_id": items[5]},
        headers={"X-CSRF-Token": csrf, "Sec-Fetch-Site": "same-origin"},
    )
    assert res.status_code == 201
    assert _events(workspace, uid) == [(items[5], "like")]


# -- write limits ------------------------------------------------------------------------------
def test_writes_are_limited_per_identity(workspace: Path, items: list[str], tmp_path: Path) -> None:
    root = tmp_path / "ws"
    shutil.copytree(workspace, root)
    app = create_app(
        Settings(
            workspace=root, admin_token=ADMIN_TOKEN, secret_key=SECRET, max_writes_per_minute=3
        )
    )
    with TestClient(app) as a, TestClient(app) as b:
        a_uid, a_csrf = _visit(a)
        b_uid, b_csrf = _visit(b)
        codes = [_like(a, a_uid, items[i], a_csrf).status_code for i in range(5)]
        assert codes == [201, 201, 201, 429, 429]
        res = _like(a, a_uid, items[6], a_csrf)
        assert res.status_code == 429 and 1 <= int(res.headers["retry-after"]) <= 20
        assert _like(b, b_uid, items[0], b_csrf).status_code == 201  # another identity
        admin = TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert all(_like(admin, "x", items[i], None).status_code == 201 for i in range(6))
    assert [i for i, _ in _events(root, a_uid)] == items[:3]


def test_write_limiter_refills_at_its_rate() -> None:
    limiter = WriteLimiter(per_minute=6, max_keys=2)  # one token every 10 s, bursts of 6
    assert [limiter.acquire("a", now=0.0) for _ in range(6)] == [0.0] * 6
    assert limiter.acquire("a", now=0.0) == pytest.approx(10.0)
    assert limiter.acquire("a", now=5.0) == pytest.approx(5.0)
    assert limiter.acquire("a", now=10.0) == 0.0
    assert limiter.acquire("b", now=10.0) == 0.0
    limiter.acquire("c", now=10.0)  # forgets the least recently seen ("a")
    assert limiter.acquire("a", now=10.0) == 0.0
    assert WriteLimiter(per_minute=0).acquire("a") == 0.0


# -- the secret --------------------------------------------------------------------------------
def test_the_secret_is_kept_in_the_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ARTREC_SECRET_KEY", raising=False)
    first = load_secret(None, tmp_path)
    assert len(first) >= 40 and load_secret(None, tmp_path) == first
    assert (tmp_path / "server-secret").stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("ARTREC_SECRET_KEY", "from-the-environment-123")
    assert load_secret(None, tmp_path) == b"from-the-environment-123"
    assert load_secret("configured-secret-123456", tmp_path) == b"configured-secret-123456"
    from artrec.errors import ArtrecError

    with pytest.raises(ArtrecError, match="at least 16"):
        load_secret("short", tmp_path)
