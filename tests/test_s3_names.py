"""S3's bucket-name and key rules, one rule at a time, each with names on both sides of it."""

import pytest

from s3lite.errors import InvalidBucketName, InvalidKey, KeyTooLong
from s3lite.s3.names import validate_bucket_name, validate_key


@pytest.mark.parametrize(
    "name",
    [
        "abc",
        "a" * 63,
        "my-bucket.2026",
        "1bucket9",
        "a.b-c",
        "192.168.5",
        "192.168.5.4a",
        "xn-bucket",
        "sthree",
        "amzn-s3-demo",
        "bucket-s3alia",
        "bucket-ol-s3",
        "bucket.mra",
        "bucket-x-s3",
        "bucket-table-s3",
    ],
)
def test_valid_bucket_names(name):
    validate_bucket_name(name)


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("ab", "between 3 and 63"),
        ("a" * 64, "between 3 and 63"),
        ("", "between 3 and 63"),
        ("MyBucket", "lowercase letters"),
        ("my_bucket", "lowercase letters"),
        ("my bucket", "lowercase letters"),
        ("bucketé", "lowercase letters"),
        ("-bucket", "begin and end"),
        ("bucket-", "begin and end"),
        (".bucket", "begin and end"),
        ("bucket.", "begin and end"),
        ("my..bucket", "adjacent periods"),
        ("192.168.5.4", "IP address"),
        ("10.0.0.255", "IP address"),
        ("xn--bucket", "prefix xn--"),
        ("sthree-bucket", "prefix sthree-"),
        ("sthree-configurator", "prefix sthree-"),
        ("amzn-s3-demo-bucket", "prefix amzn-s3-demo-"),
        ("bucket-s3alias", "suffix -s3alias"),
        ("bucket--ol-s3", "suffix --ol-s3"),
        ("bucket.mrap", "suffix .mrap"),
        ("bucket--x-s3", "suffix --x-s3"),
        ("bucket--table-s3", "suffix --table-s3"),
    ],
)
def test_invalid_bucket_names_say_which_rule(name, rule):
    with pytest.raises(InvalidBucketName) as raised:
        validate_bucket_name(name)
    assert rule in raised.value.message


@pytest.mark.parametrize(
    "key",
    [
        "a",
        "a%20b",
        "dir/sub dir/file name.txt",
        "x" * 1024,
        "é" * 512,
        "€" * 341 + "a",
        "😀" * 256,
    ],
)
def test_keys_up_to_1024_utf8_bytes_are_valid(key):
    assert len(key.encode("utf-8")) <= 1024
    validate_key(key)


@pytest.mark.parametrize("key", ["x" * 1025, "é" * 512 + "a", "😀" * 256 + "a", "€" * 342])
def test_keys_over_1024_utf8_bytes_are_too_long(key):
    assert len(key.encode("utf-8")) > 1024
    with pytest.raises(KeyTooLong):
        validate_key(key)


def test_empty_key_is_invalid():
    with pytest.raises(InvalidKey):
        validate_key("")


def test_key_that_is_not_valid_utf8_is_invalid():
    with pytest.raises(InvalidKey):
        validate_key("lone \udc80 surrogate")
