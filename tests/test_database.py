"""The database the suite runs against is a real MongoDB-compatible server, not a stand-in."""

import hashlib
import os

import pytest
from gridfs import AsyncGridFSBucket
from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

MIB = 1024 * 1024


@pytest.mark.gen_test(timeout=60)
async def test_gridfs_gives_back_the_bytes_it_was_given(mongo_uri, db_prefix):
    content = os.urandom(3 * MIB + 12345)  # many 255 KiB chunks and a partial last one
    client = AsyncMongoClient(mongo_uri)
    try:
        bucket = AsyncGridFSBucket(client[db_prefix])
        file_id = await bucket.upload_from_stream("random.bin", content)
        stream = await bucket.open_download_stream(file_id)
        returned = await stream.read()
    finally:
        await client.close()
    assert len(returned) == len(content)
    assert hashlib.sha256(returned).hexdigest() == hashlib.sha256(content).hexdigest()


@pytest.mark.gen_test(timeout=60)
async def test_a_unique_index_rejects_a_duplicate(mongo_uri, db_prefix):
    client = AsyncMongoClient(mongo_uri)
    try:
        names = client[db_prefix]["names"]
        await names.create_index("name", unique=True)
        await names.insert_one({"name": "only once"})
        with pytest.raises(DuplicateKeyError):
            await names.insert_one({"name": "only once"})
        await names.insert_one({"name": "another"})
        assert await names.count_documents({}) == 2
    finally:
        await client.close()
