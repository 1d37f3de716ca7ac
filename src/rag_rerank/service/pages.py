"""The pages people look at: the playground at ``/`` and the API docs, every asset served locally.

Swagger UI and ReDoc come from the ``fastapi-offline`` package (MIT; it ships their JS and CSS),
served with FastAPI's documented self-hosting recipe, so ``/docs`` renders with no network.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["install_pages"]

STATIC = Path(__file__).resolve().parent / "static"


def _docs_assets() -> Path:
    import fastapi_offline

    return Path(fastapi_offline.__file__).resolve().parent / "static"


def install_pages(app: FastAPI) -> None:
    """Mount ``/assets`` and add ``/``, ``/docs`` and ``/redoc`` (the app is created with
    ``docs_url=None, redoc_url=None``)."""
    app.mount("/assets/app", StaticFiles(directory=STATIC), name="playground-assets")
    app.mount("/assets/docs", StaticFiles(directory=_docs_assets()), name="docs-assets")
    title = app.title

    @app.get("/", include_in_schema=False)
    async def playground() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{title} - API docs",
            oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_js_url="/assets/docs/swagger-ui-bundle.js",
            swagger_css_url="/assets/docs/swagger-ui.css",
            swagger_favicon_url="/assets/docs/favicon.png",
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{title} - ReDoc",
            redoc_js_url="/assets/docs/redoc.standalone.js",
            redoc_favicon_url="/assets/docs/favicon.png",
            with_google_fonts=False,
        )
