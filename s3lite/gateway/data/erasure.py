"""The Reed-Solomon code that protects a part: any six of its 6 + P shards give back all six
data shards.

The code is systematic: the data shards are the part's six contiguous pieces, unchanged, and
parity shard ``6 + k`` holds, at each offset, a GF(2^8) combination of the six data shards'
bytes at that offset. Data shards are as long as the last one or one byte shorter; for the code
every shorter one counts as padded with a zero byte, so each parity shard is as long as the
last data shard. Encoding and decoding work on aligned windows of the shards, so neither needs
a whole shard in memory.

zfec (Tahoe-LAFS's Reed-Solomon, in C) does the arithmetic: it takes and gives raw equal-length
blocks by index, which fits shards stored as plain bytes, where pyeclib's fragments carry its
own headers and layout.
"""

import functools
from collections.abc import Mapping, Sequence

import zfec

from s3lite.gateway.data.splitting import DATA_SHARDS


def padded(block: bytes, length: int) -> bytes:
    return block if len(block) == length else block + bytes(length - len(block))


class ParityCode:
    """RS(6 + ``parity``, 6) over GF(2^8): shard indexes 0-5 are data, 6.. parity."""

    def __init__(self, parity: int):
        self.parity = parity
        self.total = DATA_SHARDS + parity
        self.parity_indexes = tuple(range(DATA_SHARDS, self.total))
        self.encoder = zfec.Encoder(DATA_SHARDS, self.total) if parity else None
        self.decoder = zfec.Decoder(DATA_SHARDS, self.total) if parity else None

    @classmethod
    @functools.cache
    def of(cls, parity: int) -> "ParityCode":
        """The code of a part with this many parity shards (each part keeps the count it was
        written with, whatever the gateway's setting is now)."""
        return cls(parity)

    def encode(self, data: Sequence[bytes]) -> list[bytes]:
        """The parity windows of six data windows at one offset (shorter ones are padded)."""
        length = max(len(block) for block in data)
        blocks = tuple(padded(bytes(block), length) for block in data)
        return list(self.encoder.encode(blocks, self.parity_indexes))

    def decode(self, available: Mapping[int, bytes], length: int) -> list[bytes]:
        """The six data windows at one offset, from any six shards' windows there (index to
        bytes; a data window shorter than ``length`` is padded). Callers cut each data window
        back to its shard's own length."""
        if len(available) < DATA_SHARDS:
            raise ValueError(f"{len(available)} shards cannot give back {DATA_SHARDS}")
        indexes = sorted(available)[:DATA_SHARDS]
        blocks = tuple(padded(bytes(available[i]), length) for i in indexes)
        return list(self.decoder.decode(blocks, tuple(indexes)))
