"""Who sends a request: the one decision before any ACL is consulted.

Without configured credentials every caller is the owner, as s3lite has always served. With
them, a request that claims no signature at all is anonymous (and may still read what its ACLs
make public); one that claims a signature, of either version, must carry a valid one for the
configured key pair, which makes it the owner, and is refused otherwise, never downgraded to
anonymous. With a single key pair there is no signed caller other than the owner.
"""

from collections.abc import Mapping
from datetime import datetime

from s3lite.s3 import sigv2, sigv4
from s3lite.s3.acl import Caller, is_anonymous
from s3lite.s3.sigv4 import SignedRequest


def authenticate(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, list[str]],
    credentials: Mapping[str, str],
    now: datetime,
) -> tuple[Caller, SignedRequest | None]:
    """The caller and, for a signed request, what its signature vouches for; the arguments are
    those of ``sigv4.verify`` and its exceptions (or ``sigv2.verify``'s) are raised as they are."""
    if not credentials:
        return Caller.OWNER, None
    if is_anonymous(headers, raw_query):
        return Caller.ANONYMOUS, None
    verify = sigv2.verify if sigv2.is_sigv2(headers, raw_query) else sigv4.verify
    return Caller.OWNER, verify(method, raw_path, raw_query, headers, credentials, now)
