#!/usr/bin/env python3
"""A TCP proxy that adds a first-byte latency to every HTTP response, so the
benchmark can show a cloud-S3-like store (10-200 ms to the first byte) on a
machine where a GET takes 1 ms, without touching the network namespace the
store runs in (netem on its interface would slow every test sharing it).

  delay_proxy.py --target 127.0.0.1:7480 --delay-ms 20 [--listen 127.0.0.1:0]

Prints "port N" on stdout once it listens; point the clients at
http://127.0.0.1:N (SigV4 signs the Host header the client sends, which
the proxy passes through unchanged, so radosgw accepts it).  On SIGTERM
it prints "delayed N responses" and exits.

Design: one upstream connection per client connection, bytes passed
through untouched.  A response is recognised without parsing HTTP: bytes
from the server that follow bytes from the client (HTTP/1.1 without
pipelining, which libcurl, s3fs, rclone and http.client do not use) start
a response; their delivery is held for the delay (the upstream side stops
reading meanwhile), so the first byte reaches the client `delay` after
the server sent it: server time + delay, as a far store would.  Later
bytes of the response flow at full speed.  asyncio protocols (no
coroutine per chunk) and flow control both ways keep it light on CPU.
"""
import argparse
import asyncio
import os
import signal
import subprocess
import sys

delayed = 0


class Pipe(asyncio.Protocol):
    """One side of a proxied connection; `peer` is the other side."""

    def __init__(self, loop, delay, downstream):
        self.loop, self.delay, self.downstream = loop, delay, downstream
        self.transport = None
        self.peer = None
        self.pending = []       # bytes held back for the delay (upstream side)
        self.awaiting = False   # client side: a request went out, no response yet
        self.reasons = set()    # why our reading is paused

    def pause(self, why):
        if not self.reasons and self.transport:
            self.transport.pause_reading()
        self.reasons.add(why)

    def resume(self, why):
        self.reasons.discard(why)
        if not self.reasons and self.transport and not self.transport.is_closing():
            self.transport.resume_reading()

    def connection_made(self, transport):
        self.transport = transport
        transport.set_write_buffer_limits(high=1 << 20)
        if self.downstream:
            # no upstream yet: hold the client's bytes in the kernel
            self.pause("connect")
            self.loop.create_task(self.connect())

    async def connect(self):
        try:
            _, up = await self.loop.create_connection(
                lambda: Pipe(self.loop, self.delay, False), *ARGS.target)
        except OSError:
            self.transport.close()
            return
        up.peer, self.peer = self, up
        self.resume("connect")

    def data_received(self, data):
        global delayed
        if self.downstream:
            self.awaiting = True
            self.peer.transport.write(data)
            return
        client = self.peer
        if client.awaiting and self.delay > 0:
            client.awaiting = False
            delayed += 1
            self.pending.append(data)
            self.pause("delay")
            self.loop.call_later(self.delay, self.release)
            return
        client.awaiting = False
        client.transport.write(data)

    def release(self):
        if not self.peer.transport.is_closing():
            self.peer.transport.write(b"".join(self.pending))
        self.pending = []
        self.resume("delay")

    # our transport's write buffer is full: stop reading the other side
    def pause_writing(self):
        if self.peer:
            self.peer.pause("full")

    def resume_writing(self):
        if self.peer:
            self.peer.resume("full")

    def eof_received(self):
        if self.peer and not self.pending:
            self.peer.transport.close()
        return False

    def connection_lost(self, exc):
        if self.peer and not self.peer.transport.is_closing():
            if self.pending:
                # the server closed during the delay: deliver, then close
                self.loop.call_later(self.delay, self.peer.transport.close)
            else:
                self.peer.transport.close()


class Running:
    """This proxy run as a child process, for scripts that import this
    module (the benchmarks, the integration tests), in front of the store
    at `store_url` (http://HOST:PORT): `endpoint` is the URL to give
    clients; stop() (or leaving the `with` block) ends it."""

    def __init__(self, store_url, delay_ms):
        target = store_url.split("//", 1)[-1].split("/", 1)[0]
        self.p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--target", target,
                                   "--delay-ms", str(delay_ms)], stdout=subprocess.PIPE)
        self.endpoint = f"http://127.0.0.1:{int(self.p.stdout.readline().split()[1])}"

    def stop(self):
        self.p.terminate()
        self.p.wait(timeout=30)
        self.p.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def hostport(s):
    h, _, p = s.rpartition(":")
    return h, int(p)


async def main():
    loop = asyncio.get_running_loop()
    delay = ARGS.delay_ms / 1000.0
    host, port = ARGS.listen
    server = await loop.create_server(lambda: Pipe(loop, delay, True), host, port,
                                      reuse_address=True)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    server.close()
    print(f"delayed {delayed} responses", file=sys.stderr, flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", type=hostport, required=True, help="HOST:PORT of the store")
    ap.add_argument("--delay-ms", type=float, default=20.0)
    ap.add_argument("--listen", type=hostport, default=("127.0.0.1", 0))
    ARGS = ap.parse_args()
    asyncio.run(main())
