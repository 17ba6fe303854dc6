"""DeleteObjects of a full batch of 1,000 keys: every key deleted and reported, while other
callers' requests, batch deletes among them, go on being served without a single error; the
deleted objects' shards then leave the nodes."""

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from tests.processes import SHARDS_PER_PART, wait_until

BATCH = 1000
# Keys of the batch that exist: storing 1,000 objects takes minutes on a loaded test machine,
# and a key that does not exist costs the batch the same lookup and deletion attempt.
STORED = 100


@pytest.mark.slow
@pytest.mark.timeout(300)  # each key is a database write: about a minute on a busy 2-core machine
def test_a_batch_of_1000_keys_while_others_are_served(shared_cluster):
    s3 = shared_cluster.s3(retries={"max_attempts": 1}, read_timeout=300, max_pool_connections=20)
    bucket = f"batch-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    keys = [f"dir/{index:04d}" for index in range(BATCH)]
    with ThreadPoolExecutor(4) as pool:
        stored = keys[:: BATCH // STORED]
        list(pool.map(lambda key: s3.put_object(Bucket=bucket, Key=key, Body=b"x"), stored))
    assert len(shared_cluster.stored_part_ids()) == SHARDS_PER_PART * STORED

    others = f"others-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=others)
    failures: list[str] = []
    served = 0
    done = threading.Event()

    def other_caller(number: int) -> None:
        nonlocal served
        round_ = 0
        while not done.is_set():
            key = f"{number}/{round_}"
            round_ += 1
            try:
                s3.put_object(Bucket=others, Key=key, Body=b"y" * 100)
                assert s3.get_object(Bucket=others, Key=key)["Body"].read() == b"y" * 100
                s3.list_objects_v2(Bucket=others, Prefix=f"{number}/")
                answer = s3.delete_objects(
                    Bucket=others, Delete={"Objects": [{"Key": key}, {"Key": f"{key}/absent"}]}
                )
                assert not answer.get("Errors"), answer
                served += 4
            except (ClientError, AssertionError) as error:
                failures.append(f"{key}: {error}")

    callers = [threading.Thread(target=other_caller, args=(n,)) for n in range(3)]
    for caller in callers:
        caller.start()
    try:
        time.sleep(0.5)
        started = time.monotonic()
        answer = s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": key} for key in keys]}
        )
        took = time.monotonic() - started
        time.sleep(0.5)
    finally:
        done.set()
        for caller in callers:
            caller.join()
    assert not answer.get("Errors"), answer["Errors"][:5]
    assert sorted(entry["Key"] for entry in answer["Deleted"]) == keys
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    assert not failures, failures[:5]
    assert served > 0
    wait_until(
        lambda: not shared_cluster.stored_part_ids(), 60, "the deleted objects' shards to go"
    )
    print(f"{BATCH} keys deleted in {took:.1f}s while {served} other requests were served")


def test_with_a_delete_delay_a_batch_records_its_shard_deletions_for_later(shared_cluster):
    """The shards of a batch's objects outlive them by --delete-delay-seconds, for readers
    still streaming them, then go in the rounds of deferred deletions."""
    shared_cluster.restart_gateway("--delete-delay-seconds", "3", "--retry-deletes-seconds", "1")
    s3 = shared_cluster.s3(retries={"max_attempts": 1})
    bucket = f"delayed-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    before = shared_cluster.stored_part_ids()
    keys = [f"k{index}" for index in range(12)]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"z")
    stored = shared_cluster.stored_part_ids() - before
    assert len(stored) == SHARDS_PER_PART * len(keys)
    answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key} for key in keys]})
    assert len(answer["Deleted"]) == len(keys)
    assert stored <= shared_cluster.stored_part_ids()  # still there for readers
    wait_until(lambda: not stored & shared_cluster.stored_part_ids(), 60, "the delayed deletions")
