"""The one hook every finished request passes through (Tornado's ``log_function``): it writes
the access log line, naming the S3 operation where there is one. Request metrics belong here
too, beside the line, so that what is logged and what is counted never disagree."""

import logging

from tornado.web import RequestHandler

access_log = logging.getLogger("tornado.access")


def operation_name(handler: RequestHandler) -> str:
    """The S3 operation a request was routed to, or "-" (cluster API, refused before routing)."""
    operation = getattr(handler, "operation", None)
    return operation.s3_name if operation is not None else "-"


def log_request(handler: RequestHandler) -> None:
    handler.settings["metrics"].request_finished(handler)
    status = handler.get_status()
    if status < 400:
        level = logging.INFO
    elif status < 500:
        level = logging.WARNING
    else:
        level = logging.ERROR
    request = handler.request
    access_log.log(
        level,
        "%d %s %s %s (%s) %.2fms",
        status,
        operation_name(handler),
        request.method,
        request.uri,
        request.remote_ip,
        1000.0 * request.request_time(),
    )
