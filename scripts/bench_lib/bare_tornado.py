"""The framework's limit: a bare Tornado server that discards a streamed PUT body and streams a
file back on GET, with no storage behind it. Run as a script by the benchmark:
``python bare_tornado.py PORT FILE``; it answers ``GET /health`` once it listens.

The download writes 1 MiB blocks and flushes after each, as the gateway does; the file is read
with plain blocking reads, which come from the page cache (the benchmark has just written it).
"""

import asyncio
import os
import sys

from tornado.httpserver import HTTPServer
from tornado.web import Application, RequestHandler, stream_request_body

BLOCK = 1 << 20


@stream_request_body
class DiscardHandler(RequestHandler):
    def initialize(self, source: str) -> None:
        self.source = source

    def prepare(self) -> None:
        self.request.connection.set_max_body_size(1 << 50)
        self.received = 0

    def data_received(self, chunk: bytes) -> None:
        self.received += len(chunk)

    def put(self, name: str) -> None:
        self.finish()

    async def get(self, name: str) -> None:
        if name == "health":
            self.finish("ok")
            return
        self.set_header("Content-Length", os.path.getsize(self.source))
        with open(self.source, "rb") as file:
            while block := file.read(BLOCK):
                self.write(block)
                await self.flush()


async def main(port: int, source: str) -> None:
    app = Application([(r"/(.*)", DiscardHandler, {"source": source})])
    HTTPServer(app).listen(port, "127.0.0.1")
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
