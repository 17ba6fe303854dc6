"""Finding writes that will never finish and deleting the shards they left on the nodes.

A gateway that dies mid-upload leaves shards that no object refers to. Their intents stay
behind, untouched; once an intent has been idle for the grace period, any gateway's collector
takes it over (one conditional write, so two collectors never take the same one) and deletes
its shards, unless the write did become an object and only its intent was left.
"""

import logging
from datetime import timedelta

from s3lite.clock import now
from s3lite.gateway.data.removal import ShardRemover
from s3lite.gateway.metadata.records import Intent, IntentFate, IntentKind, MultipartState
from s3lite.gateway.metadata.store import Metadata

log = logging.getLogger(__name__)

BATCH = 100


class OrphanCollector:
    def __init__(
        self,
        metadata: Metadata,
        remover: ShardRemover,
        grace_seconds: float,
        multipart_expiry_seconds: float,
    ):
        self.metadata = metadata
        self.remover = remover
        self.grace = timedelta(seconds=grace_seconds)
        self.multipart_expiry = timedelta(seconds=multipart_expiry_seconds)

    async def collect(self) -> int:
        return await self.collect_abandoned_writes() + await self.expire_multipart_uploads()

    async def expire_multipart_uploads(self) -> int:
        """Abort multipart uploads left open too long, finish the aborts and completions their
        gateways never finished, and forget completed ones as old; keep exactly the shards
        the object at the upload's key holds."""
        expired = await self.metadata.multipart_uploads_before(now() - self.multipart_expiry, BATCH)
        for upload in expired:
            state = upload.state
            if state is MultipartState.OPEN and not await self.metadata.claim_multipart(
                upload, MultipartState.ABORTING
            ):
                continue  # a completion got there first; the next round sees how it ended
            if (
                state is MultipartState.COMPLETING
                and (upload.claimed or now()) > now() - self.grace
            ):
                continue  # a completion may still be under way
            held = await self.metadata.shards_held_by_object(
                upload.bucket, upload.key, upload.upload_id
            )
            shards = await self.metadata.drop_multipart(upload)
            await self.remover.remove([s for s in shards if s.shard_id not in held])
            if state is not MultipartState.COMPLETED:
                log.info(
                    "expired multipart upload %s of %s/%s (%s)",
                    upload.upload_id,
                    upload.bucket,
                    upload.key,
                    state,
                )
        return len(expired)

    async def collect_abandoned_writes(self) -> int:
        """Clean up to a batch of abandoned writes; answer how many."""
        collected = 0
        while collected < BATCH:
            intent = await self.metadata.claim_abandoned_intent(now() - self.grace)
            if intent is None:
                break
            if intent.kind is IntentKind.RELOCATION:
                await self.settle_relocation(intent)
                collected += 1
                continue
            # Judged by what the database points at, never by the state the intent was left in:
            # a collector that died half-way leaves COLLECTING on a committed write too.
            fate = await self.metadata.intent_fate(intent)
            if fate is IntentFate.UNDECIDED:
                await self.metadata.release_intent(intent.write_id)
                collected += 1
                continue
            if fate is IntentFate.ORPHANED:
                await self.remover.remove([shard.as_record() for shard in intent.shards])
                log.info(
                    "collected abandoned upload %s of %s/%s",
                    intent.write_id,
                    intent.bucket,
                    intent.key,
                )
            await self.metadata.drop_intent(intent.write_id)
            collected += 1
        return collected

    async def settle_relocation(self, intent: Intent) -> None:
        """Keep exactly what the object at the key points at now: a copy it does not hold is
        deleted, and a replaced shard it no longer holds is retired (after the delete delay,
        for readers of the record before the switch). Deleting a shard twice harms nothing, so
        shards an overwrite or deletion retired already may be retired again."""
        held = await self.metadata.shard_places(intent.bucket, intent.key)

        def unheld(shards):
            return [s.as_record() for s in shards if (s.node_id, s.shard_id) not in held]

        await self.remover.remove(unheld(intent.shards))
        await self.remover.retire(unheld(intent.replaced))
        await self.metadata.drop_intent(intent.write_id)
        log.info(
            "settled abandoned relocation %s of %s/%s", intent.write_id, intent.bucket, intent.key
        )
