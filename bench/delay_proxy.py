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

The proxy itself is bench/delay_proxy.c (its header says how it works and
why it is C): this script builds it with the system's C compiler on first
use (cached under the temporary directory, keyed by the source's hash) and
runs it.  Running is the way scripts that import this module (the
benchmarks, the integration tests) start one.
"""
import hashlib
import os
import subprocess
import sys
import tempfile

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "delay_proxy.c")


def binary():
    """The built proxy, built now if this source has not been."""
    with open(SOURCE, "rb") as f:
        tag = hashlib.sha256(f.read()).hexdigest()[:16]
    out = os.path.join(tempfile.gettempdir(), f"mpfs-delay-proxy-{tag}")
    if not os.path.exists(out):
        tmp = f"{out}.{os.getpid()}"
        subprocess.run([os.environ.get("CC", "cc"), "-O2", "-Wall", "-pthread", SOURCE, "-o",
                        tmp], check=True)
        os.replace(tmp, out)  # atomic: concurrent builders do not see half a file
    return out


class Running:
    """The proxy run as a child process in front of the store at
    `store_url` (http://HOST:PORT): `endpoint` is the URL to give clients;
    stop() (or leaving the `with` block) ends it."""

    def __init__(self, store_url, delay_ms):
        target = store_url.split("//", 1)[-1].split("/", 1)[0]
        self.p = subprocess.Popen([binary(), "--target", target, "--delay-ms", str(delay_ms)],
                                  stdout=subprocess.PIPE)
        line = self.p.stdout.readline().split()
        if len(line) != 2 or line[0] != b"port":
            self.p.kill()
            self.p.wait()
            raise RuntimeError(f"delay proxy did not start (exit {self.p.returncode})")
        self.endpoint = f"http://127.0.0.1:{int(line[1])}"

    def stop(self):
        self.p.terminate()
        self.p.wait(timeout=30)
        self.p.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


if __name__ == "__main__":
    os.execv(binary(), [binary()] + sys.argv[1:])
