"""Pieces shared by the JSON endpoints of gateway and node: token checks and JSON errors."""

import hmac
import json
import logging
from http import HTTPStatus

from tornado.web import HTTPError

from s3lite import errors
from s3lite.byteranges import unsatisfied_content_range
from s3lite.metrics import ByteCounting

log = logging.getLogger(__name__)

# How a domain exception reads on a JSON endpoint.
JSON_STATUS = {
    errors.NoSuchBucket: 404,
    errors.NoSuchKey: 404,
    errors.NoSuchPart: 404,
    errors.UnknownNode: 404,
    errors.PartExists: 409,
    errors.NodeUrlConflict: 409,
    errors.InvalidArgument: 400,
    errors.IncompleteBody: 400,
    errors.MissingContentLength: 411,
    errors.InvalidRange: 416,
    errors.DatabaseUnavailable: 503,
    errors.NodeUnavailable: 503,
    errors.InsufficientNodes: 503,
}


def bearer_token_matches(authorization: str | None, token: str) -> bool:
    """Compare in constant time, so the token cannot be guessed byte by byte from timings."""
    presented = (authorization or "").encode()
    return hmac.compare_digest(presented, f"Bearer {token}".encode())


class JsonHandler(ByteCounting):
    """A cluster-internal endpoint: cluster token required, JSON in and out, JSON errors."""

    def initialize(self, cluster_token: str) -> None:
        self.cluster_token = cluster_token

    def prepare(self):
        if not bearer_token_matches(self.request.headers.get("Authorization"), self.cluster_token):
            raise HTTPError(401, reason="a valid cluster token is required")

    def json_body(self) -> dict:
        try:
            body = json.loads(self.request.body or b"null")
        except ValueError:
            raise errors.InvalidArgument("the request body is not JSON") from None
        if not isinstance(body, dict):
            raise errors.InvalidArgument("the request body must be a JSON object")
        return body

    def write_json(self, document: dict, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(document, default=str))

    def log_exception(self, typ, value, tb):
        if isinstance(value, errors.S3liteError):
            log.info("%s %s: %s", self.request.method, self.request.path, value)
        else:
            super().log_exception(typ, value, tb)

    def write_error(self, status_code: int, **kwargs) -> None:
        error = kwargs.get("exc_info", (None, None))[1]
        if isinstance(error, errors.InvalidRange) and unsatisfied_content_range(error):
            self.set_header("Content-Range", unsatisfied_content_range(error))
        if isinstance(error, errors.S3liteError):
            status_code = JSON_STATUS.get(type(error), 500)
            code, message = type(error).__name__, error.message
        elif isinstance(error, HTTPError):
            code = HTTPStatus(status_code).phrase.replace(" ", "")
            message = error.reason or HTTPStatus(status_code).phrase
        else:
            code, message = "InternalError", "internal error; see the server log"
        self.write_json({"error": code, "message": message}, status_code)
