"""Bad input of every kind: each gets the answer S3 gives it, stores nothing, and the gateway
keeps serving everyone else.

Most cases talk to the gateway over a raw socket, since the point is to send what well-behaved
HTTP clients never would. Where Tornado itself refuses a request (a header line it cannot parse,
a body that does not match its framing) it answers a bare ``400 Bad Request`` and closes the
connection before any handler runs, so those cases assert the status only.
"""

import base64
import hashlib
import os
import random
import re
import socket
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ElementTree

import pytest

from tests.processes import Cluster, drop_databases, http_request, unique_prefix, wait_until

MIB = 1024 * 1024
NS = {"s3": "http://s3.amazonaws.com/doc/2006-03-01/"}
# The limits of the impatient gateway: small, so that dropped clients are seen within seconds.
IDLE_SECONDS = 2
BODY_SECONDS = 2
# How long past its limit the gateway may take to drop a client: a loaded machine is slow.
GRACE_SECONDS = 15


def exchange(port: int, data: bytes, *, seconds: float = 30.0, half_close: bool = False) -> bytes:
    """Send ``data`` on a fresh connection and answer everything the gateway sends back until it
    closes the connection (``ConnectionResetError`` counts as closing; a timeout fails)."""
    with socket.create_connection(("127.0.0.1", port), timeout=seconds) as client:
        try:
            client.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the gateway gave up on the request before it was all sent
        if half_close:
            client.shutdown(socket.SHUT_WR)
        return read_until_closed(client)


def read_until_closed(client: socket.socket) -> bytes:
    reply = b""
    while True:
        try:
            chunk = client.recv(65536)
        except ConnectionResetError:
            return reply
        if not chunk:
            return reply
        reply += chunk


def status_of(reply: bytes) -> int | None:
    match = re.match(rb"HTTP/1\.1 (\d{3}) ", reply)
    return int(match.group(1)) if match else None


def quote(key: str) -> str:
    return urllib.parse.quote(key, safe="/")


def listed_keys(cluster: Cluster, bucket: str) -> list[str]:
    """Every key in ``bucket``, URL-encoded in the listing so that any character survives."""
    response = http_request("GET", f"{cluster.url}/{bucket}?list-type=2&encoding-type=url")
    assert response.status == 200, response.body
    root = ElementTree.fromstring(response.body)
    return [urllib.parse.unquote(key.text) for key in root.iterfind("s3:Contents/s3:Key", NS)]


def assert_still_serving(cluster: Cluster, bucket: str) -> None:
    """Another client's upload and download work as ever."""
    key = f"after-{uuid.uuid4().hex[:8]}"
    body = os.urandom(50_000)
    assert http_request("PUT", f"{cluster.url}/{bucket}/{key}", body=body).status == 200
    assert http_request("GET", f"{cluster.url}/{bucket}/{key}").body == body
    assert http_request("DELETE", f"{cluster.url}/{bucket}/{key}").status == 204


def assert_nothing_stored(cluster: Cluster, bucket: str, parts_before: set[str]) -> None:
    """No object in ``bucket``, and, once aborted uploads are cleaned up, no part that was not
    there before the request (parts of earlier tests may still be on their way out)."""
    assert listed_keys(cluster, bucket) == []
    wait_until(
        lambda: cluster.stored_part_ids() <= parts_before, 60, "the request's parts to be gone"
    )


@pytest.fixture
def parts_before(shared_cluster, bucket) -> set[str]:
    return shared_cluster.stored_part_ids()


# Headers and framing


def test_an_oversized_header_is_refused_and_stores_nothing(shared_cluster, bucket, parts_before):
    request = (
        f"PUT /{bucket}/big-header HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        f"X-Amz-Meta-Huge: {'h' * 100 * 1024}\r\n\r\nhello"
    ).encode()
    reply = exchange(shared_cluster.gateway.port, request)
    # Tornado stops reading headers at 64 KiB and closes the connection without an answer; S3
    # answers 400 with no more. Either way, never a success.
    assert status_of(reply) in (None, 400), reply[:200]
    assert http_request("HEAD", f"{shared_cluster.url}/{bucket}/big-header").status == 404
    assert_nothing_stored(shared_cluster, bucket, parts_before)
    assert_still_serving(shared_cluster, bucket)


MALFORMED_HEADERS = {
    "no colon": "X-Broken\r\n",
    "space in a name": "X Broken: yes\r\n",
    "control character in a value": "X-Broken: a\x01b\r\n",
    "NUL in a value": "X-Broken: a\x00b\r\n",
    "negative Content-Length": "Content-Length: -5\r\n",
}


@pytest.mark.parametrize("line", MALFORMED_HEADERS.values(), ids=MALFORMED_HEADERS.keys())
def test_a_malformed_header_line_is_400_and_stores_nothing(
    shared_cluster, bucket, parts_before, line
):
    length = "" if line.startswith("Content-Length") else "Content-Length: 5\r\n"
    request = f"PUT /{bucket}/k HTTP/1.1\r\nHost: x\r\n{length}{line}\r\nhello".encode()
    reply = exchange(shared_cluster.gateway.port, request)
    assert status_of(reply) == 400, reply[:200]
    assert_nothing_stored(shared_cluster, bucket, parts_before)
    assert_still_serving(shared_cluster, bucket)


NO_NUMBER_LENGTHS = {"not a number": "abc", "two values": "5, 6"}


def put_with_length(cluster: Cluster, bucket: str, length: str) -> bytes:
    request = f"PUT /{bucket}/k HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\nhello"
    return exchange(cluster.gateway.port, request.encode())


@pytest.mark.parametrize("length", NO_NUMBER_LENGTHS.values(), ids=NO_NUMBER_LENGTHS.keys())
def test_a_content_length_that_is_no_number_stores_nothing(
    shared_cluster, bucket, parts_before, length
):
    reply = put_with_length(shared_cluster, bucket, length)
    assert status_of(reply) not in (None, 200), reply[:300]
    assert_nothing_stored(shared_cluster, bucket, parts_before)
    assert_still_serving(shared_cluster, bucket)


@pytest.mark.parametrize("length", NO_NUMBER_LENGTHS.values(), ids=NO_NUMBER_LENGTHS.keys())
def test_a_content_length_that_is_no_number_is_400(shared_cluster, bucket, length):
    reply = put_with_length(shared_cluster, bucket, length)
    assert status_of(reply) == 400, reply[:300]


@pytest.mark.parametrize(
    "garbage",
    [
        random.Random(6).randbytes(4096) + b"\r\n\r\n",
        b"\x00" * 1000 + b"\r\n\r\n",
        b"GARBAGE\r\n\r\n",
        b"GET /\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(32) + b"\r\n\r\n",
    ],
    ids=["random bytes", "NUL bytes", "no request line", "HTTP/0.9", "TLS hello"],
)
def test_garbage_on_the_socket_is_400(shared_cluster, bucket, garbage):
    reply = exchange(shared_cluster.gateway.port, garbage)
    assert status_of(reply) == 400, reply[:200]
    assert_still_serving(shared_cluster, bucket)


def test_endless_garbage_without_a_line_end_is_dropped(shared_cluster, bucket):
    garbage = random.Random(7).randbytes(200 * 1024).replace(b"\n", b"#")
    reply = exchange(shared_cluster.gateway.port, garbage)
    assert status_of(reply) in (None, 400), reply[:200]
    assert_still_serving(shared_cluster, bucket)


def test_a_body_shorter_than_its_content_length_then_closed_stores_nothing(
    shared_cluster, bucket, parts_before
):
    request = f"PUT /{bucket}/short HTTP/1.1\r\nHost: x\r\nContent-Length: 6000\r\n\r\n"
    with socket.create_connection(("127.0.0.1", shared_cluster.gateway.port)) as client:
        client.sendall(request.encode() + os.urandom(3500))  # three whole parts of six
        time.sleep(0.5)  # let those parts reach their nodes before the client goes
    assert http_request("HEAD", f"{shared_cluster.url}/{bucket}/short").status == 404
    assert_nothing_stored(shared_cluster, bucket, parts_before)
    # Closing only its sending half, the client still hears nothing: S3 cannot answer either.
    reply = exchange(
        shared_cluster.gateway.port, request.encode() + os.urandom(3500), half_close=True
    )
    assert status_of(reply) in (None, 400), reply[:200]
    assert_nothing_stored(shared_cluster, bucket, parts_before)
    assert_still_serving(shared_cluster, bucket)


def test_bytes_past_the_content_length_are_not_stored_and_end_the_connection(
    shared_cluster, bucket
):
    body, extra = b"exactly-20-bytes-ok!", b"EXTRA BYTES THAT ARE NO REQUEST\r\n\r\n"
    request = f"PUT /{bucket}/longer HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
    reply = exchange(shared_cluster.gateway.port, request.encode() + body + extra)
    # The declared length is the body; what follows is read as the next request, and is none.
    assert status_of(reply) == 200, reply[:300]
    assert reply.count(b"HTTP/1.1 ") == 2 and b"HTTP/1.1 400 " in reply, reply
    assert http_request("GET", f"{shared_cluster.url}/{bucket}/longer").body == body
    assert listed_keys(shared_cluster, bucket) == ["longer"]
    assert_still_serving(shared_cluster, bucket)


def test_a_request_after_a_whole_body_on_the_same_connection_is_served(shared_cluster, bucket):
    body = b"twenty bytes of body"
    request = (
        f"PUT /{bucket}/pipelined HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    follow_up = f"GET /{bucket}/pipelined HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    reply = exchange(shared_cluster.gateway.port, request + follow_up.encode())
    first, _, second = reply.partition(b"\r\n\r\nHTTP/1.1 ")
    assert status_of(first) == 200 and second.startswith(b"200 "), reply
    assert second.endswith(body)


# Slow clients: a gateway of its own, with short limits


@pytest.fixture(scope="module")
def impatient_cluster(mongo_uri, tmp_path_factory):
    prefix = unique_prefix()
    cluster = Cluster(mongo_uri, prefix, tmp_path_factory.mktemp("impatient-logs"))
    try:
        cluster.start()
        cluster.restart_gateway(
            "--idle-timeout-seconds",
            str(IDLE_SECONDS),
            "--body-timeout-seconds",
            str(BODY_SECONDS),
        )
        cluster.wait_for_nodes_up()  # their heartbeats failed while the gateway restarted
        cluster.s3().create_bucket(Bucket="patience")
        yield cluster
    finally:
        cluster.stop()
        drop_databases(mongo_uri, prefix)


def seconds_until_dropped(port: int, data: bytes) -> float:
    started = time.monotonic()
    reply = exchange(port, data, seconds=IDLE_SECONDS + BODY_SECONDS + GRACE_SECONDS)
    assert status_of(reply) in (None, 400), reply[:200]
    return time.monotonic() - started


@pytest.mark.parametrize(
    "data", [b"", b"GET /patience HTTP/1.1\r\nHost: x\r\n"], ids=["silent", "half the headers"]
)
def test_an_idle_connection_is_closed(impatient_cluster, data):
    waited = seconds_until_dropped(impatient_cluster.gateway.port, data)
    assert IDLE_SECONDS - 0.5 <= waited, "closed before its time was up"
    assert_still_serving(impatient_cluster, "patience")


def test_a_keep_alive_connection_left_idle_is_closed(impatient_cluster):
    with socket.create_connection(("127.0.0.1", impatient_cluster.gateway.port), timeout=30) as c:
        c.sendall(b"GET /patience HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = read_until_closed(c)  # the listing, then the connection closes when idle
    assert status_of(reply) == 200


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_upload_that_stalls_is_dropped_and_undone(impatient_cluster, chunked):
    cluster = impatient_cluster
    before = cluster.stored_part_ids()
    if chunked:
        head = "Transfer-Encoding: chunked\r\n\r\n"
        sent = b"".join(b"10000\r\n" + os.urandom(0x10000) + b"\r\n" for _ in range(24))
    else:
        head = f"Content-Length: {3 * MIB}\r\n\r\n"
        sent = os.urandom(3 * MIB // 2)  # whole parts reach their nodes before the stall
    request = f"PUT /patience/stalled HTTP/1.1\r\nHost: x\r\n{head}".encode()
    with socket.create_connection(("127.0.0.1", cluster.gateway.port), timeout=30) as client:
        client.sendall(request + sent)
        stalled_at = time.monotonic()
        assert_still_serving(cluster, "patience")  # others are served while it stalls
        reply = read_until_closed(client)
        waited = time.monotonic() - stalled_at
    assert status_of(reply) in (None, 400), reply[:200]
    assert BODY_SECONDS - 0.5 <= waited <= BODY_SECONDS + GRACE_SECONDS
    assert http_request("HEAD", f"{cluster.url}/patience/stalled").status == 404
    wait_until(lambda: cluster.stored_part_ids() <= before, 60, "the stalled upload's parts to go")
    assert_still_serving(cluster, "patience")


def test_a_slow_but_steady_upload_is_not_cut_off(impatient_cluster):
    cluster = impatient_cluster
    body = os.urandom(60_000)
    request = b"PUT /patience/steady HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n"
    with socket.create_connection(("127.0.0.1", cluster.gateway.port), timeout=30) as client:
        client.sendall(request)
        for offset in range(0, len(body), 12_000):  # five pauses: 2.5 body limits in all
            time.sleep(BODY_SECONDS / 2)
            client.sendall(body[offset : offset + 12_000])
        reply = client.recv(4096)
    assert status_of(reply) == 200, reply
    assert http_request("GET", f"{cluster.url}/patience/steady").body == body


# Keys and bucket names


@pytest.mark.parametrize("key", ["a/../b", "..", "../escape", "./here", "a/./b/.", "x/.."])
def test_keys_with_dot_segments_are_stored_exactly_as_named(shared_cluster, bucket, key):
    url = f"{shared_cluster.url}/{bucket}/{quote(key)}"
    assert http_request("PUT", url, body=b"dots").status == 200
    assert http_request("GET", url).body == b"dots"
    assert listed_keys(shared_cluster, bucket) == [key]
    assert http_request("DELETE", url).status == 204
    assert listed_keys(shared_cluster, bucket) == []


def test_a_dot_dot_segment_never_reaches_another_bucket(shared_cluster, s3, bucket):
    other = f"other-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=other)
    url = f"{shared_cluster.url}/{bucket}/../{other}/k"
    assert http_request("PUT", url, body=b"stays").status == 200
    assert listed_keys(shared_cluster, bucket) == [f"../{other}/k"]
    assert listed_keys(shared_cluster, other) == []


@pytest.mark.parametrize(
    "key", ["nul\x00in-the-middle", "ctrl-\x01\x1f\x7f", "line\r\nbreak", "tab\there"]
)
def test_keys_with_nul_and_control_characters_round_trip(shared_cluster, bucket, key):
    url = f"{shared_cluster.url}/{bucket}/{quote(key)}"
    assert http_request("PUT", url, body=b"odd").status == 200
    assert http_request("GET", url).body == b"odd"
    assert http_request("HEAD", url).status == 200
    assert listed_keys(shared_cluster, bucket) == [key]
    assert http_request("DELETE", url).status == 204
    assert http_request("HEAD", url).status == 404


def test_a_carriage_return_in_a_key_survives_a_listing_without_url_encoding(shared_cluster, bucket):
    key = "line\rbreak"
    url = f"{shared_cluster.url}/{bucket}/{quote(key)}"
    assert http_request("PUT", url, body=b"x").status == 200
    response = http_request("GET", f"{shared_cluster.url}/{bucket}?list-type=2")
    assert ElementTree.fromstring(response.body).findtext("s3:Contents/s3:Key", None, NS) == key


@pytest.mark.parametrize(
    "encoded", ["bad%FF%FE", "bad%C3%28", "surrogate%ED%A0%80", "overlong%C0%AF"]
)
def test_a_key_that_is_not_utf8_is_invalid_uri(shared_cluster, bucket, parts_before, encoded):
    response = http_request("PUT", f"{shared_cluster.url}/{bucket}/{encoded}", body=b"x")
    assert response.status == 400
    assert_nothing_stored(shared_cluster, bucket, parts_before)
    assert response.s3_error_code == "InvalidURI"


def test_a_key_that_is_not_utf8_is_refused_and_stores_nothing(shared_cluster, bucket, parts_before):
    for encoded in ("bad%FF%FE", "bad%C3%28", "surrogate%ED%A0%80", "overlong%C0%AF"):
        response = http_request("PUT", f"{shared_cluster.url}/{bucket}/{encoded}", body=b"x")
        assert response.status == 400, encoded
    assert_nothing_stored(shared_cluster, bucket, parts_before)
    assert_still_serving(shared_cluster, bucket)


@pytest.mark.parametrize(
    "key", ["k" * 1025, "é" * 512 + "k"], ids=["1025 ASCII bytes", "1025 bytes of UTF-8"]
)
def test_a_key_of_1025_bytes_is_key_too_long_and_stores_nothing(
    shared_cluster, bucket, parts_before, key
):
    response = http_request("PUT", f"{shared_cluster.url}/{bucket}/{quote(key)}", body=b"x" * 100)
    assert response.status == 400
    assert response.s3_error_code == "KeyTooLongError"
    assert_nothing_stored(shared_cluster, bucket, parts_before)
    longest = key[:-1]  # 1024 bytes
    url = f"{shared_cluster.url}/{bucket}/{quote(longest)}"
    assert http_request("PUT", url, body=b"x").status == 200
    assert listed_keys(shared_cluster, bucket) == [longest]


@pytest.mark.parametrize(
    "name", ["Upper", "under_score", "a" * 64, "no%00nul", "-dash", "10.0.0.1", "sthree-x"]
)
def test_an_object_in_an_invalid_bucket_name_is_invalid_bucket_name(shared_cluster, name):
    for method, body in (("PUT", b"x"), ("GET", None), ("HEAD", None)):
        response = http_request(method, f"{shared_cluster.url}/{name}/k", body=body)
        assert response.status == 400, (method, response.body)
        if method != "HEAD":
            assert response.s3_error_code == "InvalidBucketName"
    listing = http_request("GET", f"{shared_cluster.url}/{name}?list-type=2")
    assert listing.status == 400
    assert listing.s3_error_code == "InvalidBucketName"


# Range headers


@pytest.mark.parametrize(
    "header", ["bytes=abc", "bytes=5-2", "bytes=0-1,5-6", "items=0-5", "bytes=", "bytes=--5"]
)
def test_a_range_s3_cannot_read_is_ignored_and_the_whole_object_sent(
    shared_cluster, bucket, header
):
    body = os.urandom(1000)
    url = f"{shared_cluster.url}/{bucket}/whole"
    http_request("PUT", url, body=body)
    response = http_request("GET", url, headers={"Range": header})
    assert response.status == 200
    assert response.body == body
    assert "Content-Range" not in response.headers


# XML bodies


def open_multipart_upload(cluster: Cluster, bucket: str, key: str) -> str:
    response = http_request("POST", f"{cluster.url}/{bucket}/{key}?uploads")
    upload_id = ElementTree.fromstring(response.body).findtext("s3:UploadId", None, NS)
    part = http_request(
        "PUT", f"{cluster.url}/{bucket}/{key}?uploadId={upload_id}&partNumber=1", body=b"one"
    )
    assert part.status == 200
    return upload_id


def completion(parts: bytes) -> bytes:
    return b"<CompleteMultipartUpload>" + parts + b"</CompleteMultipartUpload>"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml",
        b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>",
        b"<Wrong/>",
        b"<CompleteMultipartUpload/>",
        completion(b"<Part><PartNumber>1</PartNumber></Part>"),
        completion(b"<Part><PartNumber>one</PartNumber><ETag>x</ETag></Part>"),
        b'<!DOCTYPE x [<!ENTITY a "aaaa">]><CompleteMultipartUpload/>',
    ],
    ids=[
        "empty",
        "not XML",
        "truncated",
        "wrong root",
        "no parts",
        "no ETag",
        "part number no number",
        "entity declaration",
    ],
)
def test_a_malformed_completion_is_malformed_xml_and_keeps_the_upload(shared_cluster, bucket, body):
    upload_id = open_multipart_upload(shared_cluster, bucket, "assembled")
    url = f"{shared_cluster.url}/{bucket}/assembled?uploadId={upload_id}"
    response = http_request("POST", url, body=body)
    assert response.status == 400
    assert response.s3_error_code == "MalformedXML"
    assert http_request("HEAD", f"{shared_cluster.url}/{bucket}/assembled").status == 404
    assert http_request("GET", url).status == 200  # the upload is still open, its part kept
    assert http_request("DELETE", url).status == 204


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<Delete><Object><Key>kept</Key></Object>",
        b"<Delete><Object></Object></Delete>",
        b"<Delete></Delete>",
        b"\xff\xfe<Delete/>",
    ],
    ids=["empty", "truncated", "object without key", "no objects", "not UTF-8"],
)
def test_a_malformed_batch_delete_is_malformed_xml_and_deletes_nothing(
    shared_cluster, bucket, body
):
    http_request("PUT", f"{shared_cluster.url}/{bucket}/kept", body=b"still here")
    response = http_request("POST", f"{shared_cluster.url}/{bucket}?delete", body=body)
    assert response.status == 400
    assert response.s3_error_code == "MalformedXML"
    assert listed_keys(shared_cluster, bucket) == ["kept"]


def huge_delete_body() -> bytes:
    """A DeleteObjects body over the gateway's 8 MiB limit for XML request bodies."""
    padding = " " * (8 * MIB)
    return f"<Delete>{padding}<Object><Key>kept</Key></Object></Delete>".encode()


@pytest.mark.parametrize("target", ["?delete", "/assembled?uploadId="])
def test_an_xml_body_over_the_limit_is_refused_and_changes_nothing(shared_cluster, bucket, target):
    http_request("PUT", f"{shared_cluster.url}/{bucket}/kept", body=b"still here")
    upload_id = open_multipart_upload(shared_cluster, bucket, "assembled")
    if target.endswith("="):
        target += upload_id
    body = huge_delete_body()
    assert len(body) > 8 * MIB
    request = f"POST /{bucket}{target} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
    # The gateway reads the body to its end before it answers, so the answer is not lost.
    reply = exchange(shared_cluster.gateway.port, request.encode() + body, half_close=True)
    assert status_of(reply) == 400, reply[:300]
    assert listed_keys(shared_cluster, bucket) == ["kept"]
    url = f"{shared_cluster.url}/{bucket}/assembled?uploadId={upload_id}"
    assert http_request("GET", url).status == 200
    assert_still_serving(shared_cluster, bucket)


def test_an_xml_body_over_the_limit_is_max_message_length_exceeded(shared_cluster, bucket):
    body = huge_delete_body()
    request = f"POST /{bucket}?delete HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
    reply = exchange(shared_cluster.gateway.port, request.encode() + body, half_close=True)
    assert b"<Code>MaxMessageLengthExceeded</Code>" in reply, reply[:300]


@pytest.mark.parametrize("where", ["upload part", "list parts", "completion"])
def test_a_part_number_in_superscript_digits_is_a_client_error(shared_cluster, bucket, where):
    upload_id = open_multipart_upload(shared_cluster, bucket, "assembled")
    url = f"{shared_cluster.url}/{bucket}/assembled?uploadId={upload_id}"
    if where == "upload part":
        response = http_request("PUT", f"{url}&partNumber=%C2%B2", body=b"two")
    elif where == "list parts":
        response = http_request("GET", f"{url}&max-parts=%C2%B2")
    else:
        part = "<Part><PartNumber>\u00b2</PartNumber><ETag>x</ETag></Part>"
        body = f"<CompleteMultipartUpload>{part}</CompleteMultipartUpload>".encode()
        response = http_request("POST", url, body=body)
    assert response.status == 400, response.body
    assert response.s3_error_code in ("InvalidArgument", "MalformedXML")


# Content-MD5


@pytest.mark.parametrize(
    "header",
    [
        "not base64!",
        "AAAA",
        "",
        hashlib.md5(b"the body").hexdigest(),
        base64.b64encode(hashlib.md5(b"the body").digest()).decode() + "==",
    ],
    ids=["not base64", "too short", "empty", "hex, not base64", "extra padding"],
)
def test_a_content_md5_that_is_no_md5_is_invalid_digest(
    shared_cluster, bucket, parts_before, header
):
    url = f"{shared_cluster.url}/{bucket}/digest"
    response = http_request("PUT", url, headers={"Content-MD5": header}, body=b"the body")
    assert response.status == 400
    assert response.s3_error_code == "InvalidDigest"
    assert_nothing_stored(shared_cluster, bucket, parts_before)


def test_a_wrong_content_md5_on_a_large_body_is_bad_digest_and_its_parts_go(
    shared_cluster, bucket, parts_before
):
    body = os.urandom(3 * MIB)
    wrong = base64.b64encode(hashlib.md5(body[:-1]).digest()).decode()
    url = f"{shared_cluster.url}/{bucket}/digest"
    response = http_request("PUT", url, headers={"Content-MD5": wrong}, body=body)
    assert response.status == 400
    assert response.s3_error_code == "BadDigest"
    assert_nothing_stored(shared_cluster, bucket, parts_before)


def test_a_wrong_content_md5_on_an_upload_part_is_bad_digest_and_no_part(shared_cluster, bucket):
    upload_id = open_multipart_upload(shared_cluster, bucket, "assembled")
    url = f"{shared_cluster.url}/{bucket}/assembled?uploadId={upload_id}"
    before = shared_cluster.stored_part_ids()
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    response = http_request(
        "PUT", f"{url}&partNumber=2", headers={"Content-MD5": wrong}, body=b"two" * 1000
    )
    assert response.status == 400
    assert response.s3_error_code == "BadDigest"
    listing = ElementTree.fromstring(http_request("GET", url).body)
    assert [p.text for p in listing.iterfind("s3:Part/s3:PartNumber", NS)] == ["1"]
    wait_until(lambda: shared_cluster.stored_part_ids() <= before, 60, "the part's pieces to go")
