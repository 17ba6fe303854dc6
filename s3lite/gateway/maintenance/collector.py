"""Finding uploads that will never finish and deleting the parts they left on the nodes.

A gateway that dies mid-upload leaves parts that no object refers to. Their upload intents stay
behind, untouched; once an intent has been idle for the grace period, any gateway's collector
takes it over (one conditional write, so two collectors never take the same one) and deletes
its parts, unless the upload did become an object and only its intent was left.
"""

import logging
from datetime import timedelta

from s3lite.gateway.data.removal import PartRemover
from s3lite.gateway.metadata.store import Metadata, PartRecord, now

log = logging.getLogger(__name__)

BATCH = 100


class OrphanCollector:
    def __init__(
        self,
        metadata: Metadata,
        remover: PartRemover,
        grace_seconds: float,
        multipart_expiry_seconds: float,
    ):
        self.metadata = metadata
        self.remover = remover
        self.grace = timedelta(seconds=grace_seconds)
        self.multipart_expiry = timedelta(seconds=multipart_expiry_seconds)

    async def collect(self) -> int:
        return await self.collect_abandoned_uploads() + await self.expire_multipart_uploads()

    async def expire_multipart_uploads(self) -> int:
        """Abort multipart uploads left open too long, finish the aborts and completions their
        gateways never finished, and forget completed ones as old; keep exactly the pieces
        the object at the upload's key holds."""
        expired = await self.metadata.multipart_uploads_before(now() - self.multipart_expiry, BATCH)
        for upload in expired:
            state = upload["state"]
            if state == "open" and not await self.metadata.claim_multipart_abort(upload["_id"]):
                continue  # a completion got there first; the next round sees how it ended
            if state == "completing" and upload.get("claimed", now()) > now() - self.grace:
                continue  # a completion may still be under way
            held = await self.metadata.pieces_held_by_object(
                upload["bucket"], upload["key"], upload["_id"]
            )
            pieces = await self.metadata.drop_multipart(upload["_id"])
            await self.remover.remove([p for p in pieces if p.part_id not in held])
            if state != "completed":
                log.info(
                    "expired multipart upload %s of %s/%s (%s)",
                    upload["_id"],
                    upload["bucket"],
                    upload["key"],
                    state,
                )
        return len(expired)

    async def collect_abandoned_uploads(self) -> int:
        """Clean up to a batch of abandoned uploads; answer how many."""
        collected = 0
        while collected < BATCH:
            intent = await self.metadata.claim_abandoned_intent(now() - self.grace)
            if intent is None:
                break
            # Judged by what the database points at, never by the state the intent was left in:
            # a collector that died half-way leaves "collecting" on a committed upload too.
            fate = await self.metadata.intent_fate(intent)
            if fate == "undecided":
                await self.metadata.release_intent(intent["_id"])
                collected += 1
                continue
            if fate == "orphaned":
                await self.remover.remove(
                    [
                        PartRecord(p["index"], p["node_id"], p["part_id"], 0, p["size"], "")
                        for p in intent["parts"]
                    ]
                )
                log.info(
                    "collected abandoned upload %s of %s/%s",
                    intent["_id"],
                    intent["bucket"],
                    intent["key"],
                )
            await self.metadata.drop_intent(intent["_id"])
            collected += 1
        return collected
