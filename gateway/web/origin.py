"""Cross-site request forgery defence: state-changing requests must come from our own pages.

Two layers. The session cookie is `SameSite=Strict`, so a browser never sends it with a
request started by another site. And every POST/PUT/PATCH/DELETE whose `Origin` (or, without
one, `Sec-Fetch-Site`) shows another site is refused before it reaches a route, which also
covers the sign-in and setup forms that have no session yet. Non-browser clients send neither
header and carry no ambient cookie, so there is nothing of theirs to forge.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
_SAME_SITE_FETCH = {"same-origin", "none"}


class SameOriginMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in _UNSAFE and not _same_origin(scope):
            body = json.dumps(
                {"detail": "cross-site", "message": "request from another site refused"}
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 403,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def _same_origin(scope: Scope) -> bool:
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
    origin = headers.get("origin")
    if origin is not None:
        host = headers.get("host", "")
        return origin in (f"{scope.get('scheme', 'http')}://{host}",)
    fetch_site = headers.get("sec-fetch-site")
    return fetch_site is None or fetch_site in _SAME_SITE_FETCH
