"""A storage node's internal HTTP API, against a real node process and the real database.

No gateway runs here: the node's gateway URL is a closed port, so it keeps retrying to register
while it serves parts, which is exactly what a node does while its gateway is away.
"""

import hashlib
import http.client
import json
import os
import signal
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pymongo
import pytest

from s3lite.config import NodeConfig
from s3lite.node.gridfs_store import COLLECTIONS
from tests.processes import (
    drop_databases,
    http_request,
    standalone_node,
    start_all,
    unique_prefix,
    wait_until,
)

CHUNK = NodeConfig.chunk_size_bytes  # the node's default GridFS chunk size
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def node(mongo_uri, tmp_path_factory):
    """One node for the tests that only add parts of their own under unique ids."""
    prefix = unique_prefix()
    node = standalone_node(mongo_uri, prefix, tmp_path_factory.mktemp("node-api-logs"))
    start_all([node])
    yield node
    node.stop()
    drop_databases(mongo_uri, prefix)


def new_part_id() -> str:
    return f"part-{uuid.uuid4().hex}"


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def put_part(node, part_id: str, content: bytes, **kwargs):
    return node.request("PUT", f"/_node/parts/{part_id}", body=content, **kwargs)


def stored(node, content: bytes) -> str:
    part_id = new_part_id()
    response = put_part(node, part_id, content)
    assert response.status == 200, response.body
    return part_id


def listed_ids(node) -> list[str]:
    response = node.request("GET", "/_node/parts")
    assert response.status == 200
    return [entry["part_id"] for entry in response.json()["parts"]]


def open_upload(node, part_id: str, headers: dict[str, str], body: bytes = b"") -> socket.socket:
    """Send a PUT's head and the start of its body on a raw socket, and hand over the socket."""
    sock = socket.create_connection(("127.0.0.1", node.port), timeout=30)
    head = "".join(
        f"{name}: {value}\r\n"
        for name, value in {
            "Host": f"127.0.0.1:{node.port}",
            "Authorization": f"Bearer {node.token}",
            **headers,
        }.items()
    )
    sock.sendall(f"PUT /_node/parts/{part_id} HTTP/1.1\r\n{head}\r\n".encode() + body)
    return sock


# The cluster token


def test_health_answers_only_with_the_cluster_token(node):
    assert node.request("GET", "/_node/health", token=None).status == 401
    assert node.request("GET", "/_node/health", token="not-the-token").status == 401
    assert node.request("GET", "/_node/health", token=node.token + "x").status == 401
    response = node.request("GET", "/_node/health")
    assert response.status == 200
    assert response.json()["status"] == "ok"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/_node/parts"),
        ("GET", "/_node/parts/some-part"),
        ("HEAD", "/_node/parts/some-part"),
        ("DELETE", "/_node/parts/some-part"),
    ],
)
def test_part_endpoints_refuse_a_wrong_token(node, method, path):
    assert node.request(method, path, token=None).status == 401
    assert node.request(method, path, token="wrong").status == 401


def test_a_put_with_a_wrong_token_stores_nothing(node):
    part_id = new_part_id()
    assert put_part(node, part_id, b"intruder", token="wrong").status == 401
    assert node.request("GET", f"/_node/parts/{part_id}").status == 404


# Storing and reading whole parts


@pytest.mark.parametrize(
    "size",
    [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * MIB + 12345],
    ids=["empty", "one-byte", "chunk-minus-one", "one-chunk", "chunk-plus-one", "several-mib"],
)
def test_a_stored_part_comes_back_byte_for_byte(node, size):
    content = os.urandom(size)
    part_id = new_part_id()

    response = put_part(node, part_id, content)

    assert response.status == 200
    assert response.json() == {"part_id": part_id, "size": size, "sha256": sha256(content)}
    fetched = node.request("GET", f"/_node/parts/{part_id}")
    assert fetched.status == 200
    assert fetched.headers["Content-Length"] == str(size)
    assert fetched.body == content


def test_a_part_is_streamed_in_as_it_arrives(node):
    content = os.urandom(2 * MIB + 7)
    pieces = (content[i : i + 64 * 1024] for i in range(0, len(content), 64 * 1024))
    part_id = new_part_id()

    response = put_part(node, part_id, pieces, headers={"Content-Length": str(len(content))})

    assert response.status == 200
    assert response.json()["sha256"] == sha256(content)
    assert node.request("GET", f"/_node/parts/{part_id}").body == content


def test_head_describes_a_part_without_its_bytes(node):
    content = os.urandom(CHUNK * 2 + 5)
    part_id = stored(node, content)

    response = node.request("HEAD", f"/_node/parts/{part_id}")

    assert response.status == 200
    assert response.body == b""
    assert response.headers["Content-Length"] == str(len(content))
    assert response.headers["X-Part-Size"] == str(len(content))
    assert response.headers["X-Part-Sha256"] == sha256(content)


def test_an_absent_part_is_not_found(node):
    assert node.request("GET", f"/_node/parts/{new_part_id()}").status == 404
    assert node.request("HEAD", f"/_node/parts/{new_part_id()}").status == 404


def test_a_part_id_is_never_overwritten(node):
    original = os.urandom(1000)
    part_id = stored(node, original)

    response = put_part(node, part_id, os.urandom(1000))

    assert response.status == 409
    assert response.json()["error"] == "PartExists"
    assert node.request("GET", f"/_node/parts/{part_id}").body == original


def test_a_put_without_content_length_is_refused(node):
    part_id = new_part_id()
    # A streaming client that sends chunked; the node answers before any of the body arrives.
    with open_upload(node, part_id, {"Transfer-Encoding": "chunked"}) as sock:
        response = http.client.HTTPResponse(sock, method="PUT")
        response.begin()
        assert response.status == 411
        assert json.loads(response.read())["error"] == "MissingContentLength"
    assert node.request("GET", f"/_node/parts/{part_id}").status == 404


# Byte ranges


@pytest.fixture(scope="module")
def ranged_part(node):
    """A part of three full chunks and a partial fourth, to read across chunk boundaries."""
    content = os.urandom(3 * CHUNK + 777)
    return stored(node, content), content


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=0-99", 0, 99),
        (f"bytes={CHUNK - 10}-{CHUNK + 10}", CHUNK - 10, CHUNK + 10),
        (f"bytes={CHUNK}-{2 * CHUNK - 1}", CHUNK, 2 * CHUNK - 1),
        (f"bytes=100-{3 * CHUNK + 5}", 100, 3 * CHUNK + 5),
        (f"bytes={2 * CHUNK - 1}-", 2 * CHUNK - 1, 3 * CHUNK + 776),
        ("bytes=-1000", 3 * CHUNK + 777 - 1000, 3 * CHUNK + 776),
        ("bytes=-1", 3 * CHUNK + 776, 3 * CHUNK + 776),
        (f"bytes=-{10 * CHUNK}", 0, 3 * CHUNK + 776),
        (f"bytes=5-{10 * CHUNK}", 5, 3 * CHUNK + 776),
    ],
)
def test_a_range_answers_206_with_exactly_those_bytes(node, ranged_part, header, first, last):
    part_id, content = ranged_part

    response = node.request("GET", f"/_node/parts/{part_id}", headers={"Range": header})

    assert response.status == 206
    assert response.headers["Content-Range"] == f"bytes {first}-{last}/{len(content)}"
    assert response.headers["Content-Length"] == str(last - first + 1)
    assert response.body == content[first : last + 1]


@pytest.fixture(scope="module")
def chunks_only_part(node, mongo_uri):
    """A part of three full chunks and a partial fourth whose files document is gone: only a
    read that finds it by its first chunk can serve it."""
    content = os.urandom(3 * CHUNK + 777)
    part_id = stored(node, content)
    with pymongo.MongoClient(mongo_uri) as client:
        client[node.db][f"{COLLECTIONS}.files"].delete_one({"_id": part_id})
    return part_id, content


@pytest.mark.parametrize(
    ("header", "last"),
    [(None, 3 * CHUNK + 776), ("bytes=0-99", 99), (f"bytes=0-{CHUNK + 10}", CHUNK + 10)],
)
def test_a_read_from_the_start_told_the_part_size_needs_only_the_chunks(
    node, chunks_only_part, header, last
):
    part_id, content = chunks_only_part
    headers = {"X-Part-Size": str(len(content))} | ({"Range": header} if header else {})

    response = node.request("GET", f"/_node/parts/{part_id}", headers=headers)

    assert response.status == (206 if header else 200)
    assert response.headers["Content-Length"] == str(last + 1)
    assert response.body == content[: last + 1]
    assert "X-Part-Sha256" not in response.headers  # the gateway checks it against its record


def test_other_reads_look_the_part_up_by_its_files_document(node, chunks_only_part):
    part_id, content = chunks_only_part
    told = {"X-Part-Size": str(len(content))}

    assert node.request("GET", f"/_node/parts/{part_id}").status == 404
    assert node.request("HEAD", f"/_node/parts/{part_id}", headers=told).status == 404
    from_middle = told | {"Range": f"bytes={CHUNK}-"}
    assert node.request("GET", f"/_node/parts/{part_id}", headers=from_middle).status == 404


def test_a_part_size_larger_than_the_part_cuts_the_answer_short(node):
    content = os.urandom(2 * CHUNK + 5)
    part_id = stored(node, content)
    told = {"X-Part-Size": str(3 * CHUNK)}

    try:
        response = node.request("GET", f"/_node/parts/{part_id}", headers=told)
    except (http.client.HTTPException, ConnectionError):
        return  # the connection was cut: the gateway sees a short part
    assert len(response.body) < int(response.headers["Content-Length"])


SMALL_CHUNK = 1024


@pytest.fixture(scope="module")
def small_chunk_node(mongo_uri, tmp_path_factory):
    """A node with 1 KiB chunks, so that a part of some KiB has more chunks than a read looks
    up one by one."""
    prefix = unique_prefix()
    node = standalone_node(
        mongo_uri,
        prefix,
        tmp_path_factory.mktemp("small-chunk-logs"),
        "--chunk-size-bytes",
        str(SMALL_CHUNK),
    )
    start_all([node])
    yield node
    node.stop()
    drop_databases(mongo_uri, prefix)


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        (None, 0, 40 * SMALL_CHUNK + 10),
        ("bytes=5-30000", 5, 30000),
        (f"bytes={SMALL_CHUNK}-{20 * SMALL_CHUNK}", SMALL_CHUNK, 20 * SMALL_CHUNK),
        ("bytes=-100", 40 * SMALL_CHUNK - 89, 40 * SMALL_CHUNK + 10),
    ],
)
def test_a_read_of_many_chunks_answers_exactly_those_bytes(small_chunk_node, header, first, last):
    content = os.urandom(40 * SMALL_CHUNK + 11)
    part_id = stored(small_chunk_node, content)

    response = small_chunk_node.request(
        "GET", f"/_node/parts/{part_id}", headers={"Range": header} if header else {}
    )

    assert response.status == (206 if header else 200)
    assert response.body == content[first : last + 1]


def test_a_read_of_many_chunks_stored_out_of_order_still_answers_them_in_order(
    small_chunk_node, mongo_uri
):
    content = os.urandom(30 * SMALL_CHUNK)
    part_id = stored(small_chunk_node, content)
    with pymongo.MongoClient(mongo_uri) as client:  # the chunks again, the last one first
        chunks = client[small_chunk_node.db][f"{COLLECTIONS}.chunks"]
        documents = list(chunks.find({"files_id": part_id}))
        chunks.delete_many({"files_id": part_id})
        chunks.insert_many(sorted(documents, key=lambda chunk: -chunk["n"]))

    response = small_chunk_node.request("GET", f"/_node/parts/{part_id}")

    assert response.status == 200
    assert response.body == content


def test_a_part_of_many_chunks_is_deleted_whole(small_chunk_node, mongo_uri):
    part_id = stored(small_chunk_node, os.urandom(40 * SMALL_CHUNK))

    assert small_chunk_node.request("DELETE", f"/_node/parts/{part_id}").status == 204

    assert small_chunk_node.request("GET", f"/_node/parts/{part_id}").status == 404
    with pymongo.MongoClient(mongo_uri) as client:
        chunks = client[small_chunk_node.db][f"{COLLECTIONS}.chunks"]
        assert chunks.count_documents({"files_id": part_id}) == 0


def test_what_a_crashed_upload_of_many_chunks_left_is_deleted_whole(small_chunk_node, mongo_uri):
    part_id = new_part_id()
    with pymongo.MongoClient(mongo_uri) as client:
        chunks = client[small_chunk_node.db][f"{COLLECTIONS}.chunks"]
        chunks.insert_many(
            {"_id": f"{part_id}/{n}", "files_id": part_id, "n": n, "data": b"x" * SMALL_CHUNK}
            for n in range(30)
        )

        assert small_chunk_node.request("DELETE", f"/_node/parts/{part_id}").status == 204

        assert chunks.count_documents({"files_id": part_id}) == 0


def test_head_with_a_range_describes_that_range(node, ranged_part):
    part_id, content = ranged_part

    response = node.request("HEAD", f"/_node/parts/{part_id}", headers={"Range": "bytes=10-19"})

    assert response.status == 206
    assert response.headers["Content-Range"] == f"bytes 10-19/{len(content)}"
    assert response.headers["Content-Length"] == "10"
    assert response.headers["X-Part-Size"] == str(len(content))


@pytest.mark.parametrize("beyond", [0, 1, CHUNK])
def test_a_range_starting_beyond_the_end_answers_416(node, ranged_part, beyond):
    part_id, content = ranged_part
    start = len(content) + beyond

    response = node.request(
        "GET", f"/_node/parts/{part_id}", headers={"Range": f"bytes={start}-{start + 10}"}
    )

    assert response.status == 416
    assert response.headers["Content-Range"] == f"bytes */{len(content)}"


def test_any_range_of_an_empty_part_answers_416(node):
    part_id = stored(node, b"")
    for header in ("bytes=0-0", "bytes=-1", "bytes=0-"):
        response = node.request("GET", f"/_node/parts/{part_id}", headers={"Range": header})
        assert response.status == 416, header


# An upload that never completes


def test_a_body_shorter_than_its_content_length_leaves_no_part(start_node, mongo_uri):
    node = start_node()
    part_id = new_part_id()
    client = pymongo.MongoClient(mongo_uri)
    chunks = client[node.db][f"{COLLECTIONS}.chunks"]

    def chunks_stored() -> int:
        return chunks.count_documents({"files_id": part_id})

    try:
        promise = {"Content-Length": str(10 * CHUNK)}
        with open_upload(node, part_id, promise, body=os.urandom(6 * CHUNK)):
            # The node stores chunks as they arrive, before the client goes away...
            wait_until(chunks_stored, 30, "the node to store the first chunks of the upload")
        # ...and removes them once it notices.
        wait_until(lambda: chunks_stored() == 0, 30, "the abandoned upload's chunks to go")
    finally:
        client.close()

    assert node.request("GET", f"/_node/parts/{part_id}").status == 404
    assert listed_ids(node) == []
    # The id is free again: the gateway may retry the same part.
    content = os.urandom(CHUNK + 3)
    assert put_part(node, part_id, content).status == 200
    assert node.request("GET", f"/_node/parts/{part_id}").body == content


def test_a_second_upload_of_a_part_in_progress_is_refused_without_harm(node, mongo_uri):
    part_id = new_part_id()
    first = os.urandom(6 * CHUNK)
    client = pymongo.MongoClient(mongo_uri)
    chunks = client[node.db][f"{COLLECTIONS}.chunks"]
    try:
        promise = {"Content-Length": str(len(first))}
        with open_upload(node, part_id, promise, body=first[: 5 * CHUNK]) as sock:
            wait_until(
                lambda: chunks.count_documents({"files_id": part_id}),
                30,
                "the first upload to store some chunks",
            )

            assert put_part(node, part_id, b"second upload").status == 409

            sock.sendall(first[5 * CHUNK :])
            response = http.client.HTTPResponse(sock, method="PUT")
            response.begin()
            assert response.status == 200
            assert json.loads(response.read())["sha256"] == sha256(first)
    finally:
        client.close()
    assert node.request("GET", f"/_node/parts/{part_id}").body == first


# Deleting


def test_a_deleted_part_is_gone_with_all_its_chunks(node, mongo_uri):
    part_id = stored(node, os.urandom(3 * CHUNK + 1))

    assert node.request("DELETE", f"/_node/parts/{part_id}").status == 204

    assert node.request("GET", f"/_node/parts/{part_id}").status == 404
    assert node.request("HEAD", f"/_node/parts/{part_id}").status == 404
    with pymongo.MongoClient(mongo_uri) as client:
        assert client[node.db][f"{COLLECTIONS}.chunks"].count_documents({"files_id": part_id}) == 0


def test_deleting_what_a_crashed_upload_left_removes_its_chunks(node, mongo_uri):
    part_id = new_part_id()
    with pymongo.MongoClient(mongo_uri) as client:
        chunks = client[node.db][f"{COLLECTIONS}.chunks"]
        chunks.insert_many(  # chunks 0-2 of a part whose files document never came
            [{"_id": f"{part_id}/{n}", "files_id": part_id, "n": n, "data": b"x"} for n in range(3)]
        )
        assert node.request("DELETE", f"/_node/parts/{part_id}").status == 204
        assert chunks.count_documents({"files_id": part_id}) == 0


def test_deleting_an_absent_part_succeeds(node):
    assert node.request("DELETE", f"/_node/parts/{new_part_id()}").status == 204


def test_a_deleted_part_id_can_be_stored_again(node):
    part_id = stored(node, b"first")
    assert node.request("DELETE", f"/_node/parts/{part_id}").status == 204

    assert put_part(node, part_id, b"second").status == 200

    assert node.request("GET", f"/_node/parts/{part_id}").body == b"second"


# Listing


def test_the_listing_pages_through_every_part_in_id_order(start_node):
    node = start_node()
    contents = {f"part-{n:02d}": os.urandom(n * 100) for n in range(7)}
    for part_id, content in contents.items():
        assert put_part(node, part_id, content).status == 200

    pages = []
    after = None
    for _ in range(len(contents)):  # never more pages than parts
        query = "limit=3" + (f"&after={after}" if after else "")
        response = node.request("GET", f"/_node/parts?{query}")
        assert response.status == 200
        page = response.json()
        pages.append([entry["part_id"] for entry in page["parts"]])
        for entry in page["parts"]:
            content = contents[entry["part_id"]]
            assert (entry["size"], entry["sha256"]) == (len(content), sha256(content))
        after = page["next_after"]
        if after is None:
            break
    else:
        pytest.fail(f"the listing never ended: {pages}")

    assert pages == [
        ["part-00", "part-01", "part-02"],
        ["part-03", "part-04", "part-05"],
        ["part-06"],
    ]


def test_the_listing_starts_after_the_given_id(start_node):
    node = start_node()
    for part_id in ("a", "b", "c", "d"):
        assert put_part(node, part_id, part_id.encode()).status == 200

    response = node.request("GET", "/_node/parts?after=b")

    assert [entry["part_id"] for entry in response.json()["parts"]] == ["c", "d"]
    assert response.json()["next_after"] is None


def test_the_listing_of_an_empty_node_is_empty(start_node):
    node = start_node()

    response = node.request("GET", "/_node/parts")

    assert response.json() == {"parts": [], "next_after": None}


def test_a_listing_limit_must_be_a_number(node):
    assert node.request("GET", "/_node/parts?limit=many").status == 400


# What the node reports


class HeartbeatRecorder(BaseHTTPRequestHandler):
    """A gateway that registers any node as "node-1" and keeps the last heartbeat it got."""

    last_heartbeat: dict = {}

    def do_POST(self):
        document = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path.endswith("/heartbeat"):
            type(self).last_heartbeat = document
        answer = json.dumps({"node_id": "node-1"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


@pytest.fixture
def heartbeats():
    """The URL of a gateway that records heartbeats, and its recorder."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), HeartbeatRecorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    HeartbeatRecorder.last_heartbeat = {}
    yield f"http://127.0.0.1:{server.server_address[1]}", HeartbeatRecorder
    server.shutdown()
    server.server_close()


def test_a_restarted_node_reports_what_its_records_hold(start_node, mongo_uri, heartbeats):
    gateway_url, recorder = heartbeats
    node = start_node(gateway_url=gateway_url)
    sizes = {"a": 3 * CHUNK + 1, "b": 10, "c": 0}
    for part_id, size in sizes.items():
        assert put_part(node, part_id, os.urandom(size)).status == 200
    assert node.request("DELETE", "/_node/parts/b").status == 204

    def reported(expected: tuple[int, int]):
        heartbeat = recorder.last_heartbeat
        return (heartbeat.get("bytes_stored"), heartbeat.get("parts_stored")) == expected

    wait_until(lambda: reported((3 * CHUNK + 1, 2)), 30, "a heartbeat with the node's counts")

    node.stop()
    # Behind the stopped node's back, its records change (a restore, a repair by hand).
    with pymongo.MongoClient(mongo_uri) as client:
        files = client[node.db][f"{COLLECTIONS}.files"]
        files.delete_one({"_id": "a"})
        files.insert_one({"_id": "restored", "length": 777, "chunkSize": CHUNK, "sha256": ""})
    recorder.last_heartbeat = {}
    node.start().wait_ready()

    wait_until(lambda: reported((777, 2)), 30, "a heartbeat with the counts of the records")


# Stopping


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_ends_the_node_cleanly(start_node, signum):
    node = start_node()

    node.send_signal(signum)

    assert node.wait() == 0
    assert "node stopped" in node.log_tail()
    with pytest.raises(OSError):
        http_request("GET", node.url + "/_node/health", token=node.token, timeout=5)
