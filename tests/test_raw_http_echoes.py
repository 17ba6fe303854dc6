"""What raw HTTP sends, answered as S3 answers it: listing parameters that are whitespace or
control characters echoed as sent, FetchOwner, an empty continuation token as a first page, and
``aws-chunked`` in Content-Encoding over a plain body."""

import urllib.parse
import uuid
import xml.etree.ElementTree as ElementTree

import pytest

from tests.processes import http_request

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
KEYS = ["a b", "a\nb", " lead", "\nlead", "plain", "x y/z"]


@pytest.fixture(scope="module")
def listed_bucket(shared_cluster) -> str:
    s3 = shared_cluster.s3(retries={"max_attempts": 1})
    name = f"echo-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    for key in KEYS:
        s3.put_object(Bucket=name, Key=key, Body=b"x")
    return name


def listing(cluster, bucket: str, **parameters: str) -> ElementTree.Element:
    """GET the bucket with these query parameters (underscores stand for dashes), as raw HTTP
    with every value percent-encoded."""
    query = urllib.parse.urlencode(
        {name.replace("_", "-"): value for name, value in parameters.items()},
        quote_via=urllib.parse.quote,
    )
    answer = http_request("GET", f"{cluster.url}/{bucket}?{query}")
    assert answer.status == 200, answer.body
    return ElementTree.fromstring(answer.body)


def texts(root: ElementTree.Element, path: str) -> list[str | None]:
    return [element.text for element in root.findall(path)]


@pytest.mark.parametrize(
    ("value", "prefixes", "keys"),
    [
        (" ", [" ", "a ", "x "], ["\nlead", "a\nb", "plain"]),
        ("\n", ["\n", "a\n"], [" lead", "a b", "plain", "x y/z"]),
    ],
)
def test_listobjectsv2_echoes_whitespace_parameters_as_sent(
    shared_cluster, listed_bucket, value, prefixes, keys
):
    root = listing(shared_cluster, listed_bucket, list_type="2", delimiter=value)
    assert root.findtext(f"{NS}Delimiter") == value
    assert texts(root, f"{NS}CommonPrefixes/{NS}Prefix") == prefixes
    assert texts(root, f"{NS}Contents/{NS}Key") == keys
    root = listing(shared_cluster, listed_bucket, list_type="2", prefix=value, start_after=value)
    assert root.findtext(f"{NS}Prefix") == value
    assert root.findtext(f"{NS}StartAfter") == value
    assert texts(root, f"{NS}Contents/{NS}Key") == [value + "lead"]


@pytest.mark.parametrize("value", [" ", "\n"])
def test_listobjects_v1_echoes_marker_and_delimiter_as_sent(shared_cluster, listed_bucket, value):
    root = listing(shared_cluster, listed_bucket, delimiter=value, marker=value)
    assert root.findtext(f"{NS}Delimiter") == value
    assert root.findtext(f"{NS}Marker") == value


def test_url_encoding_applies_to_the_echoes(shared_cluster, listed_bucket):
    root = listing(
        shared_cluster, listed_bucket, list_type="2", delimiter="\n", encoding_type="url"
    )
    assert root.findtext(f"{NS}Delimiter") == "%0A"
    assert root.findtext(f"{NS}EncodingType") == "url"


def test_an_empty_continuation_token_is_a_first_page_echoed_empty(shared_cluster, listed_bucket):
    root = listing(shared_cluster, listed_bucket, list_type="2", continuation_token="")
    token = root.find(f"{NS}ContinuationToken")
    assert token is not None and not token.text
    assert len(root.findall(f"{NS}Contents")) == len(KEYS)


def test_fetch_owner_adds_the_owner_to_listobjectsv2(shared_cluster, listed_bucket):
    plain = listing(shared_cluster, listed_bucket, list_type="2", max_keys="1")
    assert plain.find(f"{NS}Contents/{NS}Owner") is None
    owned = listing(shared_cluster, listed_bucket, list_type="2", max_keys="1", fetch_owner="true")
    assert owned.findtext(f"{NS}Contents/{NS}Owner/{NS}ID") == "s3lite"


def test_boto3_reads_the_echoes(s3, listed_bucket):
    answer = s3.list_objects_v2(Bucket=listed_bucket, Delimiter=" ", FetchOwner=True)
    assert answer["Delimiter"] == " "
    assert all(entry["Owner"]["ID"] == "s3lite" for entry in answer["Contents"])
    assert s3.list_objects(Bucket=listed_bucket, Marker="\n")["Marker"] == "\n"


@pytest.mark.parametrize(
    ("sent", "stored"), [("gzip, aws-chunked", "gzip"), ("aws-chunked", None), ("gzip", "gzip")]
)
def test_aws_chunked_in_content_encoding_with_a_plain_body(shared_cluster, s3, sent, stored):
    """Only a STREAMING-... payload hash frames a body; the aws-chunked token is never kept."""
    bucket = f"ce-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    url = f"{shared_cluster.url}/{bucket}/k"
    body = b"plain bytes, not chunks"
    answer = http_request("PUT", url, body=body, headers={"Content-Encoding": sent})
    assert answer.status == 200, answer.body
    got = http_request("GET", url)
    assert got.body == body
    assert got.headers.get("Content-Encoding") == stored
    head = s3.head_object(Bucket=bucket, Key="k")
    assert head.get("ContentEncoding") == stored
