"""A lease in the database, so that of the gateways sharing it one at a time does a job.

The lease is one document (``_id`` the job's name) with its holder and when it expires. Taking
it is one ``find_one_and_update``: it matches when the lease has expired or is already ours,
and inserts it when there is none; a second gateway racing to insert fails on the unique
``_id``. A holder that dies loses it when it expires; a live one renews it while it works.
"""

import os
import secrets
import socket
from datetime import timedelta

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from s3lite.clock import now


def new_holder_name() -> str:
    """Names this process to operators, and apart from any other."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Lease:
    def __init__(self, collection: AsyncCollection, job: str, seconds: float, holder: str):
        self.collection = collection
        self.job = job
        self.seconds = seconds
        self.holder = holder

    async def take(self) -> bool:
        """Take or renew the lease; False while another holder has it."""
        moment = now()
        try:
            await self.collection.find_one_and_update(
                {"_id": self.job, "$or": [{"expires": {"$lt": moment}}, {"holder": self.holder}]},
                {
                    "$set": {
                        "holder": self.holder,
                        "expires": moment + timedelta(seconds=self.seconds),
                    }
                },
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        return True

    async def current_holder(self) -> str | None:
        document = await self.collection.find_one({"_id": self.job})
        if document is None or document["expires"] < now():
            return None
        return document["holder"]

    async def release(self) -> None:
        await self.collection.delete_one({"_id": self.job, "holder": self.holder})
