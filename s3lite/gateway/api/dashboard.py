"""The web dashboard: one static page, its script and style sheet, and its sign-in.

The files ship in the package (``static/``) and are served as they are: no build step, and
nothing from outside the gateway, so the page works where the machines reach no CDN. The page
itself holds no data; its script reads the cluster API's GET endpoints with the session cookie
that signing in sets (``session.py``).
"""

import hmac
import os

from tornado.web import HTTPError, StaticFileHandler

from s3lite.gateway.api.session import close_session, open_session
from s3lite.gateway.services import GatewayServices
from s3lite.web import JsonHandler

STATIC_DIR = os.path.join(os.path.dirname(__file__), "static")
# Only the gateway's own script and style run; the page may not be framed by another site.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class DashboardFileHandler(StaticFileHandler):
    """The page and its files; they hold no data, so no token is needed to load them."""

    def set_default_headers(self) -> None:
        for name, value in PAGE_HEADERS.items():
            self.set_header(name, value)

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", "no-cache")


class SessionHandler(JsonHandler):
    """POST ``{"token": ...}`` signs in (the token in the body, never in the URL, which is
    logged); DELETE signs out."""

    def prepare(self):
        pass  # this is where a token is checked, not presented

    def post(self):
        token = self.json_body().get("token")
        if not isinstance(token, str) or not hmac.compare_digest(
            token.encode(), self.cluster_token.encode()
        ):
            raise HTTPError(401, reason="that is not the cluster token")
        open_session(self, self.cluster_token)
        self.set_status(204)

    def delete(self):
        close_session(self)
        self.set_status(204)


class UnknownClusterPathHandler(JsonHandler):
    """A cluster path no route serves answers a JSON 404, not an S3 error about the bucket name
    "_cluster": the page tells a job this gateway does not run (yet) by it. Which paths exist
    is no secret, so no token is asked for."""

    def prepare(self):
        raise HTTPError(404, reason=f"no cluster endpoint {self.request.path}")


def routes(services: GatewayServices) -> list:
    """After the cluster API's own routes (``cluster.routes``), which take precedence."""
    token = {"cluster_token": services.config.cluster_token}
    return [
        (
            r"/_cluster/dashboard/?()",
            DashboardFileHandler,
            {"path": STATIC_DIR, "default_filename": "index.html"},
        ),
        (r"/_cluster/dashboard/(.+)", DashboardFileHandler, {"path": STATIC_DIR}),
        (r"/_cluster/session", SessionHandler, token),
        (r"/_cluster/.*", UnknownClusterPathHandler, token),
    ]
