"""A request body of unknown length, kept in a temporary file until its end gives its length.

Six equal parts need the total size before the first part can be cut, so a chunked upload is
written to disk first, then sent on like any other. Memory stays bounded; the file is removed
when the spool closes, and the operating system removes it if the process dies first.
"""

import asyncio
import tempfile
from collections.abc import AsyncIterator

from s3lite.errors import EntityTooLarge

READ_BLOCK = 256 * 1024


class Spool:
    def __init__(self, max_size: int):
        self.max_size = max_size
        self.size = 0
        self.file = tempfile.TemporaryFile(prefix="s3lite-upload-")

    async def in_thread(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(None, function, *args)

    async def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_size:
            raise EntityTooLarge(f"the body is larger than {self.max_size} bytes")
        await self.in_thread(self.file.write, data)

    async def read(self) -> AsyncIterator[bytes]:
        await self.in_thread(self.file.seek, 0)
        while block := await self.in_thread(self.file.read, READ_BLOCK):
            yield block

    def close(self) -> None:
        self.file.close()
