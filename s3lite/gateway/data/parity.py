"""A part's parity, computed as its body streams in and streamed out to the parity shards.

Parity at an offset needs all six data shards' bytes there, and the body brings the shards one
after another. So data shards 0-4 are also written to a temporary file as they pass; when the
last data shard's bytes arrive, the same offsets of the others are read back, encoded and sent
at once. The last data shard is the longest, so parity ends exactly when it does, and the
gateway's memory stays flat at any size: the file (5/6 of the part, on disk) is removed when the
writer closes, or by the operating system if the process dies first.
"""

import asyncio
import os
import tempfile

from s3lite.gateway.data.erasure import ParityCode
from s3lite.gateway.data.node_client import PartSender
from s3lite.gateway.data.splitting import DATA_SHARDS, Span

ENCODE_BYTES = 256 * 1024  # of the last data shard per encoding round


class ParityWriter:
    def __init__(self, code: ParityCode, spans: list[Span]):
        self.code = code
        self.spans = spans
        self.length = spans[-1].size  # of every parity shard: the last data shard's
        self.file = tempfile.TemporaryFile(prefix="s3lite-parity-")
        self.pending = bytearray()  # of the last data shard, not yet encoded
        self.encoded = 0  # offset in the last data shard up to which parity was sent

    async def in_thread(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(None, function, *args)

    async def take(self, index: int, offset: int, data: bytes, senders: list[PartSender]) -> None:
        """Data shard ``index``'s bytes at ``offset`` within it; ``senders`` are the parity
        shards', open once the last data shard has begun."""
        if index < DATA_SHARDS - 1:
            await self.in_thread(os.pwrite, self.file.fileno(), data, index * self.length + offset)
            return
        self.pending += data
        if len(self.pending) >= ENCODE_BYTES or offset + len(data) == self.length:
            await self.encode_pending(senders)

    async def encode_pending(self, senders: list[PartSender]) -> None:
        start, end = self.encoded, self.encoded + len(self.pending)
        data = [
            await self.in_thread(self.read_spooled, span, start, end) for span in self.spans[:-1]
        ]
        data.append(bytes(self.pending))
        self.pending.clear()
        self.encoded = end
        parity = await self.in_thread(self.code.encode, data)
        await asyncio.gather(
            *(sender.write(block) for sender, block in zip(senders, parity, strict=True))
        )

    def read_spooled(self, span: Span, start: int, end: int) -> bytes:
        """Data shard ``span``'s bytes in [start, end), cut at its own end."""
        end = min(end, span.size)
        if end <= start:
            return b""
        return os.pread(self.file.fileno(), end - start, span.index * self.length + start)

    def close(self) -> None:
        self.file.close()
