"""Deleting a bucket never leaves an object behind in a bucket that is gone, even when an
upload lands at the same moment; a refused deletion leaves the bucket as it was."""

import socket

import pymongo
import pytest
from botocore.exceptions import ClientError

from tests.processes import wait_until


def code_of(error: ClientError) -> str:
    return error.response["Error"]["Code"]


def test_a_bucket_that_is_not_empty_stays_usable(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as refused:
        s3.delete_bucket(Bucket=bucket)
    assert code_of(refused.value) == "BucketNotEmpty"
    s3.put_object(Bucket=bucket, Key="k2", Body=b"y")
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k"}, {"Key": "k2"}]})
    s3.delete_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as gone:
        s3.head_bucket(Bucket=bucket)
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_an_upload_landing_while_its_bucket_is_deleted_is_taken_back(cluster):
    cluster.restart_gateway("--gc-grace-seconds", "2", "--gc-interval-seconds", "0.5")
    s3 = cluster.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="bucket")
    database = pymongo.MongoClient(cluster.mongo_uri)[cluster.gateway.db]
    try:
        connection = socket.create_connection(("127.0.0.1", cluster.gateway.port))
        connection.sendall(
            b"PUT /bucket/late HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\n\r\n" + b"a" * 10_000
        )
        wait_until(lambda: database["upload_intents"].find_one(), 30, "the upload to begin")
        # What a DeleteBucket that has just found the bucket empty has written.
        database["buckets"].update_one({"_id": "bucket"}, {"$set": {"state": "deleting"}})
        connection.sendall(b"a" * 10_000)
        reply = connection.recv(4096)
        connection.close()
    finally:
        database.client.close()
    assert reply.startswith(b"HTTP/1.1 404"), reply
    assert b"<Code>NoSuchBucket</Code>" in reply
    assert cluster.gateway.request("HEAD", "/bucket/late", token=None).status == 404
    wait_until(lambda: not cluster.stored_part_ids(), 60, "the upload's parts to be collected")
