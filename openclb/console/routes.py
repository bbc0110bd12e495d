"""HTTP answers of the console: the static page, the catalog document, and the redirect from ``/``.

Served on the API port beside the gateway (``api/server.dispatcher`` hands over ``/console``
paths and a browser's plain ``GET /``); an API call on ``/`` never reaches here.

Every answer carries a strict Content-Security-Policy: scripts, styles and connections only from
this origin (the page signs its calls and sends them to ``/``), no inline script or style, no
frames, no third-party origin. Static files are read once from the package and served with
their content type, an ETag and ``Cache-Control: no-cache`` (the browser revalidates, so a new
openclb never runs an old page); a path outside the known files is 404.
"""

from __future__ import annotations

import functools
import hashlib
import json
from importlib import resources
from typing import Mapping

from aiohttp import web

from openclb.console import catalog

PREFIX = "/console"
CATALOG_PATH = f"{PREFIX}/catalog.json"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
CONTENT_TYPES: Mapping[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json; charset=utf-8",
}


@functools.cache
def static_files() -> Mapping[str, bytes]:
    """Every file under ``static/`` by its URL path below ``/console/``, read once."""
    root = resources.files("openclb.console") / "static"
    found: dict[str, bytes] = {}

    def walk(folder, prefix: str) -> None:
        for entry in folder.iterdir():
            if entry.is_dir():
                walk(entry, f"{prefix}{entry.name}/")
            elif entry.name.rsplit(".", 1)[-1] in {"html", "js", "css", "svg"}:
                found[f"{prefix}{entry.name}"] = entry.read_bytes()

    walk(root, "")
    return found


@functools.cache
def catalog_body() -> bytes:
    return json.dumps(catalog.describe_all(), separators=(",", ":")).encode()


def wants_page(request: web.BaseRequest) -> bool:
    """A browser opening the server's root: ``GET /`` with no query that accepts HTML.

    API calls on ``/`` carry a query (v1 GET) or are POSTs, so they never match.
    """
    return (
        request.method == "GET"
        and request.path == "/"
        and not request.query_string
        and "text/html" in request.headers.get("Accept", "")
    )


def serves(request: web.BaseRequest) -> bool:
    """True for the paths this module answers."""
    return request.path == PREFIX or request.path.startswith(PREFIX + "/") or wants_page(request)


async def handle(request: web.BaseRequest) -> web.StreamResponse:
    if wants_page(request) or request.path == PREFIX:
        return _answer(302, b"", "text/plain; charset=utf-8", {"Location": f"{PREFIX}/"})
    if request.method not in ("GET", "HEAD"):
        return _answer(405, b"Method not allowed\n", "text/plain; charset=utf-8", {"Allow": "GET, HEAD"})
    name = request.path[len(PREFIX) + 1:] or "index.html"
    if request.path == CATALOG_PATH:
        body = catalog_body()
    else:
        body = static_files().get(name)
        if body is None:
            return _answer(404, b"Not found\n", "text/plain; charset=utf-8")
    content_type = CONTENT_TYPES.get("." + name.rsplit(".", 1)[-1], "application/octet-stream")
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if request.headers.get("If-None-Match") == etag:
        return _answer(304, b"", content_type, headers)
    return _answer(200, b"" if request.method == "HEAD" else body, content_type, headers)


def _answer(status: int, body: bytes, content_type: str, extra: Mapping[str, str] | None = None) -> web.Response:
    response = web.Response(status=status, body=body, headers={**SECURITY_HEADERS, **(extra or {})})
    response.headers["Content-Type"] = content_type
    return response
