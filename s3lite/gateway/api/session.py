"""The dashboard's sign-in: a cookie that stands for the cluster token, for reading only.

The cookie holds an HMAC of the token, not the token: it proves the token was typed, names no
secret a stolen cookie would give away for the POST endpoints, and stops working when the token
changes. It is HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it)
and scoped to ``/_cluster``. The cluster API accepts it on GET only, on endpoints that change
nothing; everything that changes state still needs the bearer token, so no page can forge it.
"""

import hashlib
import hmac

from tornado.web import RequestHandler

SESSION_COOKIE = "s3lite_session"
COOKIE_PATH = "/_cluster"


def session_value(cluster_token: str) -> str:
    return hmac.new(cluster_token.encode(), b"s3lite dashboard session", hashlib.sha256).hexdigest()


def has_session(handler: RequestHandler, cluster_token: str) -> bool:
    """Whether a GET carries a valid session cookie (compared in constant time)."""
    if handler.request.method != "GET":
        return False
    presented = handler.get_cookie(SESSION_COOKIE) or ""
    return hmac.compare_digest(presented.encode(), session_value(cluster_token).encode())


def open_session(handler: RequestHandler, cluster_token: str) -> None:
    handler.set_cookie(
        SESSION_COOKIE,
        session_value(cluster_token),
        path=COOKIE_PATH,
        httponly=True,
        samesite="Strict",
        secure=handler.request.protocol == "https",
    )


def close_session(handler: RequestHandler) -> None:
    handler.clear_cookie(SESSION_COOKIE, path=COOKIE_PATH)
