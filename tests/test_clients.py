"""Real S3 clients, unchanged, against a gateway that checks signatures.

aws-cli (the ``awscli`` package of the test extra, in this venv), rclone (the distribution's
package, which ``scripts/bootstrap`` installs) and curl's ``--aws-sigv4`` run as subprocesses,
exactly as the README shows them; boto3 covers what the other test modules do only without
signatures. Uploads are checked by their ETags (MD5s of what the gateway received) and read back
through the client and compared byte for byte, listings are compared with what was uploaded, and
removals are checked in the bucket itself. What a client does that the gateway gets wrong is an
``xfail(strict=True)`` naming the cause.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import urllib.parse
import uuid
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from tests.processes import ACCESS_KEY, SECRET_KEY

MIB = 1024 * 1024
CLIENT_SECONDS = 90  # one client command; below pytest's per-test timeout
AWS = Path(sys.executable).parent / "aws"
S3_XMLNS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
# The README's remote name: rclone reads its settings from RCLONE_CONFIG_S3LITE_*.
REMOTE = "s3lite"
# curl's SigV4 for S3. curl before 8.0 (Debian 12 has 7.88) neither sends nor signs
# x-amz-content-sha256, which S3 requires; given as a header, every curl signs it.
CURL_SIGV4 = ["--aws-sigv4", "aws:amz:us-east-1:s3", "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"]


def run(command: list[str], env: dict[str, str], check: bool = True, **kwargs):
    """Run one client command; on failure, show what it printed."""
    result = subprocess.run(
        [str(part) for part in command],
        env=env,
        capture_output=True,
        timeout=CLIENT_SECONDS,
        stdin=subprocess.DEVNULL,
        **kwargs,
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"{command[0]} exited with {result.returncode}: {' '.join(map(str, command))}\n"
            f"--- stdout:\n{result.stdout.decode(errors='replace')[-3000:]}\n"
            f"--- stderr:\n{result.stderr.decode(errors='replace')[-3000:]}"
        )
    return result


@pytest.fixture
def client_env(secured, tmp_path) -> dict[str, str]:
    """The environment of a client subprocess: the secured gateway's credentials and nothing else.

    The runner's AWS_* and RCLONE_* variables are left out (an AWS_CA_BUNDLE alone makes rclone
    refuse plain http with LoadCustomCABundleError), HOME is a fresh folder so no ~/.aws or rclone
    config is read or written, and loopback never goes through a proxy.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.upper().startswith(("AWS_", "RCLONE_", "S3LITE_"))
        and name.lower() not in ("http_proxy", "https_proxy", "all_proxy")
    }
    home = tmp_path / "home"
    home.mkdir()
    prefix = f"RCLONE_CONFIG_{REMOTE.upper()}_"
    env.update(
        {
            "HOME": str(home),
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            prefix + "TYPE": "s3",
            prefix + "PROVIDER": "Other",
            prefix + "ENDPOINT": secured.url,
            prefix + "ACCESS_KEY_ID": ACCESS_KEY,
            prefix + "SECRET_ACCESS_KEY": SECRET_KEY,
            prefix + "REGION": "us-east-1",
            prefix + "FORCE_PATH_STYLE": "true",
        }
    )
    return env


@pytest.fixture
def aws(secured, client_env):
    """``aws(*args)`` runs this venv's aws-cli v1 against the secured gateway."""
    if not AWS.exists():
        pytest.fail(f"{AWS} is missing: run scripts/bootstrap (aws-cli is in the test extra)")

    def aws(*args, check: bool = True, cwd: Path | None = None):
        command = [AWS, "--endpoint-url", secured.url, *args]
        return run(command, client_env, check=check, cwd=cwd)

    return aws


@pytest.fixture
def rclone(client_env):
    """``rclone(*args)`` runs the installed rclone, the secured gateway being remote ``s3lite:``."""
    if shutil.which("rclone") is None:
        pytest.fail("rclone is not installed: scripts/bootstrap installs it with apt-get as root")

    def rclone(*args, check: bool = True):
        result = run(["rclone", *args], client_env, check=check)
        # rclone logs what it had to work around (a refused request it can do without) as
        # ERROR and carries on: that is a gap in the gateway all the same
        if check:
            assert b" ERROR : " not in result.stderr, result.stderr.decode(errors="replace")
        return result

    return rclone


def new_bucket_name() -> str:
    return f"clients-{uuid.uuid4().hex[:16]}"


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def read_tree(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def sample_files(big_size: int) -> dict[str, bytes]:
    """Files with awkward names, an empty one, and one large enough for a multipart upload."""
    return {
        "big.bin": os.urandom(big_size),
        "empty": b"",
        "notes/a b+c.txt": b"spaces and a plus\n",
        "notes/100% done.txt": b"a percent sign\n",
        "notes/a%20b.txt": b"must not be decoded twice\n",
        "ünï/çødé €.txt": "ünïcødé inside too\n".encode(),
    }


def expected_etag(data: bytes, part_size: int) -> str:
    """S3's ETag for ``data`` uploaded by a client that goes multipart above ``part_size``."""
    if len(data) <= part_size:
        return f'"{hashlib.md5(data).hexdigest()}"'
    parts = [data[at : at + part_size] for at in range(0, len(data), part_size)]
    digests = b"".join(hashlib.md5(part).digest() for part in parts)
    return f'"{hashlib.md5(digests).hexdigest()}-{len(parts)}"'


def etags(files: dict[str, bytes], part_size: int) -> dict[str, tuple[int, str]]:
    return {name: (len(data), expected_etag(data, part_size)) for name, data in files.items()}


def stored(s3, bucket: str, prefix: str = "") -> dict[str, tuple[int, str]]:
    """Size and ETag of every object under ``prefix``, keyed without the prefix.

    The gateway computes the ETag from the bytes it received, so equal ETags mean it stored what
    the client sent, without reading every object back; the tests also download through the
    client and compare the bytes.
    """
    objects = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", []):
            objects[entry["Key"][len(prefix) :]] = (entry["Size"], entry["ETag"])
    return objects


def bucket_names(s3) -> set[str]:
    return {entry["Name"] for entry in s3.list_buckets()["Buckets"]}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(MIB), b""):
            digest.update(block)
    return digest.hexdigest()


# aws-cli

AWS_PART_SIZE = 8 * MIB  # aws-cli's default multipart threshold and part size


@pytest.mark.slow
@pytest.mark.timeout(240)  # a dozen client runs; on a busy 2-core machine each can take seconds
def test_aws_cli_cp_ls_sync_and_rm_recursive(aws, signed_s3, tmp_path):
    bucket = new_bucket_name()
    source, back = tmp_path / "source", tmp_path / "back"
    files = sample_files(12 * MIB)  # two parts
    write_tree(source, files)

    aws("s3", "mb", f"s3://{bucket}")
    aws("s3", "cp", "--recursive", "--no-progress", source, f"s3://{bucket}/tree/")
    assert stored(signed_s3, bucket, "tree/") == etags(files, AWS_PART_SIZE)
    assert stored(signed_s3, bucket)["tree/big.bin"][1].endswith('-2"')

    listing = aws("s3", "ls", "--recursive", f"s3://{bucket}/tree/").stdout.decode()
    listed = {}
    for line in listing.splitlines():
        _date, _time, size, key = line.split(maxsplit=3)
        listed[key] = int(size)
    assert listed == {f"tree/{name}": len(data) for name, data in files.items()}
    top_level = aws("s3", "ls", f"s3://{bucket}/tree/").stdout.decode().splitlines()
    assert sorted(line.split(maxsplit=1)[1] for line in top_level if "PRE" in line.split()) == [
        "notes/",
        "ünï/",
    ]

    aws("s3", "cp", "--recursive", "--no-progress", f"s3://{bucket}/tree/", back)
    assert read_tree(back) == files

    # sync up: one file changed (to another size), one removed, one added
    changed = dict(files)
    changed["notes/a b+c.txt"] = b"changed, and longer than before\n"
    del changed["notes/100% done.txt"]
    changed["added/new file.txt"] = b"new"
    (source / "notes" / "100% done.txt").unlink()
    write_tree(source, {name: changed[name] for name in ("notes/a b+c.txt", "added/new file.txt")})
    sync_up = ("s3", "sync", "--delete", "--no-progress", source, f"s3://{bucket}/tree/")
    aws(*sync_up)
    assert stored(signed_s3, bucket, "tree/") == etags(changed, AWS_PART_SIZE)
    # nothing to do the second time: sizes and Last-Modified say every object is up to date
    assert aws(*sync_up).stdout == b""

    # sync down into the first copy: the changes come, the removed file goes
    sync_down = ("s3", "sync", "--delete", "--no-progress", f"s3://{bucket}/tree/", back)
    aws(*sync_down)
    assert read_tree(back) == changed
    assert aws(*sync_down).stdout == b""

    aws("s3", "rm", "--recursive", f"s3://{bucket}/tree/")
    assert stored(signed_s3, bucket) == {}
    aws("s3", "rb", f"s3://{bucket}")
    assert bucket not in bucket_names(signed_s3)


def test_aws_cli_sets_content_type_and_metadata(aws, signed_s3, tmp_path):
    bucket = new_bucket_name()
    signed_s3.create_bucket(Bucket=bucket)
    (tmp_path / "notes").write_bytes(b"some notes\n")
    target = f"s3://{bucket}/notes"
    flags = ["--content-type", "text/x-notes", "--metadata", "k1=v1,k2=v 2"]
    aws("s3", "cp", *flags, "notes", target, cwd=tmp_path)
    head = signed_s3.head_object(Bucket=bucket, Key="notes")
    assert (head["ContentType"], head["Metadata"]) == ("text/x-notes", {"k1": "v1", "k2": "v 2"})
    streamed = aws("s3", "cp", target, "-").stdout  # to standard output
    assert streamed == b"some notes\n"


def test_aws_cli_sets_cache_control_and_content_disposition(aws, signed_s3, tmp_path):
    bucket = new_bucket_name()
    signed_s3.create_bucket(Bucket=bucket)
    (tmp_path / "page.html").write_bytes(b"<p>hello</p>\n")
    disposition = 'attachment; filename="page.html"'
    flags = ["--cache-control", "max-age=60", "--content-disposition", disposition]
    aws("s3", "cp", *flags, "page.html", f"s3://{bucket}/page.html", cwd=tmp_path)
    head = signed_s3.head_object(Bucket=bucket, Key="page.html")
    assert (head.get("CacheControl"), head.get("ContentDisposition")) == ("max-age=60", disposition)


def test_aws_cli_copies_and_moves_objects_within_the_gateway(aws, signed_s3):
    bucket = new_bucket_name()
    signed_s3.create_bucket(Bucket=bucket)
    small = os.urandom(3 * MIB)  # below aws-cli's threshold: one CopyObject each
    signed_s3.put_object(Bucket=bucket, Key="from/a b+c", Body=small)

    aws("s3", "cp", f"s3://{bucket}/from/a b+c", f"s3://{bucket}/to/copy ü")
    aws("s3", "mv", f"s3://{bucket}/from/a b+c", f"s3://{bucket}/to/moved%20")
    assert stored(signed_s3, bucket) == {
        "to/copy ü": (len(small), expected_etag(small, AWS_PART_SIZE)),
        "to/moved%20": (len(small), expected_etag(small, AWS_PART_SIZE)),
    }
    assert signed_s3.get_object(Bucket=bucket, Key="to/moved%20")["Body"].read() == small


def test_aws_cli_copies_a_large_object_in_parts(aws, signed_s3):
    bucket = new_bucket_name()
    signed_s3.create_bucket(Bucket=bucket)
    large = os.urandom(9 * MIB)  # above aws-cli's threshold: UploadPartCopy of two ranges
    signed_s3.put_object(Bucket=bucket, Key="from/large", Body=large)

    result = aws("s3", "cp", f"s3://{bucket}/from/large", f"s3://{bucket}/to/large", check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert stored(signed_s3, bucket)["to/large"] == (len(large), expected_etag(large, 8 * MIB))
    assert signed_s3.get_object(Bucket=bucket, Key="to/large")["Body"].read() == large


def test_aws_cli_presigns_a_url_that_plain_curl_fetches(aws, client_env, signed_s3):
    bucket = new_bucket_name()
    signed_s3.create_bucket(Bucket=bucket)
    body = os.urandom(100_000)
    signed_s3.put_object(Bucket=bucket, Key="shared/a b+c.txt", Body=body)
    # aws-cli v1 presigns with Signature Version 2 unless told otherwise; written to HOME, which
    # is this test's own folder
    aws("configure", "set", "default.s3.signature_version", "s3v4")
    url = aws("s3", "presign", f"s3://{bucket}/shared/a b+c.txt", "--expires-in", "60")
    url = url.stdout.decode().strip()
    assert "X-Amz-Signature=" in url
    assert run(["curl", "-sSf", url], client_env).stdout == body


def test_aws_cli_with_a_wrong_secret_is_refused(aws, client_env, secured):
    env = dict(client_env, AWS_SECRET_ACCESS_KEY="not-the-secret")
    result = run([AWS, "--endpoint-url", secured.url, "s3", "ls"], env, check=False)
    assert result.returncode != 0
    assert b"SignatureDoesNotMatch" in result.stderr


# rclone

RCLONE_PART_SIZE = 5 * MIB
# rclone's own threshold is 200 MiB: lower it so that big.bin goes up in three parts
RCLONE_MULTIPART = ["--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M"]


@pytest.mark.slow
@pytest.mark.timeout(240)  # a dozen client runs; on a busy 2-core machine each can take seconds
def test_rclone_copy_sync_check_cat_and_purge(rclone, signed_s3, tmp_path):
    bucket = new_bucket_name()
    remote = f"{REMOTE}:{bucket}/tree"
    source, back = tmp_path / "source", tmp_path / "back"
    files = sample_files(12 * MIB)
    write_tree(source, files)

    rclone("mkdir", f"{REMOTE}:{bucket}")
    assert bucket in bucket_names(signed_s3)
    rclone("copy", *RCLONE_MULTIPART, source, remote)
    assert stored(signed_s3, bucket, "tree/") == etags(files, RCLONE_PART_SIZE)
    assert stored(signed_s3, bucket)["tree/big.bin"][1].endswith('-3"')

    listed = rclone("lsf", "-R", "--files-only", remote).stdout.decode().splitlines()
    assert sorted(listed) == sorted(files)
    assert rclone("cat", f"{remote}/notes/a%20b.txt").stdout == files["notes/a%20b.txt"]
    # sizes and MD5s: the ETag, or for big.bin the MD5 that rclone keeps in the object's metadata
    rclone("check", source, remote)

    # check compares contents: an object changed behind rclone's back, to the same size, differs
    signed_s3.put_object(Bucket=bucket, Key="tree/notes/a b+c.txt", Body=b"spaces and a PLUS\n")
    assert rclone("check", source, remote, check=False).returncode != 0

    # sync: that object back as it was, one file changed, one removed, one added
    changed = dict(files)
    changed["ünï/çødé €.txt"] = os.urandom(2000)
    del changed["notes/100% done.txt"]
    changed["added/new file.txt"] = b"new"
    (source / "notes" / "100% done.txt").unlink()
    write_tree(source, {name: changed[name] for name in ("ünï/çødé €.txt", "added/new file.txt")})
    rclone("sync", *RCLONE_MULTIPART, source, remote)
    assert stored(signed_s3, bucket, "tree/") == etags(changed, RCLONE_PART_SIZE)
    # nothing to do the second time: the modification times rclone keeps in each object's
    # metadata came back
    again = rclone("sync", "-v", *RCLONE_MULTIPART, source, remote).stderr
    assert b"There was nothing to transfer" in again, again.decode(errors="replace")

    rclone("copy", remote, back)
    assert read_tree(back) == changed
    rclone("check", "--download", source, remote)

    # server-side: CopyObject, then DeleteObject
    rclone("moveto", f"{remote}/notes/a%20b.txt", f"{REMOTE}:{bucket}/moved/ü b.txt")
    assert rclone("cat", f"{REMOTE}:{bucket}/moved/ü b.txt").stdout == changed["notes/a%20b.txt"]
    assert "notes/a%20b.txt" not in rclone("lsf", "-R", remote).stdout.decode().splitlines()

    rclone("purge", f"{REMOTE}:{bucket}")
    assert bucket not in bucket_names(signed_s3)


# curl --aws-sigv4


@pytest.mark.slow
def test_curl_aws_sigv4_uploads_and_downloads_a_large_file(secured, signed_s3, tmp_path):
    bucket = new_bucket_name()
    signed_s3.create_bucket(Bucket=bucket)
    source, back = tmp_path / "large file.bin", tmp_path / "back.bin"
    with open(source, "wb") as file:
        for _ in range(32):
            file.write(os.urandom(MIB))
    url = f"{secured.url}/{bucket}/{urllib.parse.quote('curl/large file.bin')}"
    user = ["--user", f"{ACCESS_KEY}:{SECRET_KEY}"]
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}

    run(["curl", "-sSf", *CURL_SIGV4, *user, "-T", source, url], env)
    head = signed_s3.head_object(Bucket=bucket, Key="curl/large file.bin")
    assert head["ContentLength"] == 32 * MIB
    assert head["ETag"] == f'"{hashlib.md5(source.read_bytes()).hexdigest()}"'

    run(["curl", "-sSf", *CURL_SIGV4, *user, "-o", back, url], env)
    assert sha256_of(back) == sha256_of(source)
    # curl before 8.0 signs the query as written: S3's canonical form has "/" encoded
    listing = f"{secured.url}/{bucket}?list-type=2&prefix=curl%2F"
    listed = run(["curl", "-sSf", *CURL_SIGV4, *user, listing], env).stdout
    contents = ElementTree.fromstring(listed).findall(f"{S3_XMLNS}Contents")
    assert [(c.findtext(f"{S3_XMLNS}Key"), c.findtext(f"{S3_XMLNS}Size")) for c in contents] == [
        ("curl/large file.bin", str(32 * MIB))
    ]

    wrong = run(
        ["curl", "-sS", *CURL_SIGV4, "--user", f"{ACCESS_KEY}:wrong", "-T", source, url + ".2"],
        env,
    )
    assert b"<Code>SignatureDoesNotMatch</Code>" in wrong.stdout
    with pytest.raises(ClientError):
        signed_s3.head_object(Bucket=bucket, Key="curl/large file.bin.2")

    run(["curl", "-sSf", *CURL_SIGV4, *user, "-X", "DELETE", url], env)
    assert stored(signed_s3, bucket) == {}


def test_a_presigned_get_is_fetched_with_plain_curl(secured, tmp_path):
    s3 = secured.s3(access_key=ACCESS_KEY, secret_key=SECRET_KEY, signature_version="s3v4")
    bucket = new_bucket_name()
    s3.create_bucket(Bucket=bucket)
    body = os.urandom(300_000)
    s3.put_object(Bucket=bucket, Key="shared/a b+c%20d ü", Body=body)
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "shared/a b+c%20d ü"}, ExpiresIn=60
    )
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    assert run(["curl", "-sSf", url], env).stdout == body
    refused = run(
        ["curl", "-sS", "-w", "%{http_code}", url.replace("Expires=60", "Expires=61")], env
    )
    assert refused.stdout.endswith(b"403")


# boto3, default settings, signed


@pytest.mark.slow
def test_boto3_upload_file_and_download_file_of_40_mib_signed(signed_s3, tmp_path):
    bucket = new_bucket_name()
    signed_s3.create_bucket(Bucket=bucket)
    source, back = tmp_path / "forty.bin", tmp_path / "back.bin"
    source.write_bytes(os.urandom(40 * MIB))
    config = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)

    signed_s3.upload_file(str(source), bucket, "big/forty.bin", Config=config)
    assert signed_s3.head_object(Bucket=bucket, Key="big/forty.bin")["ETag"].endswith('-8"')
    signed_s3.download_file(bucket, "big/forty.bin", str(back), Config=config)
    assert sha256_of(back) == sha256_of(source)


def test_boto3_paginators_copy_and_batch_delete_signed(signed_s3):
    bucket = new_bucket_name()
    signed_s3.create_bucket(Bucket=bucket)
    # names whose continuation tokens and markers need careful encoding in the signed query
    keys = sorted({f"dir {i % 3}/k+{i:02d}=%20 ü&x" for i in range(6)} | {"top", "dir 0/", "a%2Fb"})
    for key in keys:
        signed_s3.put_object(Bucket=bucket, Key=key, Body=key.encode())

    pages = list(
        signed_s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": 2}
        )
    )
    assert len(pages) == 5
    assert [entry["Key"] for page in pages for entry in page["Contents"]] == keys
    v1 = signed_s3.get_paginator("list_objects").paginate(
        Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 2}
    )
    prefixes = [p["Prefix"] for page in v1 for p in page.get("CommonPrefixes", [])]
    assert prefixes == ["dir 0/", "dir 1/", "dir 2/"]

    source_key = "dir 1/k+01=%20 ü&x"
    signed_s3.copy_object(
        Bucket=bucket, Key="copies/k+01=%20 ü&x", CopySource={"Bucket": bucket, "Key": source_key}
    )
    copied = signed_s3.get_object(Bucket=bucket, Key="copies/k+01=%20 ü&x")["Body"].read()
    assert copied == source_key.encode()

    everything = [*keys, "copies/k+01=%20 ü&x"]
    answer = signed_s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": key} for key in everything]}
    )
    assert sorted(entry["Key"] for entry in answer["Deleted"]) == sorted(everything)
    assert "Errors" not in answer
    assert stored(signed_s3, bucket) == {}
