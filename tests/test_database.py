"""What s3lite needs from its database, checked on the server the suite runs (see docs/database.md).

Single-document compare-and-set decides every race in s3lite (claims of an upload's intent, the
version an overwrite replaced), so these tests race many clients on one document and count the
winners. Lookups by ``_id`` must use an index, or every read of a chunk costs a pass over the
collection: on the embedded database (FerretDB on SQLite) the tests read the plan SQLite makes for
the statement FerretDB runs. On ``mongod`` those plan tests are skipped; the races run on both.
"""

import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pymongo
import pytest
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

CLIENTS = 16
TRIALS = 10


@pytest.fixture
def client(mongo_uri) -> Iterator[pymongo.MongoClient]:
    client = pymongo.MongoClient(mongo_uri, maxPoolSize=2 * CLIENTS)
    yield client
    client.close()


@pytest.fixture
def collection(client, db_prefix):
    return client[db_prefix]["race"]


def race(action: Callable[[int], object]) -> list[object]:
    """The results of ``action(i)`` for ``CLIENTS`` threads released at the same moment."""
    barrier = threading.Barrier(CLIENTS)
    results: list[object] = [None] * CLIENTS
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(10)
            results[i] = action(i)
        except BaseException as error:  # handed to the test below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def test_a_conditional_update_has_exactly_one_winner(collection):
    for trial in range(TRIALS):
        doc_id = f"intent-{trial}"
        collection.insert_one({"_id": doc_id, "state": "open"})
        modified = race(
            lambda i, doc_id=doc_id: (
                collection.update_one(
                    {"_id": doc_id, "state": "open"}, {"$set": {"state": f"claimed by {i}"}}
                ).modified_count
            )
        )
        assert sorted(modified) == [0] * (CLIENTS - 1) + [1], f"trial {trial}"
        winner = modified.index(1)
        assert collection.find_one({"_id": doc_id})["state"] == f"claimed by {winner}"


def test_a_conditional_find_one_and_update_has_exactly_one_winner(collection):
    for trial in range(TRIALS):
        doc_id = f"upload-{trial}"
        collection.insert_one({"_id": doc_id, "state": "open"})
        claimed = race(
            lambda i, doc_id=doc_id: collection.find_one_and_update(
                {"_id": doc_id, "state": "open"}, {"$set": {"state": "committing", "by": i}}
            )
        )
        winners = [i for i, previous in enumerate(claimed) if previous is not None]
        assert len(winners) == 1, f"trial {trial}: {winners}"
        assert collection.find_one({"_id": doc_id})["by"] == winners[0]


def test_concurrent_replacements_hand_back_distinct_previous_versions(collection):
    for trial in range(TRIALS):
        doc_id = f"bucket/key-{trial}"
        collection.insert_one({"_id": doc_id, "version": "first"})
        previous = race(
            lambda i, doc_id=doc_id: collection.find_one_and_replace(
                {"_id": doc_id}, {"version": i}, return_document=ReturnDocument.BEFORE
            )["version"]
        )
        # each writer replaced a different version: together, the first and all but the last
        last = collection.find_one({"_id": doc_id})["version"]
        assert sorted(map(str, previous)) == sorted(
            ["first", *(str(i) for i in range(CLIENTS) if i != last)]
        ), f"trial {trial}"


def test_a_document_deleted_by_many_clients_is_handed_to_one(collection):
    for trial in range(TRIALS):
        doc_id = f"deferred-{trial}"
        collection.insert_one({"_id": doc_id, "trial": trial})
        taken = race(lambda i, doc_id=doc_id: collection.find_one_and_delete({"_id": doc_id}))
        assert [d for d in taken if d is not None] == [{"_id": doc_id, "trial": trial}]
        deleted = race(lambda i, doc_id=doc_id: collection.delete_one({"_id": doc_id}))
        assert sum(d.deleted_count for d in deleted) == 0


def test_concurrent_increments_and_upserts_lose_nothing(collection):
    counts = race(
        lambda i: collection.update_one({"_id": "counter"}, {"$inc": {"n": 1}}, upsert=True)
    )
    assert sum(c.upserted_id is not None for c in counts) == 1
    assert sum(c.modified_count for c in counts) == CLIENTS - 1
    assert collection.find_one({"_id": "counter"}) == {"_id": "counter", "n": CLIENTS}


def test_a_unique_index_rejects_a_duplicate(collection):
    collection.create_index("name", unique=True)
    collection.insert_one({"name": "only once"})
    with pytest.raises(DuplicateKeyError):
        collection.insert_one({"name": "only once"})
    collection.insert_one({"name": "another"})
    assert collection.count_documents({}) == 2


# The plan of the statements FerretDB runs, read from its SQLite files.


@pytest.fixture
def sqlite_table(client, database, db_prefix) -> Callable[[str], tuple[sqlite3.Connection, str]]:
    """``sqlite_table(collection)``: a read-only connection to the SQLite file FerretDB keeps the
    test's database in, and the name of the collection's table in it."""
    info = client.admin.command("buildInfo")
    if "ferretdbVersion" not in info:
        pytest.skip("the server is not FerretDB: there is no SQLite file to read a plan from")
    connections = []

    def open_table(collection: str) -> tuple[sqlite3.Connection, str]:
        path = Path(database.data_dir) / f"{db_prefix}.sqlite"
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        connections.append(connection)
        (table,) = connection.execute(
            "SELECT table_name FROM _ferretdb_collections WHERE name = ?", (collection,)
        ).fetchone()
        return connection, table

    yield open_table
    for connection in connections:
        connection.close()


def plan(connection: sqlite3.Connection, statement: str, *args) -> str:
    return " / ".join(row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {statement}", args))


def test_the_suite_runs_the_patched_ferretdb(client):
    info = client.admin.command("buildInfo")
    if "ferretdbVersion" not in info:
        pytest.skip("the server is not FerretDB")
    assert "-s3lite." in info["ferretdbVersion"], "scripts/bootstrap builds FerretDB with patches"


def test_an_id_lookup_uses_the_id_index(client, db_prefix, sqlite_table):
    collection = client[db_prefix]["chunks"]
    collection.insert_many([{"_id": f"part/{n}", "n": n} for n in range(100)])
    connection, table = sqlite_table("chunks")
    # the statement FerretDB's SQLite backend runs for find, update and delete by _id
    lookup = f"SELECT _ferretdb_sjson FROM \"{table}\" WHERE _ferretdb_sjson->'_id' = ?"
    assert f"USING INDEX {table}__id_" in plan(connection, lookup, '"part/7"')
    # and FerretDB's own plan, from its SQLite, says the same
    explained = client[db_prefix].command(
        "explain", {"find": "chunks", "filter": {"_id": "part/7"}}
    )
    assert f"USING INDEX {table}__id_" in " ".join(explained["queryPlanner"]["Plan"])
    assert collection.find_one({"_id": "part/7"}) == {"_id": "part/7", "n": 7}
