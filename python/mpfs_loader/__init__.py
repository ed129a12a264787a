"""mpfs_loader - tell an mpfs mount what a data loader will read next.

The mount prefetches announced files in the announced order (docs/PREFETCH.md),
so a shuffled epoch over a dataset larger than the cache is served from
prefetched blocks instead of one cold miss per sample.

  PrefetchSampler  a torch.utils.data.Sampler wrapper: draws each epoch's
                   order from the wrapped sampler, splits it the way
                   DataLoader hands batches to its workers (batch b to worker
                   b % num_workers), and announces each worker's files in its
                   own stream, a bounded lookahead ahead of the dispatch.
  announced()      a plain iterator for other frameworks: yields the paths
                   given while announcing the next `lookahead` of them.
  Announcer        one stream (one open handle of MOUNT/.mpfs/prefetch).
  ctl_prefetch()   the same through the control socket (named streams).

On a path that is not on an mpfs mount everything here is a no-op: the
sampler yields the wrapped sampler's order, announced() yields its paths.
Needs only the standard library; PrefetchSampler needs torch.
"""
import errno
import os
import socket
import warnings

__all__ = ["find_mount", "Announcer", "PrefetchSampler", "announced", "ctl_prefetch"]


def find_mount(path):
    """The root of the mpfs mount holding path, or None."""
    d = os.path.realpath(path)
    if not os.path.isdir(d):
        d = os.path.dirname(d)
    while True:
        if os.path.exists(os.path.join(d, ".mpfs", "prefetch")):
            return d
        if os.path.ismount(d) or d == os.path.dirname(d):
            return None
        d = os.path.dirname(d)


def _relative(root, path):
    # Lexically first: realpath costs a stat per component through the
    # mount, per announced file, in the process that dispatches batches.
    # A path not spelled under the mount root (a symlinked prefix) is
    # resolved.
    p = os.path.normpath(path)
    if p.startswith(root + os.sep):
        return p[len(root) + 1:]
    p = os.path.realpath(path)
    rel = os.path.relpath(p, root)
    if rel.startswith(".."):
        raise ValueError(f"{path} is not under the mount {root}")
    return rel


class Announcer:
    """One stream of announced reads: an open handle of ROOT/.mpfs/prefetch.

    announce(paths) queues paths (absolute, or relative to the mount root);
    reset() drops what is queued (a new epoch); close() ends the stream.
    Paths the mount refuses (gone, not files) are skipped with a warning;
    a full queue (ENOBUFS) stops the announcement there and returns how
    many were taken, so the caller tries again later.
    """

    def __init__(self, root):
        self.root = root
        self.fd = os.open(os.path.join(root, ".mpfs", "prefetch"), os.O_WRONLY | os.O_CLOEXEC)
        self.refused = 0

    def _line(self, p):
        if isinstance(p, tuple):  # (path, offset, length)
            path, off, length = p
            return f"{_relative(self.root, path) if os.path.isabs(path) else path}\t{off}\t{length}\n"
        return (_relative(self.root, p) if os.path.isabs(p) else p) + "\n"

    def _write(self, text):
        data = text.encode()
        while data:
            n = os.write(self.fd, data)
            data = data[n:]

    def announce(self, paths):
        lines = [self._line(p) for p in paths]
        if not lines:
            return 0
        try:
            self._write("".join(lines))
            return len(lines)
        except OSError as e:
            if e.errno == errno.ENOBUFS:
                return self._one_by_one(lines)
            # a bad line refuses the whole write: take the good ones
            return self._one_by_one(lines)

    def _one_by_one(self, lines):
        taken = 0
        for i, line in enumerate(lines):
            try:
                self._write(line)
                taken = i + 1
            except OSError as e:
                if e.errno == errno.ENOBUFS:
                    return taken
                self.refused += 1
                if self.refused <= 3:
                    warnings.warn(f"mpfs prefetch: {line.strip()}: {os.strerror(e.errno)}")
                taken = i + 1
        return taken

    def reset(self):
        self._write("#reset\n")

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def announced(paths, lookahead=256):
    """Yield paths in order, announcing the next `lookahead` ones ahead of
    each; a no-op wrapper when they are not on an mpfs mount."""
    paths = list(paths)
    root = find_mount(paths[0]) if paths else None
    if root is None:
        yield from paths
        return
    with Announcer(root) as a:
        sent = 0
        for i, p in enumerate(paths):
            if sent - i < lookahead // 2:
                want = min(len(paths), i + lookahead)
                sent += a.announce(paths[sent:want])
            yield p


def ctl_prefetch(root, name, verb, paths=()):
    """`mpfs ctl ROOT prefetch NAME VERB` over the control socket: verb is
    add (with paths), reset, status or close.  Returns the output lines;
    raises OSError with the daemon's errno and message on refusal."""
    sock = os.getxattr(root, "user.mpfs.ctl").decode()
    req = f"prefetch {name} {verb}\n"
    if verb == "add":
        req += "".join(_relative(root, p) + "\n" if os.path.isabs(p) else p + "\n" for p in paths)
        req += ".\n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(sock)
        s.sendall(req.encode())
        out = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    lines = out.decode().rstrip("\n").split("\n")
    verdict = lines.pop() if lines else ""
    if verdict != "OK":
        code, _, msg = verdict[4:].partition(" ") if verdict.startswith("ERR ") else ("71", "", verdict)
        raise OSError(int(code), msg)
    return lines


try:
    from torch.utils.data import Sampler as _Sampler
except ImportError:  # torch is only needed for the sampler
    _Sampler = object


class PrefetchSampler(_Sampler):
    """Wrap a sampler so an mpfs mount prefetches each epoch in its order.

    sampler      the order to follow (e.g. RandomSampler(ds)); drawn once per
                 epoch, exactly as DataLoader would draw it
    path_of      index -> file path (e.g. ds.paths.__getitem__)
    batch_size   the DataLoader's batch_size (1 if it has none)
    num_workers  the DataLoader's num_workers
    lookahead    files announced ahead, per worker (the mount bounds it too)

    DataLoader hands batch b to worker b % num_workers, each worker loads its
    batches in order: each worker gets its own stream with its own files in
    that order.  Use it as DataLoader(ds, batch_size=B, num_workers=W,
    sampler=PrefetchSampler(RandomSampler(ds), ds.paths.__getitem__, B, W)).
    """

    def __init__(self, sampler, path_of, batch_size=1, num_workers=0, lookahead=512):
        self.sampler = sampler
        self.path_of = path_of
        self.batch_size = max(1, batch_size)
        self.num_workers = max(1, num_workers)
        self.lookahead = lookahead
        self.streams = None
        self.root = None
        self.checked = False

    def __len__(self):
        return len(self.sampler)

    def _open(self, first):
        self.checked = True
        try:
            root = find_mount(self.path_of(first))
        except (OSError, ValueError):
            root = None
        if root is None:
            return
        try:
            self.streams = [Announcer(root) for _ in range(self.num_workers)]
            self.root = root
        except OSError as e:
            warnings.warn(f"mpfs prefetch: {os.strerror(e.errno)}; reading without hints")
            self.streams = None

    def __iter__(self):
        order = list(iter(self.sampler))
        if not self.checked and order:
            self._open(order[0])
        if not self.streams:
            yield from order
            return
        W, B = self.num_workers, self.batch_size
        # worker w's files, in the order it will open them
        per = [[] for _ in range(W)]
        where = []  # position of order[i] in its worker's list
        for i, idx in enumerate(order):
            w = (i // B) % W
            where.append((w, len(per[w])))
            per[w].append(idx)
        sent = [0] * W
        for s in self.streams:
            s.reset()  # a new epoch: nothing of the last one is still wanted

        def top_up(w, upto):
            want = min(len(per[w]), upto)
            if want > sent[w]:
                sent[w] += self.streams[w].announce(self.path_of(j) for j in per[w][sent[w]:want])

        for w in range(W):
            top_up(w, self.lookahead)
        for i, idx in enumerate(order):
            w, j = where[i]
            if sent[w] - j < self.lookahead // 2:
                top_up(w, j + self.lookahead)
            yield idx

    def close(self):
        for s in self.streams or ():
            s.close()
        self.streams = None
