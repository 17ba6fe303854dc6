"""The machine's single-stream loopback limit, receiving side: run as a script by the benchmark,
``python socket_sink.py``. It listens on a free 127.0.0.1 port, prints the port, then for each
connection reads until the sender shuts down its side and answers the byte count (8 bytes)."""

import socket
import sys

BLOCK = 1 << 20


def main() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        print(listener.getsockname()[1], flush=True)
        buffer = memoryview(bytearray(BLOCK))
        while True:
            connection, _ = listener.accept()
            with connection:
                received = 0
                while count := connection.recv_into(buffer):
                    received += count
                connection.sendall(received.to_bytes(8, "big"))


if __name__ == "__main__":
    sys.exit(main())
