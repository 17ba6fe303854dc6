"""XML bodies that clients send: parsed defensively, since anyone can send anything."""

import xml.etree.ElementTree as ElementTree

from s3lite.errors import MalformedXML

MAX_DELETE_KEYS = 1000


def local_name(element: ElementTree.Element) -> str:
    return element.tag.rpartition("}")[2]


def parse_request(body: bytes, root_name: str) -> ElementTree.Element:
    """Parse a client's XML body; entity declarations are refused (no entity expansion)."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise MalformedXML("document type declarations are not accepted")
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as error:
        raise MalformedXML(f"the body is not XML: {error}") from None
    if local_name(root) != root_name:
        raise MalformedXML(f"the root element must be {root_name}")
    return root


def parse_delete_request(body: bytes) -> tuple[list[str], bool]:
    """The keys of a DeleteObjects body (at most 1000) and whether it asked for quiet mode."""
    root = parse_request(body, "Delete")
    keys, quiet = [], False
    for child in root:
        if local_name(child) == "Quiet":
            quiet = (child.text or "").strip().lower() == "true"
        elif local_name(child) == "Object":
            key = next((c.text for c in child if local_name(c) == "Key"), None)
            if not key:
                raise MalformedXML("every Object needs a Key")
            keys.append(key)
    if not 1 <= len(keys) <= MAX_DELETE_KEYS:
        raise MalformedXML(f"a batch delete names between 1 and {MAX_DELETE_KEYS} keys")
    return keys, quiet
