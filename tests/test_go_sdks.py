"""The Go S3 SDKs against a gateway that checks signatures: their aws-chunked uploads are stored
byte for byte.

minio-go and aws-sdk-go-v2 are what send aws-chunked bodies in practice (minio-go over plain
HTTP signs every chunk; aws-sdk-go-v2 puts a CRC32 in a trailer, over TLS only), so a small Go
program in ``tests/goclient`` drives both libraries unchanged. It reports each request's
``x-amz-content-sha256`` on stderr, and the tests check that the streaming path was really
taken. The gateway speaks plain HTTP, so the program lets aws-sdk-go-v2 believe in TLS and sends
its requests, byte for byte as the SDK made them, without it. The program is built once per
source version into ``.venv/goclient/<hash>/``.
"""

import hashlib
import os
import re
import shutil
import socket
import subprocess
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.processes import ACCESS_KEY, REPO_ROOT, SECRET_KEY, clean_environment

GOCLIENT_SOURCES = REPO_ROOT / "tests" / "goclient"
BUILD_SECONDS = 900  # a first build compiles both SDKs: minutes on a busy two-core machine
CLIENT_SECONDS = 120
MIB = 1 << 20
SIGNED_CHUNKS = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
SIGNED_CHUNKS_WITH_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
UNSIGNED_WITH_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
REQUEST_LINE = re.compile(
    r"^request: (?P<method>\S+) (?P<uri>\S+) x-amz-content-sha256=(?P<mode>\S*)"
)

# The build is a session fixture's setup, bounded by its own timeout, not by the test's.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(120, func_only=True)]


def source_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(GOCLIENT_SOURCES.iterdir()):
        if path.suffix == ".go" or path.name in ("go.mod", "go.sum"):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def goclient() -> Path:
    """The built Go client; a run whose sources are unchanged reuses the last build."""
    go = shutil.which("go")
    if go is None:
        pytest.fail(
            "the Go SDK tests build tests/goclient and need the Go toolchain: no `go` on PATH"
        )
    target = REPO_ROOT / ".venv" / "goclient" / source_digest() / "goclient"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"goclient.{os.getpid()}.partial")
    built = subprocess.run(
        [go, "build", "-buildvcs=false", "-o", str(partial), "."],
        cwd=GOCLIENT_SOURCES,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=BUILD_SECONDS,
    )
    if built.returncode != 0:
        pytest.fail(f"go build of tests/goclient failed:\n{built.stdout}{built.stderr}")
    os.replace(partial, target)  # atomic: a concurrent run sees a whole binary or none
    return target


class GoClient:
    """Runs the Go client against one gateway with the secured gateway's credentials."""

    def __init__(self, binary: Path, endpoint: str):
        self.binary = binary
        self.endpoint = endpoint

    def run(self, sdk: str, command: str, *args: str, secret_key: str = SECRET_KEY):
        *flags, bucket, key, path = args
        environment = {
            **clean_environment(),
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": secret_key,
        }
        return subprocess.run(
            [str(self.binary), sdk, command, *flags, self.endpoint, bucket, key, str(path)],
            env=environment,
            capture_output=True,
            text=True,
            timeout=CLIENT_SECONDS,
        )

    def ok(self, sdk: str, command: str, *args: str) -> str:
        """Run a command that must succeed; answer its stderr, the requests it sent."""
        done = self.run(sdk, command, *args)
        assert done.returncode == 0, f"goclient {sdk} {command} failed:\n{done.stderr}"
        return done.stderr


def uploads_sent(stderr: str) -> list[tuple[str, str]]:
    """(request URI, x-amz-content-sha256) of every PUT the Go client sent."""
    found = []
    for line in stderr.splitlines():
        match = REQUEST_LINE.match(line)
        if match and match["method"] == "PUT":
            found.append((match["uri"], match["mode"]))
    return found


def part_numbers(sent: list[tuple[str, str]]) -> list[int]:
    return [int(re.search(r"[?&]partNumber=(\d+)", uri)[1]) for uri, _ in sent]


@pytest.fixture
def go(goclient, secured) -> GoClient:
    return GoClient(goclient, secured.url)


@pytest.fixture
def go_bucket(signed_s3) -> str:
    name = f"go-{uuid.uuid4().hex[:12]}"
    signed_s3.create_bucket(Bucket=name)
    return name


def a_file(directory: Path, size: int) -> tuple[Path, str]:
    path = directory / "upload.bin"
    data = os.urandom(size)
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def downloaded_sha256(go: GoClient, sdk: str, bucket: str, key: str, directory: Path) -> str:
    copy = directory / f"copy-{sdk}.bin"
    go.ok(sdk, "get", bucket, key, copy)
    return hashlib.sha256(copy.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("flags", "size", "mode"),
    [
        ((), 20 * MIB, SIGNED_CHUNKS),
        (("-trailer",), 6 * MIB + 1, SIGNED_CHUNKS_WITH_TRAILER),
        (("-unsigned",), 6 * MIB + 1, UNSIGNED_WITH_TRAILER),
    ],
    ids=["signed-chunks", "signed-chunks-and-trailer", "unsigned-chunks-and-trailer"],
)
def test_minio_put_is_aws_chunked_and_stored_whole(
    go, go_bucket, signed_s3, tmp_path, flags, size, mode
):
    path, sha256 = a_file(tmp_path, size)
    sent = uploads_sent(go.ok("minio", "put", *flags, go_bucket, "big object", path))
    assert [mode for _, mode in sent] == [mode]
    assert signed_s3.head_object(Bucket=go_bucket, Key="big object")["ContentLength"] == size
    assert downloaded_sha256(go, "minio", go_bucket, "big object", tmp_path) == sha256


@pytest.mark.parametrize(
    ("flags", "mode"),
    [((), SIGNED_CHUNKS), (("-trailer",), SIGNED_CHUNKS_WITH_TRAILER)],
    ids=["signed-chunks", "signed-chunks-and-trailer"],
)
def test_minio_multipart_parts_are_aws_chunked(go, go_bucket, signed_s3, tmp_path, flags, mode):
    path, sha256 = a_file(tmp_path, 12 * MIB + 3)
    sent = uploads_sent(
        go.ok("minio", "put", "-part-size", str(5 * MIB), *flags, go_bucket, "parts/ü", path)
    )
    assert sorted(part_numbers(sent)) == [1, 2, 3]
    assert {mode for _, mode in sent} == {mode}
    assert signed_s3.head_object(Bucket=go_bucket, Key="parts/ü")["ETag"].endswith('-3"')
    assert downloaded_sha256(go, "minio", go_bucket, "parts/ü", tmp_path) == sha256


def test_aws_sdk_put_sends_a_trailing_checksum(go, go_bucket, signed_s3, tmp_path):
    path, sha256 = a_file(tmp_path, 20 * MIB)
    sent = uploads_sent(go.ok("aws", "put", go_bucket, "big object", path))
    assert [mode for _, mode in sent] == [UNSIGNED_WITH_TRAILER]
    head = signed_s3.head_object(Bucket=go_bucket, Key="big object", ChecksumMode="ENABLED")
    assert head["ContentLength"] == 20 * MIB
    assert "ChecksumCRC32" in head
    copy = tmp_path / "copy.bin"
    sent = go.ok("aws", "get", go_bucket, "big object", copy).splitlines()
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == sha256
    # aws-sdk-go-v2 asked for the stored checksum, got it, and checked the body against it
    assert "x-amz-checksum-mode=ENABLED" in sent[0]
    assert sent[1] == f"response: 200 x-amz-checksum-crc32={head['ChecksumCRC32']}"


def test_aws_sdk_multipart_parts_send_trailing_checksums(go, go_bucket, signed_s3, tmp_path):
    path, sha256 = a_file(tmp_path, 12 * MIB + 3)
    sent = uploads_sent(go.ok("aws", "put", "-part-size", str(5 * MIB), go_bucket, "parts/ü", path))
    assert sorted(part_numbers(sent)) == [1, 2, 3]
    assert {mode for _, mode in sent} == {UNSIGNED_WITH_TRAILER}
    assert signed_s3.head_object(Bucket=go_bucket, Key="parts/ü")["ETag"].endswith('-3"')
    assert downloaded_sha256(go, "aws", go_bucket, "parts/ü", tmp_path) == sha256


def test_aws_sdk_over_plain_http_hashes_first_and_frames_nothing(go, go_bucket, tmp_path):
    """Without TLS aws-sdk-go-v2 never sends aws-chunked: it hashes a seekable body before
    sending it, and refuses an unseekable one itself, before any request."""
    path, sha256 = a_file(tmp_path, 3 * MIB)
    sent = uploads_sent(go.ok("aws", "put", "-plain-http", "-seekable", go_bucket, "k", path))
    assert [mode for _, mode in sent] == [sha256]
    copy = tmp_path / "copy.bin"
    go.ok("aws", "get", "-plain-http", go_bucket, "k", copy)
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == sha256
    refused = go.run("aws", "put", "-plain-http", go_bucket, "unseekable", path)
    assert refused.returncode == 1
    assert "unseekable stream is not supported without TLS" in refused.stderr
    assert uploads_sent(refused.stderr) == []


@pytest.mark.parametrize("sdk", ["minio", "aws"])
def test_a_wrong_secret_is_refused_and_nothing_stored(go, go_bucket, signed_s3, tmp_path, sdk):
    # A small body, sent whole with the headers: a larger one, which minio-go streams without
    # ``Expect: 100-continue``, meets the reset that the next test shows.
    path, _ = a_file(tmp_path, 1000)
    done = go.run(sdk, "put", go_bucket, "refused", path, secret_key=SECRET_KEY + "x")
    assert done.returncode == 1, done.stderr
    assert "error-code: SignatureDoesNotMatch" in done.stderr.splitlines(), done.stderr
    assert [mode for _, mode in uploads_sent(done.stderr)] == [
        SIGNED_CHUNKS if sdk == "minio" else UNSIGNED_WITH_TRAILER
    ]
    with pytest.raises(ClientError) as missing:
        signed_s3.head_object(Bucket=go_bucket, Key="refused")
    assert missing.value.response["Error"]["Code"] == "404"


@pytest.mark.parametrize(
    ("sdk", "flags", "code"),
    [
        ("minio", (), "SignatureDoesNotMatch"),  # a chunk's signature
        ("minio", ("-trailer",), "SignatureDoesNotMatch"),
        ("minio", ("-unsigned",), "BadDigest"),  # the trailing CRC32
        ("aws", (), "BadDigest"),
    ],
    ids=["minio-signed-chunks", "minio-signed-trailer", "minio-unsigned-trailer", "aws"],
)
def test_a_body_damaged_on_the_wire_is_refused(
    go, go_bucket, signed_s3, tmp_path, sdk, flags, code
):
    """One bit flipped in the second chunk's data, after the SDK framed and signed the body. The
    body is small and the damage near its end, so the gateway has read it all when it refuses
    (see the reset below)."""
    path, _ = a_file(tmp_path, 100 * 1024)
    done = go.run(sdk, "put", "-corrupt-at", "70000", *flags, go_bucket, "damaged", path)
    assert done.returncode == 1, done.stderr
    assert f"error-code: {code}" in done.stderr.splitlines(), done.stderr
    assert all(mode.startswith("STREAMING-") for _, mode in uploads_sent(done.stderr))
    with pytest.raises(ClientError) as missing:
        signed_s3.head_object(Bucket=go_bucket, Key="damaged")
    assert missing.value.response["Error"]["Code"] == "404"


@pytest.mark.parametrize("sdk", ["minio", "aws"])
def test_an_empty_object(go, go_bucket, signed_s3, tmp_path, sdk):
    path = tmp_path / "empty"
    path.write_bytes(b"")
    sent = uploads_sent(go.ok(sdk, "put", go_bucket, "empty", path))
    if sdk == "minio":  # the body is the final chunk alone
        assert [mode for _, mode in sent] == [SIGNED_CHUNKS]
    assert signed_s3.head_object(Bucket=go_bucket, Key="empty")["ContentLength"] == 0
    copy = tmp_path / "copy"
    go.ok(sdk, "get", go_bucket, "empty", copy)
    assert copy.read_bytes() == b""


def send_all(sock: socket.socket, data: bytes, outcome: dict) -> None:
    try:
        sock.sendall(data)
    except (ConnectionResetError, BrokenPipeError) as error:
        outcome["send"] = error


def test_a_refused_upload_is_answered_without_a_reset(secured, go_bucket):
    """What minio-go trips over, made deterministic: headers whose signature is wrong, then a
    body too large for the socket buffers, sent without waiting for ``100 Continue``."""
    amz_date = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    credential = f"{ACCESS_KEY}/{amz_date[:8]}/us-east-1/s3/aws4_request"
    body = bytes(16 * MIB)
    head = (
        f"PUT /{go_bucket}/refused HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{secured.gateway.port}\r\n"
        f"x-amz-date: {amz_date}\r\n"
        "x-amz-content-sha256: UNSIGNED-PAYLOAD\r\n"
        f"Authorization: AWS4-HMAC-SHA256 Credential={credential}, "
        f"SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={'0' * 64}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    outcome: dict = {}
    answer = bytearray()
    with socket.create_connection(("127.0.0.1", secured.gateway.port), timeout=30) as sock:
        sender = threading.Thread(target=send_all, args=(sock, head + body, outcome))
        sender.start()
        try:
            while b"</Error>" not in answer and (chunk := sock.recv(65536)):
                answer += chunk
        except ConnectionResetError as error:
            outcome["receive"] = error
        sender.join(30)
    assert b"<Code>SignatureDoesNotMatch</Code>" in answer, (bytes(answer[:300]), outcome)
    assert outcome == {}, "the gateway reset the connection"
