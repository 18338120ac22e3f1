"""The ``/docs`` page (Swagger UI) served from files in the package, so it works offline.

FastAPI's own ``/docs`` page loads Swagger UI's script and style sheet from a CDN
(``cdn.jsdelivr.net``) and its icon from ``fastapi.tiangolo.com``; without a network it is
blank. artrec vendors Swagger UI (``swagger-ui-dist`` from npm, Apache-2.0, licence and
version notes in ``static/swagger-ui/``) and :func:`serve_docs_offline` replaces the page with
one that loads those files from the app's own ``/static`` mount.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

#: The vendored Swagger UI release (``static/swagger-ui/``).
SWAGGER_UI_VERSION = "5.35.0"
#: Where the vendored files are served, under the app's static mount.
SWAGGER_UI_PATH = "/static/swagger-ui"


def serve_docs_offline(app: FastAPI) -> None:
    """Serve the app's Swagger UI page (``app.docs_url``, usually ``/docs``) from local files.

    Removes the page FastAPI registered and adds one whose script, style sheet and icon are
    the vendored copies under :data:`SWAGGER_UI_PATH` (served by the app's ``/static``
    mount), keeping FastAPI's OpenAPI URL, OAuth2 redirect and Swagger UI parameters. An app
    created with ``docs_url=None`` is left without a page.
    """
    docs_url = app.docs_url
    if docs_url is None or app.openapi_url is None:
        return
    app.router.routes[:] = [
        route for route in app.router.routes if getattr(route, "path", None) != docs_url
    ]
    openapi_url = app.openapi_url

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        oauth2 = app.swagger_ui_oauth2_redirect_url
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{SWAGGER_UI_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{SWAGGER_UI_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{SWAGGER_UI_PATH}/favicon-32x32.png",
            oauth2_redirect_url=None if oauth2 is None else root + oauth2,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    app.add_api_route(docs_url, swagger_ui, methods=["GET"], include_in_schema=False)
