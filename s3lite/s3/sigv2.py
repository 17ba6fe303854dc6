"""Checking AWS Signature Version 2 on S3 requests: ``Authorization: AWS key:signature`` or a
presigned URL with ``AWSAccessKeyId``, ``Signature`` and ``Expires``.

SigV2 is legacy, but boto3's ``generate_presigned_url`` and aws-cli v1's ``presign`` still use
it by default in us-east-1, so the URLs people copy from the usual snippets are SigV2. The same
credentials as SigV4 sign it; the signature is a base64 HMAC-SHA1 of a string to sign built as
"Signing and Authenticating REST Requests" describes::

    METHOD \\n Content-MD5 \\n Content-Type \\n Date \\n
    CanonicalizedAmzHeaders CanonicalizedResource

Date is the Date header as sent, empty when an ``x-amz-date`` header is present (that header
is then among the amz headers), and the Expires value in a presigned URL. The resource is the
request path as sent (path style, so it already starts with the bucket) followed by the
sub-resources S3 names, sorted, with their values decoded. Signatures are compared in constant
time.
"""

import base64
import hashlib
import hmac
import urllib.parse
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from s3lite.errors import (
    AccessDenied,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidRequest,
    RequestTimeTooSkewed,
    SignatureDoesNotMatch,
)
from s3lite.s3.errors import RequestExpired
from s3lite.s3.sigv4 import AMZ_DATE, MAX_SKEW, SHA256_HEX, UNSIGNED_PAYLOAD, SignedRequest

# The query arguments that are part of the resource signed: those S3's documentation names
# (acl, lifecycle, location, logging, notification, partNumber, policy, requestPayment,
# torrent, uploadId, uploads, versionId, versioning, versions, website, delete, cors and the
# response-* overrides) and those botocore's HmacV1Auth adds for later APIs. A server must sign
# exactly what clients sign, so this is botocore's list, which contains the documented one.
SUB_RESOURCES = frozenset(
    {
        "accelerate",
        "acl",
        "analytics",
        "cors",
        "defaultObjectAcl",
        "delete",
        "inventory",
        "lifecycle",
        "location",
        "logging",
        "metrics",
        "notification",
        "object-lock",
        "partNumber",
        "policy",
        "replication",
        "requestPayment",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
        "response-content-language",
        "response-content-type",
        "response-expires",
        "restore",
        "select",
        "select-type",
        "storageClass",
        "tagging",
        "torrent",
        "uploadId",
        "uploads",
        "versionId",
        "versioning",
        "versions",
        "website",
    }
)
QUERY_PARAMETERS = ("AWSAccessKeyId", "Signature", "Expires")
SIGNED_CHUNKS_PREFIX = "STREAMING-AWS4-HMAC-SHA256-"
ISO_SECONDS = "%Y-%m-%dT%H:%M:%SZ"
BAD_HEADER = "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature"
NO_DATE = "AWS authentication requires a valid Date or x-amz-date header"
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)


def is_sigv2(headers: Mapping[str, list[str]], raw_query: str) -> bool:
    """Whether a request claims a Signature Version 2 signature (header or presigned URL);
    ``headers`` maps lower-case names to their values, as for ``sigv4.verify``."""
    authorization = (headers.get("authorization") or [""])[0]
    if authorization.startswith("AWS "):
        return True
    names = {name for name, _ in urllib.parse.parse_qsl(raw_query, keep_blank_values=True)}
    return not authorization and "AWSAccessKeyId" in names


def sign(secret_key: str, string_to_sign: str) -> str:
    """The base64 HMAC-SHA1 of ``string_to_sign``: a SigV2 signature."""
    digest = hmac.new(secret_key.encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def canonical_resource(raw_path: str, raw_query: str) -> str:
    """The path as sent, then ``?`` and the sub-resources sorted by name, each ``name`` or
    ``name=value`` as it appeared, with the value percent-decoded (``+`` stays ``+``)."""
    chosen = []
    for argument in raw_query.split("&") if raw_query else []:
        name, equals, value = argument.partition("=")
        if name in SUB_RESOURCES:
            chosen.append((name, f"{name}={urllib.parse.unquote(value)}" if equals else name))
    chosen.sort(key=lambda pair: pair[0])
    if not chosen:
        return raw_path
    return raw_path + "?" + "&".join(text for _, text in chosen)


def canonical_amz_headers(amz_headers: Mapping[str, list[str]]) -> str:
    """One ``name:value`` line per x-amz-* header: names lower case and sorted, the values of a
    repeated header joined by commas, each value trimmed."""
    lines = []
    for name in sorted(amz_headers):
        values = ",".join(" ".join(value.strip().splitlines()) for value in amz_headers[name])
        lines.append(f"{name}:{values}\n")
    return "".join(lines)


def string_to_sign(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, list[str]],
    date: str,
    extra_amz_headers: Mapping[str, list[str]] | None = None,
    standard_headers: Mapping[str, str] | None = None,
) -> str:
    """The string a SigV2 signature signs. ``date`` is what fills the Date line (see the module
    docstring); ``extra_amz_headers`` are x-amz-* values a presigned URL carries in its query;
    ``standard_headers`` gives Content-MD5 or Content-Type found there when not sent."""
    amz = {name: values for name, values in headers.items() if name.startswith("x-amz-")}
    for name, values in (extra_amz_headers or {}).items():
        amz.setdefault(name, values)
    fallback = standard_headers or {}
    lines = [method]
    for name in ("content-md5", "content-type"):
        values = headers.get(name)
        lines.append(values[0].strip() if values else fallback.get(name, "").strip())
    lines.append(date)
    return (
        "\n".join(lines)
        + "\n"
        + canonical_amz_headers(amz)
        + canonical_resource(raw_path, raw_query)
    )


def parse_http_date(value: str) -> datetime | None:
    """A Date or x-amz-date value: RFC 1123 (what SigV2 clients send) or ISO 8601 basic."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        parsed = None
    if parsed is None:
        try:
            return datetime.strptime(value.strip(), AMZ_DATE).replace(tzinfo=UTC)
        except ValueError:
            return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def verify(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, list[str]],
    credentials: Mapping[str, str],
    now: datetime,
) -> SignedRequest:
    """Check a SigV2 request's signature; the arguments are those of ``sigv4.verify``.

    Raises InvalidArgument for a malformed Authorization header or two ways of signing at once,
    AccessDenied for a missing date or presigned parameter, RequestExpired (an AccessDenied)
    for an expired URL, RequestTimeTooSkewed, InvalidAccessKeyId, SignatureDoesNotMatch, and
    InvalidRequest for signed aws-chunked bodies, whose chunk signatures only SigV4 defines.
    """
    pairs = urllib.parse.parse_qsl(raw_query, keep_blank_values=True)
    query = dict(pairs)
    authorization = (headers.get("authorization") or [""])[0]
    presigned = any(name in query for name in QUERY_PARAMETERS)
    if authorization and (presigned or "X-Amz-Signature" in query):
        raise InvalidArgument(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
            "Signature query string parameter or the Authorization header should be specified",
            ArgumentName="Authorization",
            ArgumentValue=authorization,
        )
    if authorization:
        access_key, signature, date = _claim_from_header(authorization, headers, now)
        extra_amz, standard = {}, {}
    else:
        access_key, signature, date = _claim_from_query(query, now)
        extra_amz = {
            name.lower(): [value] for name, value in pairs if name.lower().startswith("x-amz-")
        }
        standard = {
            name.lower(): value
            for name, value in pairs
            if name.lower() in ("content-md5", "content-type")
        }
    secret_key = credentials.get(access_key)
    if secret_key is None:
        raise InvalidAccessKeyId(
            "The AWS Access Key Id you provided does not exist in our records.",
            AWSAccessKeyId=access_key,
        )
    candidates = [
        string_to_sign(method, path, raw_query, headers, date, extra_amz, standard)
        for path in resource_paths(raw_path)
    ]
    matches = [
        hmac.compare_digest(sign(secret_key, text).encode(), signature.encode())
        for text in candidates
    ]
    if not any(matches):
        raise SignatureDoesNotMatch(
            MISMATCH,
            AWSAccessKeyId=access_key,
            StringToSign=candidates[0],
            SignatureProvided=signature,
        )
    return SignedRequest(access_key, _payload_hash(headers))


def resource_paths(raw_path: str) -> list[str]:
    """The paths a client may have signed for ``raw_path``: itself, and for a bucket alone also
    the other of ``/bucket`` and ``/bucket/``. Both name the bucket; S3's own form is
    ``/bucket/``, which botocore signs even when it sends ``/bucket``, while other clients sign
    the path they send."""
    bucket = raw_path.strip("/")
    if not bucket or "/" in bucket or raw_path not in (f"/{bucket}", f"/{bucket}/"):
        return [raw_path]
    other = f"/{bucket}/" if raw_path == f"/{bucket}" else f"/{bucket}"
    return [raw_path, other]


def _claim_from_header(
    authorization: str, headers: Mapping[str, list[str]], now: datetime
) -> tuple[str, str, str]:
    access_key, colon, signature = authorization[len("AWS ") :].strip().rpartition(":")
    if not colon or not access_key or not signature or " " in access_key:
        raise InvalidArgument(BAD_HEADER, ArgumentName="Authorization", ArgumentValue=authorization)
    amz_date = headers.get("x-amz-date")
    sent = amz_date[0] if amz_date else (headers.get("date") or [""])[0]
    signed_at = parse_http_date(sent)
    if signed_at is None:
        raise AccessDenied(NO_DATE)
    if abs(now - signed_at) > MAX_SKEW:
        raise RequestTimeTooSkewed(
            "The difference between the request time and the current time is too large.",
            RequestTime=sent,
            ServerTime=now.strftime(ISO_SECONDS),
            MaxAllowedSkewMilliseconds=str(int(MAX_SKEW / timedelta(milliseconds=1))),
        )
    return access_key, signature, "" if amz_date else sent


def _claim_from_query(query: Mapping[str, str], now: datetime) -> tuple[str, str, str]:
    if not all(query.get(name) for name in QUERY_PARAMETERS):
        raise AccessDenied(
            "Query-string authentication requires the Signature, Expires and AWSAccessKeyId "
            "parameters"
        )
    expires = query["Expires"]
    if not expires.isascii() or not expires.isdigit():
        raise AccessDenied(f"Invalid date (should be seconds since epoch): {expires}")
    if now.timestamp() > int(expires):
        raise RequestExpired(
            "Request has expired",
            Expires=datetime.fromtimestamp(int(expires), UTC).strftime(ISO_SECONDS),
            ServerTime=now.strftime(ISO_SECONDS),
        )
    # A "+" a client left unencoded in the base64 signature reads back as a space.
    return query["AWSAccessKeyId"], query["Signature"].replace(" ", "+"), expires


def _payload_hash(headers: Mapping[str, list[str]]) -> str:
    """The x-amz-content-sha256 a SigV2 request signed (every x-amz-* header is signed), so a
    hex body hash is still checked; signed aws-chunked bodies need SigV4's chunk keys."""
    claimed = (headers.get("x-amz-content-sha256") or [""])[0]
    if claimed.startswith(SIGNED_CHUNKS_PREFIX):
        raise InvalidRequest(
            f"the {claimed} payload needs Signature Version 4: its chunks are signed with it"
        )
    if SHA256_HEX.match(claimed) or claimed.startswith("STREAMING-"):
        return claimed
    return UNSIGNED_PAYLOAD
