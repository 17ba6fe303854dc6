"""Bucket-name and object-key rules of Amazon S3, checked before anything is stored.

Checking here, once, keeps a name S3 would refuse from ever reaching the metadata database,
so a bucket or key that s3lite accepts is one every S3 client can also address.
"""

import re

from s3lite.errors import InvalidBucketName, InvalidKey, KeyTooLong

MAX_KEY_BYTES = 1024

BUCKET_CHARACTERS = re.compile(r"[a-z0-9.-]+")
IPV4_SHAPED = re.compile(r"[0-9]+(\.[0-9]+){3}")
RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def validate_bucket_name(name: str) -> None:
    """Raise InvalidBucketName, saying which rule failed, unless S3 would accept ``name``.

    These are the rules for general-purpose buckets in the S3 User Guide.
    """
    if not 3 <= len(name) <= 63:
        raise InvalidBucketName("Bucket names must be between 3 and 63 characters long.")
    if not BUCKET_CHARACTERS.fullmatch(name):
        raise InvalidBucketName(
            "Bucket names can consist only of lowercase letters, numbers, dots and hyphens."
        )
    if not (name[0].isalnum() and name[-1].isalnum()):
        raise InvalidBucketName("Bucket names must begin and end with a letter or number.")
    if ".." in name:
        raise InvalidBucketName("Bucket names must not contain two adjacent periods.")
    if IPV4_SHAPED.fullmatch(name):
        raise InvalidBucketName("Bucket names must not be formatted as an IP address.")
    for prefix in RESERVED_PREFIXES:
        if name.startswith(prefix):
            raise InvalidBucketName(f"Bucket names must not start with the prefix {prefix}.")
    for suffix in RESERVED_SUFFIXES:
        if name.endswith(suffix):
            raise InvalidBucketName(f"Bucket names must not end with the suffix {suffix}.")


def validate_key(key: str) -> None:
    """Raise unless ``key`` is a key S3 would store: not empty, at most 1024 bytes of UTF-8.

    The limit is in bytes, not characters, so a key of multibyte characters is counted encoded.
    """
    if not key:
        raise InvalidKey("Object keys must not be empty.")
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidKey("Object keys must be valid UTF-8.") from error
    if len(encoded) > MAX_KEY_BYTES:
        raise KeyTooLong(f"Your key is too long: {len(encoded)} bytes, at most {MAX_KEY_BYTES}.")
