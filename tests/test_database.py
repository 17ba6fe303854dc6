"""What s3lite needs from its database, checked on the server the suite runs (see docs/database.md).

Single-document compare-and-set decides every race in s3lite (claims of an upload's intent, the
version an overwrite replaced), so these tests race many clients on one document and count the
winners. Lookups by ``_id`` must use an index, or every read of a chunk costs a pass over the
collection: on the embedded database (FerretDB on SQLite) the tests read the plan SQLite makes for
the statement FerretDB runs. On ``mongod`` those plan tests are skipped; the races run on both.
"""

import datetime
import os
import random
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pymongo
import pytest
from bson import Binary, ObjectId, Regex, Timestamp
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
        except BaseException as error:  # raised again in the test's own thread, below
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


def test_documents_come_back_as_they_were_stored(collection):
    stored = {
        "_id": "every type",
        "text": 'quotes " and \\ backslashes, <html> & \x00\x01\n control, é 😀 \u2028',
        "int32": -(2**31),
        "int64": 2**62 + 1,
        "double": 0.1,
        "bool": False,
        "null": None,
        "binary": os.urandom(300_000),  # binary data of subtype 0 comes back as bytes
        "uuid-like binary": Binary(os.urandom(16), 4),
        "object id": ObjectId(),
        "date": datetime.datetime(2026, 1, 2, 3, 4, 5, 678000),
        "timestamp": Timestamp(1_700_000_000, 7),
        "regex": Regex("^a.*b$", "i"),
        "document": {"nested": {"deeper": [1, "two", {"three": 3.0}]}, "empty": {}},
        "array": [None, True, {"a": b"\x00\xff"}, "four", 5],  # FerretDB: not nested
    }
    collection.insert_one(stored)
    assert collection.find_one({"_id": "every type"}) == stored
    assert list(collection.find({"_id": {"$gte": "every", "$lt": "everz"}})) == [stored]


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


# Listings: a range of string _id values, sorted, limited, as s3lite lists a bucket's keys.

# Keys whose JSON text sorts apart from the string (escaped quotes, backslashes, control
# characters, and the HTML escapes of Go's JSON encoder), and non-ASCII text.
AWKWARD_KEYS = [
    "",
    "a",
    "a\x00",
    "a\x00b",
    "a\x01",
    "a\n",
    "a\x1f",
    "a ",
    'a"',
    'a"b',
    "a&",
    "a<",
    "a<b",
    "a>",
    "a\\",
    "a\\\\",
    "a/",
    "a/b",
    "a0",
    "ab",
    "a~",
    "a\x7f",
    "aé",
    "a\u2028",
    "a\ufffd",
    "a\uffff",
    "a😀",
    "b",
    "b\x00",
]


def mongodb_range(ids: list, bounds: dict, order: int) -> list[str]:
    """What MongoDB answers: string ``_id`` values within every bound, compared (and sorted)
    by their UTF-8 bytes; values of other types never match a bound that is a string."""
    checks = {
        "$gt": lambda a, b: a > b,
        "$gte": lambda a, b: a >= b,
        "$lt": lambda a, b: a < b,
        "$lte": lambda a, b: a <= b,
    }
    matching = [
        i
        for i in ids
        if isinstance(i, str)
        and all(checks[op](i.encode(), value.encode()) for op, value in bounds.items())
    ]
    return sorted(matching, key=str.encode, reverse=order == -1)


@pytest.fixture
def listed(client, db_prefix):
    """A collection of documents keyed by ``"b/" + key`` for every awkward key, beside
    documents with an ``_id`` of another type, and their ``_id`` values: the one at position
    ``n`` in the list has the field ``n``."""
    collection = client[db_prefix]["objects"]
    string_ids = [f"b/{key}" for key in AWKWARD_KEYS]
    # FerretDB keeps an ObjectId, binary data and a date as JSON strings and numbers: their text
    # (the ObjectId's hex "62...", the base64 "Yi9h") lies within string ranges below
    others = [7, 7.5, -1, {"b": "/a"}, {"a": 1}, True, ObjectId("62000000000000000000000a")]
    others += [Binary(b"b/a"), datetime.datetime(2026, 1, 1)]
    documents = [{"_id": i} for i in string_ids + others]
    random.Random(7).shuffle(documents)  # insertion order is not key order
    for position, document in enumerate(documents):
        document["n"] = position
    collection.insert_many(documents)
    return collection, [d["_id"] for d in documents]


RANGES = [
    {"$gte": "b/", "$lt": "b0"},
    {"$gt": "b/a", "$lte": "b/a\\"},
    {"$gte": "b/a\x00", "$lt": "b/a\x01"},
    {"$gte": "b/a<"},
    {"$lt": "b/a&"},
    {"$gt": "0", "$lt": "z"},
    {"$gte": "Y", "$lt": "Z"},
    {"$gte": 'b/a"', "$lt": "b/a\\"},
    {"$gt": "b/a~", "$lt": "b/b"},
]


@pytest.mark.parametrize("bounds", RANGES, ids=range(len(RANGES)))
def test_a_listing_range_answers_as_mongodb_does(listed, bounds):
    collection, ids = listed
    for order in (1, -1):
        expected = mongodb_range(ids, bounds, order)
        for limit in (0, 1, 3, 1000):
            found = collection.find({"_id": bounds}, {"_id": 1}).sort("_id", order).limit(limit)
            assert [d["_id"] for d in found] == expected[: limit or None], (order, limit)
    unsorted = [d["_id"] for d in collection.find({"_id": bounds})]
    assert sorted(unsorted, key=str.encode) == mongodb_range(ids, bounds, 1)
    assert collection.count_documents({"_id": bounds}) == len(mongodb_range(ids, bounds, 1))
    # with another condition beside the range, the rest of the filter still applies
    narrowed = collection.find({"_id": bounds, "n": {"$lt": 10}}).sort("_id", 1).limit(3)
    numbers = {i: n for n, i in enumerate(ids) if isinstance(i, str)}
    expected = [i for i in mongodb_range(ids, bounds, 1) if numbers[i] < 10][:3]
    assert [d["_id"] for d in narrowed] == expected


def test_a_listing_range_uses_the_string_id_index(listed, db_prefix, sqlite_table):
    collection, _ = listed
    page = collection.find({"_id": {"$gte": "b/a", "$lt": "b/b"}}).sort("_id", 1).limit(2)
    assert [d["_id"] for d in page] == ["b/a", "b/a\x00"]
    connection, table = sqlite_table("objects")
    # the statement FerretDB's SQLite backend runs for that page
    listing = (
        f'SELECT _ferretdb_sjson FROM "{table}"'
        " WHERE _ferretdb_sjson->>'$.\"$s\".p._id.t' = 'string'"
        " AND _ferretdb_sjson->>'_id' >= ? AND _ferretdb_sjson->>'_id' < ?"
        " ORDER BY _ferretdb_sjson->>'_id' LIMIT ?"
    )
    steps = plan(connection, listing, "b/a", "b/b", 2)
    assert f"USING INDEX {table}__ferretdb_string_id" in steps
    assert "TEMP B-TREE" not in steps  # read in index order, not sorted afterwards


def test_an_id_lookup_with_other_conditions_uses_the_id_index(client, db_prefix, sqlite_table):
    collection = client[db_prefix]["intents"]
    collection.insert_many([{"_id": f"upload-{n}", "state": "open"} for n in range(100)])
    _, table = sqlite_table("intents")
    claim = {"_id": "upload-7", "state": "open"}
    explained = client[db_prefix].command("explain", {"find": "intents", "filter": claim})
    assert f"USING INDEX {table}__id_" in " ".join(explained["queryPlanner"]["Plan"])
    assert collection.find_one_and_update(claim, {"$set": {"state": "committing"}}) is not None
    assert collection.find_one_and_update(claim, {"$set": {"state": "committing"}}) is None
    assert collection.count_documents({"state": "open"}) == 99
