"""Bucket notifications over AMQP through real mounts: radosgw publishes to
the test store's RabbitMQ (scripts/stack.sh), two mounts of the same prefix
(a fleet of two) each consume from their own queue, and both show another
client's S3 PUT, overwrite and DELETE through stat within 2 s.  The shared
topic and bucket notification stay at unmount (the fleet's), and are
removed by the test.

Exit 77 (skipped) when the store has no broker (MPFS_AMQP_URL unset or not
answering): a store started by an older scripts/stack.sh."""
import os
import socket
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
import mountlib as ml  # noqa: E402
from test_notify import BOUND, notification_ids, size_of, stats, wait  # noqa: E402

AMQP_URL = os.environ.get("MPFS_AMQP_URL", "")


def broker_up():
    if not AMQP_URL:
        return False
    u = urllib.parse.urlparse(AMQP_URL)
    try:
        socket.create_connection((u.hostname, u.port or 5672), timeout=2).close()
        return True
    except OSError:
        return False


class NotifyAmqp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.prefix = ml.unique_prefix("notify-amqp")
        cls.before = set(notification_ids())
        # radosgw 16.2 binds one exchange per broker URL: the default one
        opts = f"notify={AMQP_URL},meta_ttl=30,reconcile_rate=0"
        cls.a = ml.Mount("s3", cls.prefix, opts=opts).start()
        cls.b = ml.Mount("s3", cls.prefix, opts=opts).start()
        for m in (cls.a, cls.b):
            if not ml.wait_until(lambda: stats(m).get("notify.up") == "1", 15, 0.1):
                raise RuntimeError("AMQP channel did not come up:\n" + m.log())

    @classmethod
    def tearDownClass(cls):
        cls.a.cleanup()
        cls.b.cleanup()
        ml.s3_delete_prefix(cls.prefix + "/")
        for nid in set(notification_ids()) - cls.before:
            ml._s3.request("DELETE", ml.BUCKET, query={"notification": nid})

    def both(self, name, pred, what):
        for m in (self.a, self.b):
            p = m.path(name)
            t = wait(lambda: pred(p))
            self.assertIsNotNone(t, f"{what} not seen on {m.mnt}: {stats(m)}")
            print(f"  {what} on {os.path.basename(m.mnt)}: {t * 1000:.1f} ms", file=sys.stderr)
            self.assertLess(t, BOUND)

    def test_fleet_sees_changes(self):
        key = f"{self.prefix}/f.bin"
        for m in (self.a, self.b):
            self.assertIsNone(size_of(m.path("f.bin")))
        ml.s3_put(key, b"x" * 10)
        self.both("f.bin", lambda p: size_of(p) == 10, "PUT new")
        time.sleep(1.5)
        ml.s3_put(key, b"y" * 30)
        self.both("f.bin", lambda p: size_of(p) == 30, "overwrite")
        for m in (self.a, self.b):
            with open(m.path("f.bin"), "rb") as f:
                self.assertEqual(f.read(), b"y" * 30)
        ml.s3_delete(key)
        self.both("f.bin", lambda p: size_of(p) is None, "DELETE")
        for m in (self.a, self.b):
            s = stats(m)
            self.assertGreater(int(s["notify.messages"]), 0)

    def test_shared_setup_stays(self):
        # one topic configuration for the fleet, not one per mount
        ids = set(notification_ids()) - self.before
        self.assertEqual(len(ids), 1, ids)
        self.assertTrue(list(ids)[0].startswith("mpfs-fleet-"))


if __name__ == "__main__":
    if not broker_up():
        print("no AMQP broker in this store (MPFS_AMQP_URL): skipped", file=sys.stderr)
        sys.exit(77)
    unittest.main(verbosity=2)
