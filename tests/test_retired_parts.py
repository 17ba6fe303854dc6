"""The parts of an overwritten or deleted object outlive it for a while, so that a download
that had begun still gets the object it asked for; then they are deleted."""

import hashlib
import http.client
import os

from tests.processes import wait_until

MIB = 1024 * 1024


def object_part_ids(cluster, key: str) -> set[str]:
    layout = cluster.api("GET", f"/_cluster/objects/bucket/{key}").json()
    return {shard["shard_id"] for shard in layout["parts"] + layout["parity"]}


def test_a_download_under_way_survives_an_overwrite_and_a_delete(cluster):
    cluster.restart_gateway("--delete-delay-seconds", "4", "--retry-deletes-seconds", "0.5")
    s3 = cluster.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="bucket")
    old = os.urandom(48 * MIB)  # far more than the socket buffers hold
    s3.put_object(Bucket="bucket", Key="k", Body=old)
    old_parts = object_part_ids(cluster, "k")

    connection = http.client.HTTPConnection("127.0.0.1", cluster.gateway.port, timeout=60)
    connection.request("GET", "/bucket/k")
    response = connection.getresponse()
    received = hashlib.sha256(response.read(MIB))

    new = os.urandom(1000)
    s3.put_object(Bucket="bucket", Key="k", Body=new)
    new_parts = object_part_ids(cluster, "k")
    assert s3.get_object(Bucket="bucket", Key="k")["Body"].read() == new
    s3.delete_object(Bucket="bucket", Key="k")
    assert cluster.stored_part_ids() == old_parts | new_parts  # nothing deleted yet

    while chunk := response.read(MIB):
        received.update(chunk)
    connection.close()
    assert received.hexdigest() == hashlib.sha256(old).hexdigest()

    wait_until(lambda: not cluster.stored_part_ids(), 60, "the retired parts to be deleted")
