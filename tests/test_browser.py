"""End to end in a real browser: Playwright (Python) driving Debian's headless chromium.

A visitor opens the gallery, searches for an artist, likes three paintings, opens "For
you" and sees recommendations, none of them a liked painting, each with its reason. The
server runs with uvicorn on a free loopback port in a thread. Playwright never downloads a
browser: it is pointed at ``/usr/bin/chromium`` (``scripts/ci-services.sh`` installs it).

Screenshots go to the test's temporary folder, and also to ``$ARTREC_SCREENSHOT_DIR`` when
set (that is how ``docs/screenshots/`` is refreshed).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api")

from _uvicorn import running  # noqa: E402
from artrec.server.app import create_app  # noqa: E402
from artrec.server.settings import Settings  # noqa: E402
from server_workspace import build_workspace  # noqa: E402

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIST = "Gustav Klimt"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = build_workspace(tmp_path_factory.mktemp("browser") / "ws")
    with running(create_app(Settings(workspace=root))) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is missing (scripts/ci-services.sh installs chromium)")
    os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
    profile = tmp_path / "chromium-profile"
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


def _shoot(page: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    target = os.environ.get("ARTREC_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, Path(target) / path.name)
    return path


def test_visitor_likes_three_paintings_and_gets_explained_recommendations(
    server: str, browser: Any, tmp_path: Path
) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # the gallery
    page.goto(server + "/")
    page.wait_for_selector(".grid .card")
    assert page.locator(".grid .card").count() == 24
    _shoot(page, tmp_path, "gallery")

    # search for an artist
    page.fill('.search input[name="q"]', ARTIST)
    page.click('.search button[type="submit"]')
    page.wait_for_url("**/?q=*")
    page.wait_for_selector(".grid .card")
    artists = page.locator(".grid .card .card-artist").all_inner_texts()
    assert artists and all(ARTIST in a for a in artists)

    # like three paintings
    cards = page.locator(".grid .card")
    liked: list[str] = []
    for n in range(3):
        card = cards.nth(n)
        item_id = card.get_attribute("data-item-id")
        assert item_id
        with page.expect_response(
            lambda r: r.request.method == "POST" and "/interactions" in r.url
        ) as resp:
            card.locator("button.like").click()
        assert resp.value.status == 201
        page.wait_for_function(
            'id => document.querySelector(`.card[data-item-id="${id}"] .like`)'
            ".getAttribute('aria-pressed') === 'true'",
            arg=item_id,
        )
        liked.append(item_id)
    assert page.inner_text("#like-count") == "3"

    # an artwork page, for the record
    page.click(f'.card[data-item-id="{liked[0]}"] .card-title a')
    page.wait_for_selector(".artwork-figure img")
    assert page.locator(".grid .card").count() >= 1
    assert page.get_attribute(".like-big", "aria-pressed") == "true"
    _shoot(page, tmp_path, "artwork")

    # For you
    page.click("#nav-for-you")
    page.wait_for_selector("#recs .card")
    recs = page.locator("#recs .card")
    n = recs.count()
    assert n >= 10
    rec_ids = [recs.nth(i).get_attribute("data-item-id") for i in range(n)]
    assert not set(rec_ids) & set(liked)
    for i in range(n):
        reason = recs.nth(i).locator(".reason")
        assert reason.inner_text().startswith("Because you liked")
        href = reason.locator("a").get_attribute("href")
        assert href is not None and href.rsplit("/", 1)[-1] in liked
    shot = _shoot(page, tmp_path, "for-you")
    assert shot.stat().st_size > 10_000

    # switch to the diversified list: still explained, still no liked painting
    with page.expect_response(lambda r: "/recommendations?" in r.url and "diversify=" in r.url):
        page.check('input[name="mode"][value="diverse"]')
    page.wait_for_function("() => !document.getElementById('recs').hasAttribute('aria-busy')")
    div_ids = page.eval_on_selector_all("#recs .card", "cs => cs.map(c => c.dataset.itemId)")
    assert div_ids and not set(div_ids) & set(liked)
    assert page.locator("#recs .card .reason").count() == len(div_ids)

    # liking a recommendation on the For-you page takes it out of the list at once
    first_id = page.locator("#recs .card").first.get_attribute("data-item-id")
    with page.expect_response(lambda r: "/recommendations?" in r.url):
        page.locator("#recs .card").first.locator(".like").click()
    page.wait_for_function(
        "id => !document.getElementById('recs').hasAttribute('aria-busy') && "
        '!document.querySelector(`#recs .card[data-item-id="${id}"]`)',
        arg=first_id,
    )
    assert page.inner_text("#like-count") == "4"
    assert errors == []
    page.close()


def test_gallery_on_a_phone(server: str, browser: Any, tmp_path: Path) -> None:
    page = browser.new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(server + "/")
    page.wait_for_selector(".grid .card")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # no horizontal scrolling
    columns = page.evaluate(
        "getComputedStyle(document.querySelector('.grid')).gridTemplateColumns.split(' ').length"
    )
    assert columns == 2
    # infinite scroll loads the next page
    page.mouse.wheel(0, 20000)
    page.wait_for_function("() => document.querySelectorAll('.grid .card').length > 24")
    _shoot(page, tmp_path, "gallery-phone")
    page.close()


@pytest.fixture
def attacker(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """Another web server on loopback (another origin): its port and its document folder."""
    import functools
    import http.server

    root = tmp_path / "attacker"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(srv.server_address[1]), root
    finally:
        srv.shutdown()
        srv.server_close()


def test_a_cross_site_form_post_writes_nothing(
    server: str, browser: Any, attacker: tuple[int, Path]
) -> None:
    """A hostile page's auto-submitted form aims at the visitor's likes: from another origin
    on the same host (the browser sends the cookie) and from another site (``localhost``
    against ``127.0.0.1``: SameSite keeps the cookie home). Neither writes anything."""
    port, root = attacker
    page = browser.new_page()
    page.goto(server + "/")
    page.wait_for_selector(".grid .card")
    uid = page.get_attribute("body", "data-user-id")
    item = page.locator(".grid .card").first.get_attribute("data-item-id")
    assert uid and item
    # the classic JSON-by-form trick: a text/plain body that parses as JSON
    (root / "evil.html").write_text(
        "<!doctype html><title>win a prize</title>"
        f'<form id="f" method="post" enctype="text/plain" '
        f'action="{server}/users/{uid}/interactions">'
        f'<input name=\'{{"item_id": "{item}", "kind": "purchase", "x": "\' value=\'"}}\'>'
        "</form><script>document.getElementById('f').submit()</script>"
    )
    # same site: the cookie goes along, the CSRF check refuses (403); another site: no
    # cookie, so nobody (401)
    for host, status in (("127.0.0.1", 403), ("localhost", 401)):
        evil = browser.new_page()
        with evil.expect_response(lambda r: "/interactions" in r.url) as resp:
            evil.goto(f"http://{host}:{port}/evil.html")
        assert resp.value.status == status, (host, resp.value.status)
        evil.close()
    mine = page.request.get(f"{server}/users/{uid}/interactions")
    assert mine.status == 200 and mine.json()["item_ids"] == []
    page.close()
