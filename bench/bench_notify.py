#!/usr/bin/env python3
"""Visibility of S3-side changes through the mount: the time from another
client's S3 request (PUT of a new object, overwrite with another size and
with the same size, DELETE) to the mount showing it through `stat` and
`open+read`, p50 / p99 / max over --n changes of each kind.

Run inside the store's network namespace, e.g.
    eval "$(scripts/stack.sh env)"
    nsenter --net=$MPFS_NETNS_PATH python3 bench/bench_notify.py --opts notify=http://127.0.0.1:0
and without --opts for polling only.  The clock starts when the S3 request
is sent (so the writer's own request time is included) and stops at the
first stat (or read) that shows the change; the mount is polled every
millisecond.  Also reported: the same time counted from the end of the
writer's request (its acknowledgement), which leaves out the store's own
write time.  A change not seen within --timeout counts as the timeout.

For reuse (e.g. a reconciler benchmark): measure(mountpoint, prefix, kind,
n, s3) returns the list of latencies in seconds for one kind, with kinds
"new", "overwrite", "overwrite_same", "delete" (stat) and "overwrite_read"
(open+read).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from s3lite import S3  # noqa: E402

EP = os.environ.get("MPFS_S3_ENDPOINT", "http://127.0.0.1:7480")
BUCKET = os.environ.get("MPFS_S3_BUCKET", "testbucket")
AK = os.environ.get("AWS_ACCESS_KEY_ID", "")
SK = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
MPFS = os.environ.get("MPFS_BIN", os.path.join(ROOT, "build", "tools", "mpfs"))
KINDS = ["new", "overwrite", "overwrite_same", "delete", "overwrite_read"]


def _stat(p):
    try:
        st = os.stat(p)
        return st.st_size, st.st_mtime_ns
    except FileNotFoundError:
        return None


def _read(p):
    try:
        with open(p, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def _until(fn, t0, timeout):
    while True:
        if fn():
            return time.time() - t0
        if time.time() - t0 > timeout:
            return timeout
        time.sleep(0.001)


PUT_TIMES = []  # how long each change's own S3 request took (s), for the report
AFTER_ACK = []  # visibility counted from the end of the writer's request (s, >= 0)


def measure(mnt, prefix, kind, n, s3, timeout=40.0, settle=1.2):
    """Latencies (s) of n changes of one kind under mnt (= s3://BUCKET/prefix).
    settle: pause between preparing a file and changing it, so the change is
    not in the same second as what the mount saw last (HTTP dates have
    one-second resolution)."""
    out = []
    for i in range(n):
        name = f"{kind}-{i}-{uuid.uuid4().hex[:6]}"
        key, p = f"{prefix}/{name}", os.path.join(mnt, name)
        if kind != "new":
            s3.put(BUCKET, key, b"a" * 1000)
            if _until(lambda: _stat(p) is not None and _stat(p)[0] == 1000, time.time(),
                      timeout) >= timeout:
                raise RuntimeError(f"{name} never appeared")
            _read(p)
            before = _stat(p)
            time.sleep(settle)
        else:
            _stat(p)  # the mount learns it is absent
        t0 = time.time()
        if kind == "new":
            s3.put(BUCKET, key, b"n" * 100)
            PUT_TIMES.append(time.time() - t0)
            out.append(_until(lambda: (_stat(p) or (0,))[0] == 100, t0, timeout))
            AFTER_ACK.append(max(0.0, out[-1] - PUT_TIMES[-1]))
        elif kind == "overwrite":
            s3.put(BUCKET, key, b"b" * 2000)
            PUT_TIMES.append(time.time() - t0)
            out.append(_until(lambda: (_stat(p) or (0,))[0] == 2000, t0, timeout))
            AFTER_ACK.append(max(0.0, out[-1] - PUT_TIMES[-1]))
        elif kind == "overwrite_same":
            s3.put(BUCKET, key, b"c" * 1000)
            PUT_TIMES.append(time.time() - t0)
            out.append(_until(lambda: _stat(p) != before, t0, timeout))
            AFTER_ACK.append(max(0.0, out[-1] - PUT_TIMES[-1]))
        elif kind == "overwrite_read":
            s3.put(BUCKET, key, b"d" * 1000)
            PUT_TIMES.append(time.time() - t0)
            out.append(_until(lambda: _read(p) == b"d" * 1000, t0, timeout))
            AFTER_ACK.append(max(0.0, out[-1] - PUT_TIMES[-1]))
        elif kind == "delete":
            s3.delete(BUCKET, key)
            PUT_TIMES.append(time.time() - t0)
            out.append(_until(lambda: _stat(p) is None, t0, timeout))
            AFTER_ACK.append(max(0.0, out[-1] - PUT_TIMES[-1]))
    return out


def summary(v):
    v = sorted(v)
    p99 = v[min(len(v) - 1, int(round(0.99 * (len(v) - 1))))]
    return statistics.median(v), p99, v[-1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--opts", default="", help="extra -o options of the mount (e.g. notify=...)")
    ap.add_argument("--n", type=int, default=50, help="changes per kind")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--timeout", type=float, default=40.0)
    a = ap.parse_args()
    s3 = S3(EP, AK or None, SK or None)
    prefix = f"bench-notify-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    s3.put(BUCKET, prefix + "/.keep", b"")
    mnt, cache = tempfile.mkdtemp(), tempfile.mkdtemp()
    o = f"cache_dir={cache}" + ("," + a.opts if a.opts else "")
    subprocess.run([MPFS, "mount", "--s3", f"s3://{BUCKET}/{prefix}", "--endpoint", EP, "-o", o,
                    mnt], check=True)
    try:
        print(f"mount -o {a.opts or '(defaults: polling)'}; {a.n} changes per kind; ms")
        print("| change | seen by | p50 | p99 | max | after the writer's ack p50 / p99 | "
              "writer's request p50 / p99 |\n|---|---|---|---|---|---|---|")
        for kind in a.kinds.split(","):
            PUT_TIMES.clear()
            AFTER_ACK.clear()
            v = measure(mnt, prefix, kind, a.n, s3, a.timeout)
            p50, p99, mx = summary(v)
            w50, w99, _ = summary(PUT_TIMES)
            a50, a99, _ = summary(AFTER_ACK)
            by = "open+read" if kind == "overwrite_read" else "stat"
            print(f"| {kind} | {by} | {p50 * 1000:.1f} | {p99 * 1000:.1f} | {mx * 1000:.1f} | "
                  f"{a50 * 1000:.1f} / {a99 * 1000:.1f} | {w50 * 1000:.1f} / {w99 * 1000:.1f} |",
                  flush=True)
        st = subprocess.run([MPFS, "stats", mnt, "--raw"], capture_output=True, text=True).stdout
        print(" ".join(line for line in st.splitlines() if line.startswith("notify.")))
    finally:
        subprocess.run(["fusermount3", "-u", mnt])
        time.sleep(1)
        for k in s3.list_keys(BUCKET, prefix + "/"):
            s3.delete(BUCKET, k)
        shutil.rmtree(mnt, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
