"""Checking AWS Signature Version 4 on S3 requests: the Authorization header or a presigned URL.

The server rebuilds the canonical request from what it received, signs it with the secret key
it knows for the access key named in the credential scope, and compares signatures in constant
time. The payload hash the client claims is part of what is signed; checking the body against
it is the caller's job, as the body streams (``SignedRequest.payload_hash``).
"""

import hashlib
import hmac
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from s3lite.errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    InvalidAccessKeyId,
    InvalidRequest,
    NotImplementedYet,
    RequestTimeTooSkewed,
    SignatureDoesNotMatch,
)
from s3lite.numbers import is_decimal

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MAX_SKEW = timedelta(minutes=15)
MAX_PRESIGNED_SECONDS = 7 * 24 * 3600
AMZ_DATE = "%Y%m%dT%H%M%SZ"
HEADER = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+)\s*,\s*"
    r"SignedHeaders=(?P<signed_headers>[^,\s]+)\s*,\s*Signature=(?P<signature>[0-9a-f]{64})\s*$"
)
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass
class ChunkSigner:
    """Checks the chain of signatures of an aws-chunked body: each chunk's signature signs its
    data and the signature before it, starting from the request's own (the seed)."""

    key: bytes
    amz_date: str
    scope: str
    previous: str

    def check(self, kind: str, payload_sha256: str, signature: str) -> None:
        lines = [kind, self.amz_date, self.scope, self.previous]
        if kind == "AWS4-HMAC-SHA256-PAYLOAD":
            lines.append(EMPTY_SHA256)
        string_to_sign = "\n".join([*lines, payload_sha256])
        expected = hmac.new(self.key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise SignatureDoesNotMatch(
                "The chunk signature we calculated does not match the signature you provided.",
                StringToSign=string_to_sign,
            )
        self.previous = signature

    def check_chunk(self, data_sha256: str, signature: str) -> None:
        self.check("AWS4-HMAC-SHA256-PAYLOAD", data_sha256, signature)

    def check_trailer(self, canonical_trailers: bytes, signature: str) -> None:
        self.check(
            "AWS4-HMAC-SHA256-TRAILER", hashlib.sha256(canonical_trailers).hexdigest(), signature
        )


@dataclass(frozen=True)
class SignedRequest:
    """What a valid signature vouches for."""

    access_key: str
    payload_hash: str  # UNSIGNED-PAYLOAD, a hex SHA-256 of the body, or a streaming marker
    chunk_signer: ChunkSigner | None = None  # for a body of signed aws-chunked chunks

    @property
    def body_sha256(self) -> str | None:
        """The body's SHA-256 the client signed, when it signed one."""
        return self.payload_hash if SHA256_HEX.match(self.payload_hash) else None


def uri_encode(value: str, keep_slash: bool) -> str:
    """AWS's URI encoding: everything but A-Z a-z 0-9 - _ . ~ (and "/" in paths)."""
    return urllib.parse.quote(value, safe="/" if keep_slash else "")


def canonical_query(raw_query: str, leave_out: str | None = None) -> str:
    pairs = urllib.parse.parse_qsl(raw_query, keep_blank_values=True)
    encoded = sorted(
        (uri_encode(name, False), uri_encode(value, False))
        for name, value in pairs
        if name != leave_out
    )
    return "&".join(f"{name}={value}" for name, value in encoded)


def canonical_headers(headers: Mapping[str, list[str]], signed: list[str]) -> str:
    lines = []
    for name in signed:
        values = headers.get(name)
        if values is None:
            raise SignatureDoesNotMatch(f"the signed header {name} is missing")
        lines.append(f"{name}:{','.join(' '.join(value.split()) for value in values)}\n")
    return "".join(lines)


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret_key}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


@dataclass(frozen=True)
class Claim:
    """The signature's parts, from a header or from a presigned URL's query."""

    access_key: str
    scope: str  # date/region/service/aws4_request
    amz_date: str
    signed_headers: list[str]
    signature: str
    payload_hash: str
    query_left_out: str | None


def parse_credential(credential: str) -> tuple[str, str]:
    access_key, _, scope = credential.partition("/")
    parts = scope.split("/")
    if len(parts) != 4 or parts[3] != "aws4_request" or not access_key:
        raise AuthorizationHeaderMalformed(f"the credential {credential!r} is malformed")
    return access_key, scope


def claim_from_header(authorization: str, headers: Mapping[str, list[str]]) -> Claim:
    match = HEADER.match(authorization)
    if match is None:
        raise AuthorizationHeaderMalformed("the Authorization header is not AWS4-HMAC-SHA256")
    access_key, scope = parse_credential(match["credential"])
    amz_date = (headers.get("x-amz-date") or [""])[0]
    payload_hash = (headers.get("x-amz-content-sha256") or [""])[0]
    if not payload_hash:
        raise InvalidRequest("Missing required header for this request: x-amz-content-sha256")
    return Claim(
        access_key,
        scope,
        amz_date,
        match["signed_headers"].split(";"),
        match["signature"],
        payload_hash,
        None,
    )


def claim_from_query(query: Mapping[str, str]) -> Claim:
    if query.get("X-Amz-Algorithm") != ALGORITHM:
        raise AuthorizationHeaderMalformed("X-Amz-Algorithm must be AWS4-HMAC-SHA256")
    try:
        access_key, scope = parse_credential(query["X-Amz-Credential"])
        return Claim(
            access_key,
            scope,
            query["X-Amz-Date"],
            query["X-Amz-SignedHeaders"].split(";"),
            query["X-Amz-Signature"],
            query.get("X-Amz-Content-Sha256", UNSIGNED_PAYLOAD),
            "X-Amz-Signature",
        )
    except KeyError as missing:
        raise AuthorizationHeaderMalformed(f"the presigned URL lacks {missing}") from None


def parse_amz_date(value: str) -> datetime:
    try:
        return datetime.strptime(value, AMZ_DATE).replace(tzinfo=UTC)
    except ValueError:
        raise AccessDenied(f"the request date {value!r} is not in ISO 8601 basic form") from None


def check_time(claim: Claim, query: Mapping[str, str], now: datetime) -> None:
    signed_at = parse_amz_date(claim.amz_date)
    if not claim.scope.startswith(claim.amz_date[:8] + "/"):
        raise SignatureDoesNotMatch("the credential scope's date is not the request's date")
    if claim.query_left_out is None:
        if abs(now - signed_at) > MAX_SKEW:
            raise RequestTimeTooSkewed(
                f"the request was signed at {signed_at.isoformat()}, the server time is "
                f"{now.isoformat()}"
            )
        return
    expires = query.get("X-Amz-Expires", "")
    if not is_decimal(expires) or not 1 <= int(expires) <= MAX_PRESIGNED_SECONDS:
        raise AuthorizationHeaderMalformed("X-Amz-Expires must be between 1 and 604800 seconds")
    if now > signed_at + timedelta(seconds=int(expires)):
        raise AccessDenied("Request has expired")
    if signed_at - now > MAX_SKEW:
        raise AccessDenied("Request is not valid yet")


def verify(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, list[str]],
    credentials: Mapping[str, str],
    now: datetime,
) -> SignedRequest:
    """Check a request's signature; ``headers`` maps lower-case names to their values."""
    query = dict(urllib.parse.parse_qsl(raw_query, keep_blank_values=True))
    authorization = (headers.get("authorization") or [""])[0]
    if authorization.startswith("AWS ") or "AWSAccessKeyId" in query:
        raise NotImplementedYet(
            "Signature Version 2 is not supported: sign requests with Signature Version 4"
        )
    if authorization:
        claim = claim_from_header(authorization, headers)
    elif "X-Amz-Signature" in query:
        claim = claim_from_query(query)
    else:
        raise AccessDenied("the request is not signed")
    secret_key = credentials.get(claim.access_key)
    if secret_key is None:
        raise InvalidAccessKeyId(f"no access key {claim.access_key!r} here")
    check_time(claim, query, now)

    canonical_request = "\n".join(
        [
            method,
            uri_encode(urllib.parse.unquote(raw_path), True),
            canonical_query(raw_query, claim.query_left_out),
            canonical_headers(headers, claim.signed_headers),
            ";".join(claim.signed_headers),
            claim.payload_hash,
        ]
    )
    string_to_sign = "\n".join(
        [
            ALGORITHM,
            claim.amz_date,
            claim.scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    date, region, service, _ = claim.scope.split("/")
    key = signing_key(secret_key, date, region, service)
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), claim.signature.encode()):
        raise SignatureDoesNotMatch(
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
            StringToSign=string_to_sign,
            CanonicalRequest=canonical_request,
        )
    chunk_signer = None
    if claim.payload_hash.startswith("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"):
        chunk_signer = ChunkSigner(key, claim.amz_date, claim.scope, claim.signature)
    return SignedRequest(claim.access_key, claim.payload_hash, chunk_signer)
