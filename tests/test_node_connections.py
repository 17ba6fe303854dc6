"""The gateway's HTTP client for nodes: connections kept open and reused, and never reused when
what is left on them is not a clean end of a response."""

import json

import pytest
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port
from tornado.web import Application, RequestHandler, stream_request_body

from s3lite.gateway.data import node_http
from s3lite.gateway.data.node_http import NodeConnections, SinkFailed


class WhoAmI(RequestHandler):
    """Answers the client's port, which names the connection the request came on."""

    def get(self):
        self.write({"port": self.request.connection.context.address[1], "body": "x" * 3000})

    def delete(self):
        self.set_status(404)
        self.finish("no such thing")


@stream_request_body
class Count(RequestHandler):
    def prepare(self):
        self.received = 0

    def data_received(self, chunk):
        self.received += len(chunk)

    def put(self):
        self.write({"received": self.received, "port": self.request.connection.context.address[1]})


class Server:
    def __init__(self):
        self.socket, self.port = bind_unused_port()
        self.server = HTTPServer(Application([("/who", WhoAmI), ("/count", Count)]))
        self.server.add_sockets([self.socket])
        self.url = f"http://127.0.0.1:{self.port}"

    async def stop(self):
        self.server.stop()
        await self.server.close_all_connections()


@pytest.fixture
def server(io_loop):
    return Server()


async def port_of(connections: NodeConnections, url: str) -> int:
    response = await connections.request("GET", f"{url}/who", {}, connect_seconds=5)
    assert response.code == 200
    return json.loads(response.body)["port"]


async def put_million(connections: NodeConnections, url: str) -> dict:
    async def produce(write):
        for _ in range(10):
            await write(b"y" * 100_000)

    response = await connections.request(
        "PUT",
        f"{url}/count",
        {"Content-Length": "1000000"},
        body_producer=produce,
        connect_seconds=5,
    )
    return json.loads(response.body)


async def restart(server: Server) -> HTTPServer:
    """Stop the server, closing its kept connections, and serve again on the same port."""
    await server.stop()
    restarted = HTTPServer(Application([("/who", WhoAmI), ("/count", Count)]))
    restarted.listen(server.port, "127.0.0.1")
    return restarted


@pytest.mark.gen_test(timeout=30)
async def test_requests_one_after_another_share_one_connection(server):
    connections = NodeConnections()
    ports = {await port_of(connections, server.url) for _ in range(5)}
    assert len(ports) == 1
    connections.close()


@pytest.mark.gen_test(timeout=30)
async def test_an_error_answer_is_collected_and_the_connection_still_reused(server):
    connections = NodeConnections()
    first = await port_of(connections, server.url)
    response = await connections.request("DELETE", f"{server.url}/who", {}, connect_seconds=5)
    assert (response.code, response.body) == (404, b"no such thing")
    assert await port_of(connections, server.url) == first
    connections.close()


@pytest.mark.gen_test(timeout=30)
async def test_a_streamed_body_arrives_whole_and_the_connection_is_reused(server):
    connections = NodeConnections()
    answers = [await put_million(connections, server.url) for _ in range(2)]
    assert [a["received"] for a in answers] == [1_000_000, 1_000_000]
    assert answers[0]["port"] == answers[1]["port"]
    connections.close()


@pytest.mark.gen_test(timeout=30)
async def test_a_connection_the_node_closed_while_idle_is_not_used(server):
    connections = NodeConnections()
    first = (await put_million(connections, server.url))["port"]
    restarted = await restart(server)
    try:
        # A body cannot be sent twice, so this succeeds only on a connection checked first.
        answer = await put_million(connections, server.url)
        assert answer["received"] == 1_000_000 and answer["port"] != first
    finally:
        restarted.stop()
        await restarted.close_all_connections()
        connections.close()


@pytest.mark.gen_test(timeout=30)
async def test_a_request_without_body_is_sent_again_when_a_kept_connection_was_closed(
    server, monkeypatch
):
    connections = NodeConnections()
    first = await port_of(connections, server.url)
    restarted = await restart(server)
    # As if the node's close were still on its way when the connection is taken.
    monkeypatch.setattr(node_http, "is_idle_and_open", lambda stream: True)
    try:
        assert await port_of(connections, server.url) != first
    finally:
        restarted.stop()
        await restarted.close_all_connections()
        connections.close()


@pytest.mark.gen_test(timeout=30)
async def test_a_request_with_a_body_is_not_sent_again(server, monkeypatch):
    connections = NodeConnections()
    await put_million(connections, server.url)
    restarted = await restart(server)
    monkeypatch.setattr(node_http, "is_idle_and_open", lambda stream: True)
    try:
        with pytest.raises(OSError):
            await put_million(connections, server.url)
    finally:
        restarted.stop()
        await restarted.close_all_connections()
        connections.close()


@pytest.mark.gen_test(timeout=30)
async def test_a_failing_sink_stops_the_read_and_its_connection_is_dropped(server):
    connections = NodeConnections()
    first = await port_of(connections, server.url)

    async def sink(chunk):
        raise ValueError("the client went away")

    with pytest.raises(SinkFailed) as failure:
        await connections.request("GET", f"{server.url}/who", {}, sink=sink, connect_seconds=5)
    assert isinstance(failure.value.error, ValueError)
    assert await port_of(connections, server.url) != first
    connections.close()


@pytest.mark.gen_test(timeout=30)
async def test_a_node_that_does_not_listen_is_an_os_error(io_loop):
    sock, port = bind_unused_port()
    sock.close()
    with pytest.raises(OSError):
        await NodeConnections().request("GET", f"http://127.0.0.1:{port}/", {}, connect_seconds=5)
