"""The studio's trust boundary: which HTTP requests reach the app at all (Jupyter's server is the model).

The studio reads videos and writes files as the user who started it, and any web page the user has
open can send requests to ``127.0.0.1``. So every request must pass four checks, in this order, before
any route runs; a refusal is a one-line JSON ``{"error": ...}`` and nothing else (no CORS headers, ever):

1. **Host** is a loopback name (``127.0.0.1``, ``localhost``, ``[::1]``, any port) or the address the
   server was started on: a DNS-rebinding page (``evil.example`` resolving to 127.0.0.1) is refused
   on every route (403). When the server binds every address (``0.0.0.0``), any IP *literal* is also
   accepted: rebinding needs a name, and the other checks still hold.
2. **Sec-Fetch-Site** is not ``cross-site`` or ``same-site`` (a page on another port of 127.0.0.1 is
   ``same-site``); **Origin**, on a state-changing request (POST, PUT, PATCH, DELETE), if present,
   is this server's own (``http://`` + the validated Host). Scripts (curl) send neither (403).
3. **Token**: every ``/api/`` request carries the secret printed with the URL, as
   ``Authorization: token X`` (or ``Bearer X``) or as ``?token=X`` (``<img>``, ``EventSource`` and
   ``sendBeacon`` cannot set headers); compared in constant time (403, no detail). No cookie: a
   cookie for 127.0.0.1 goes to every port of it. The page and its static files hold no secret and
   are served without the token.
4. **Content type**: a request with a body must say ``application/json`` (415): a page can send a
   ``text/plain`` or untyped body without a CORS preflight, never a JSON one.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from collections.abc import Iterable
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
WILDCARD_BINDS = frozenset({"0.0.0.0", "::", ""})
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FOREIGN_FETCH_SITES = frozenset({"cross-site", "same-site"})
SECURITY_HEADERS = [
    (b"referrer-policy", b"no-referrer"),  # the page's URL carries the token until the page removes it
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
]


def new_token() -> str:
    """A fresh secret for one server run (256 bits, URL-safe).

    >>> len(new_token()) >= 43
    True
    """
    return secrets.token_urlsafe(32)


def host_name(host: str) -> str | None:
    """The name in a ``Host`` header without its port, lower case; None if it is not a well-formed host.

    >>> host_name("LocalHost:8765"), host_name("[::1]:80"), host_name("127.0.0.1"), host_name("[::1")
    ('localhost', '::1', '127.0.0.1', None)
    """
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        if end < 0 or (host[end + 1:] and not host[end + 1:].startswith(":")):
            return None
        name, port = host[1:end], host[end + 2:]
    else:
        name, _, port = host.partition(":")
    if not name or (port and not port.isdigit()):
        return None
    return name


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostRule:
    """Which ``Host`` names the server answers to: loopback names, the bound address, and (bound to
    every address) IP literals.

    >>> rule = HostRule("127.0.0.1")
    >>> rule.allows("localhost:8765"), rule.allows("evil.example:8765"), rule.allows("[::1]:1")
    (True, False, True)
    >>> HostRule("0.0.0.0").allows("192.168.1.5:8765"), HostRule("0.0.0.0").allows("rebind.example")
    (True, False)
    """

    def __init__(self, bind: str = "127.0.0.1", extra: Iterable[str] = ()) -> None:
        self.names = set(LOOPBACK_NAMES) | {n.strip("[]").lower() for n in extra}
        bind = bind.strip("[]").lower()
        self.any_ip = bind in WILDCARD_BINDS
        if not self.any_ip:
            self.names.add(bind)

    def allows(self, host: str) -> bool:
        name = host_name(host)
        if name is None:
            return False
        return name in self.names or (self.any_ip and _is_ip(name))


def bearer(authorization: str) -> str | None:
    """The token in an ``Authorization: token X`` or ``Bearer X`` header.

    >>> bearer("token abc"), bearer("Bearer abc"), bearer("Basic abc")
    ('abc', 'abc', None)
    """
    scheme, _, value = authorization.strip().partition(" ")
    return value.strip() or None if scheme.lower() in ("token", "bearer") else None


def is_json(content_type: str) -> bool:
    """``application/json`` (any parameters, such as a charset).

    >>> is_json("application/json; charset=utf-8"), is_json("text/plain"), is_json("")
    (True, False, False)
    """
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


class Guard:
    """ASGI middleware: refuse any request that fails the Host, fetch-site, Origin, token or
    content-type check (see the module's docstring); add security headers to every response."""

    def __init__(self, app: ASGIApp, *, token: str, hosts: HostRule, api_prefix: str = "/api/") -> None:
        if not token:
            raise ValueError("the studio needs a token")
        self.app = app
        self.token = token.encode()
        self.hosts = hosts
        self.api_prefix = api_prefix

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        """Why this request is refused (status, message), or None to let it through."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if not self.hosts.allows(host):
            return 403, "forbidden: this server answers only to its own address (a loopback name)"
        method = scope.get("method", "GET").upper()
        if headers.get("sec-fetch-site", "").strip().lower() in FOREIGN_FETCH_SITES:
            return 403, "forbidden: requests from other sites are refused"
        origin = headers.get("origin")
        if method in UNSAFE_METHODS and origin is not None and origin.strip().lower() != f"http://{host.lower()}":
            return 403, "forbidden: requests from other origins are refused"
        if scope.get("path", "").startswith(self.api_prefix) and not self._has_token(scope, headers):
            return 403, "forbidden: open the URL `rtseg studio` printed, with its token"
        has_body = headers.get("content-length", "0").strip() not in ("", "0") or "transfer-encoding" in headers
        if has_body and not is_json(headers.get("content-type", "")):
            return 415, "send the request body as application/json"
        return None

    def _has_token(self, scope: Scope, headers: dict[str, str]) -> bool:
        given = [bearer(headers.get("authorization", "")) or ""]
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        given += query.get("token", [])
        ok = False
        for g in given:  # every candidate compared, each in constant time
            ok |= secrets.compare_digest(g.encode(), self.token)
        return ok

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan passes; the studio serves no WebSocket
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        refused = self.refusal(scope)
        if refused is not None:
            status, message = refused
            body = json.dumps({"error": message}).encode()
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode()), *SECURITY_HEADERS]})
            await send({"type": "http.response.body", "body": body})
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
