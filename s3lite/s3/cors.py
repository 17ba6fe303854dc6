"""Cross-origin resource sharing: a bucket's CORS rules, and what they answer to a browser.

A browser app (an upload with a presigned URL, say) first sends a preflight ``OPTIONS`` with
``Origin``, ``Access-Control-Request-Method`` and maybe ``Access-Control-Request-Headers``; the
first rule whose AllowedOrigin, AllowedMethod and AllowedHeader patterns cover all three decides
the answer, as Amazon S3 evaluates a CORS configuration. Without a matching rule S3 answers 403
AccessForbidden "CORSResponse: ...", and so does this. The actual request then carries
``Origin`` and gets the same Access-Control-* headers (all but Allow-Headers) when a rule
matches its method, whatever the request answers; no headers at all when none does.

S3's headers, reproduced here: Access-Control-Allow-Origin is ``*`` when the rule's origin is
``*`` and otherwise echoes the request's Origin, with Access-Control-Allow-Credentials: true;
Allow-Methods lists the rule's methods; Allow-Headers the requested headers, lower case;
Expose-Headers and Max-Age come from the rule; ``Vary`` names the three request headers the
answer depends on. A pattern may hold one ``*``, matching any run of characters; origins are
compared as sent, header names without regard to case.

The rules are parsed and checked when PutBucketCors stores them (MalformedXML, InvalidRequest,
MissingRequestBodyError, as S3 answers) and rendered back for GetBucketCors; ``CORSRule``
round-trips through a plain document for the database.
"""

import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from s3lite.errors import InvalidRequest, MalformedXML
from s3lite.s3.errors import AccessForbidden, BadRequest, MissingRequestBody
from s3lite.s3.request_xml import local_name, parse_request
from s3lite.s3.xml import add_text_elements, result_root, serialize

METHODS = ("GET", "PUT", "POST", "DELETE", "HEAD")
MAX_RULES = 100
MAX_ID_LENGTH = 255
VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
NOT_ALLOWED = (
    "CORSResponse: This CORS request is not allowed. This is usually because the evalution of "
    "Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers "
    "are not whitelisted by the resource's CORS spec."
)
NOT_ENABLED = "CORSResponse: CORS is not enabled for this bucket."
BUCKET_NOT_FOUND = "CORSResponse: Bucket not found"
NO_ORIGIN = "Insufficient information. Origin request header needed."
RULE_FIELDS = {
    "AllowedOrigin": "allowed_origins",
    "AllowedMethod": "allowed_methods",
    "AllowedHeader": "allowed_headers",
    "ExposeHeader": "expose_headers",
}


@dataclass(frozen=True)
class CORSRule:
    """One CORSRule, as PutBucketCors sent it (after the checks of ``parse_configuration``)."""

    allowed_origins: tuple[str, ...]
    allowed_methods: tuple[str, ...]
    allowed_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age_seconds: int | None = None
    id: str | None = None

    def to_document(self) -> dict:
        """The rule as a plain dict (lists, str, int, None) for the database."""
        return {name: list(v) if isinstance(v, tuple) else v for name, v in asdict(self).items()}

    @classmethod
    def from_document(cls, document: Mapping) -> "CORSRule":
        fields = {name: document.get(name) for name in cls.__dataclass_fields__}
        for name in RULE_FIELDS.values():
            fields[name] = tuple(fields[name] or ())
        return cls(**fields)

    def matches(self, origin: str, method: str, request_headers: Sequence[str] = ()) -> bool:
        """Whether this rule covers the origin, the method and every requested header."""
        return (
            any(pattern_matches(pattern, origin) for pattern in self.allowed_origins)
            and method in self.allowed_methods
            and all(
                any(
                    pattern_matches(pattern.lower(), header.lower())
                    for pattern in self.allowed_headers
                )
                for header in request_headers
            )
        )

    def response_headers(self, origin: str) -> dict[str, str]:
        """The Access-Control-* headers (and Vary) this rule gives a request from ``origin``:
        ``*`` as the allowed origin only when no other of the rule's patterns matched it."""
        matched = [p for p in self.allowed_origins if pattern_matches(p, origin)]
        everyone = all(pattern == "*" for pattern in matched)
        headers = {"Access-Control-Allow-Origin": "*" if everyone else origin}
        headers["Access-Control-Allow-Methods"] = ", ".join(self.allowed_methods)
        if headers["Access-Control-Allow-Origin"] != "*":
            headers["Access-Control-Allow-Credentials"] = "true"
        if self.expose_headers:
            headers["Access-Control-Expose-Headers"] = ", ".join(self.expose_headers)
        if self.max_age_seconds is not None:
            headers["Access-Control-Max-Age"] = str(self.max_age_seconds)
        headers["Vary"] = VARY
        return headers


def pattern_matches(pattern: str, value: str) -> bool:
    """A pattern with at most one ``*``, which matches any run of characters (even none)."""
    head, star, tail = pattern.partition("*")
    if not star:
        return pattern == value
    return len(value) >= len(head) + len(tail) and value.startswith(head) and value.endswith(tail)


def parse_configuration(body: bytes) -> list[CORSRule]:
    """The rules of a PutBucketCors body, checked as S3 checks them."""
    if not body.strip():
        raise MissingRequestBody()
    root = parse_request(body, "CORSConfiguration")
    rules = []
    for element in root:
        if local_name(element) != "CORSRule":
            raise MalformedXML(f"unexpected element {local_name(element)} in CORSConfiguration")
        rules.append(_parse_rule(element))
    if not rules:
        raise MalformedXML("a CORS configuration needs at least one CORSRule")
    if len(rules) > MAX_RULES:
        raise MalformedXML(f"a CORS configuration has at most {MAX_RULES} rules")
    return rules


def configuration_xml(rules: Sequence[CORSRule]) -> bytes:
    """The CORSConfiguration body of GetBucketCors."""
    root = result_root("CORSConfiguration")
    for rule in rules:
        element = ElementTree.SubElement(root, "CORSRule")
        if rule.id is not None:
            add_text_elements(element, {"ID": rule.id})
        for tag, name in RULE_FIELDS.items():
            for value in getattr(rule, name):
                add_text_elements(element, {tag: value})
        if rule.max_age_seconds is not None:
            add_text_elements(element, {"MaxAgeSeconds": str(rule.max_age_seconds)})
    return serialize(root)


def preflight_headers(
    rules: Sequence[CORSRule] | None,
    headers: Mapping[str, str],
    is_object: bool,
    bucket_exists: bool = True,
) -> dict[str, str]:
    """The headers of a 200 answer to a preflight ``OPTIONS`` (``headers`` is case-insensitive
    or has lower-case names; ``rules`` None means the bucket has no CORS configuration).

    Raises BadRequest for a preflight without Origin or with a method S3 does not know, checked
    first, then AccessForbidden (403) when the bucket does not exist, has no CORS configuration
    or no rule that matches.
    """
    origin = headers.get("origin")
    if not origin:
        raise BadRequest(NO_ORIGIN)
    method = headers.get("access-control-request-method")
    if method not in METHODS:
        raise BadRequest(f"Invalid Access-Control-Request-Method: {method or 'null'}")
    if not bucket_exists:
        raise refusal(BUCKET_NOT_FOUND, method, is_object)
    if not rules:
        raise refusal(NOT_ENABLED, method, is_object)
    requested = requested_headers(headers.get("access-control-request-headers"))
    for rule in rules:
        if rule.matches(origin, method, requested):
            answer = rule.response_headers(origin)
            if requested:
                answer["Access-Control-Allow-Headers"] = ", ".join(requested)
            return answer
    raise refusal(NOT_ALLOWED, method, is_object)


def request_headers(
    rules: Sequence[CORSRule] | None, method: str, headers: Mapping[str, str]
) -> dict[str, str]:
    """The Access-Control-* headers to add to the answer of an actual (non-OPTIONS) request,
    success or error alike; empty without Origin or a matching rule. As S3 does, a request that
    carries Access-Control-Request-Method is matched on that method instead of its own."""
    origin = headers.get("origin")
    if not origin or not rules:
        return {}
    method = headers.get("access-control-request-method") or method
    for rule in rules:
        if rule.matches(origin, method):
            return rule.response_headers(origin)
    return {}


def requested_headers(value: str | None) -> list[str]:
    """The names an Access-Control-Request-Headers value lists, lower case, in order."""
    return [name.strip().lower() for name in (value or "").split(",") if name.strip()]


def refusal(message: str, method: str, is_object: bool) -> AccessForbidden:
    """A 403 AccessForbidden as S3 words CORS refusals, naming the method and resource type."""
    return AccessForbidden(message, Method=method, ResourceType="OBJECT" if is_object else "BUCKET")


def _parse_rule(element: ElementTree.Element) -> CORSRule:
    values: dict[str, list[str]] = {name: [] for name in RULE_FIELDS.values()}
    max_age, rule_id = None, None
    for child in element:
        tag, text = local_name(child), (child.text or "").strip()
        if tag in RULE_FIELDS:
            if not text:
                raise MalformedXML(f"{tag} must not be empty")
            values[RULE_FIELDS[tag]].append(text)
        elif tag == "MaxAgeSeconds" and max_age is None:
            if not text.isascii() or not text.isdigit():
                raise MalformedXML("MaxAgeSeconds must be a whole number of seconds")
            max_age = int(text)
        elif tag == "ID" and rule_id is None:
            if len(text) > MAX_ID_LENGTH:
                raise MalformedXML(f"a rule ID has at most {MAX_ID_LENGTH} characters")
            rule_id = text
        else:
            raise MalformedXML(f"unexpected element {tag} in CORSRule")
    if not values["allowed_origins"] or not values["allowed_methods"]:
        raise MalformedXML("a CORSRule needs an AllowedOrigin and an AllowedMethod")
    for method in values["allowed_methods"]:
        if method not in METHODS:
            raise InvalidRequest(
                f"Found unsupported HTTP method in CORS config. Unsupported method is {method}"
            )
    for tag, name in (("AllowedOrigin", "allowed_origins"), ("AllowedHeader", "allowed_headers")):
        for pattern in values[name]:
            if pattern.count("*") > 1:
                raise InvalidRequest(f'{tag} "{pattern}" can not have more than one wildcard.')
    return CORSRule(
        allowed_origins=tuple(values["allowed_origins"]),
        allowed_methods=tuple(values["allowed_methods"]),
        allowed_headers=tuple(values["allowed_headers"]),
        expose_headers=tuple(values["expose_headers"]),
        max_age_seconds=max_age,
        id=rule_id,
    )
