"""test_landlock.py: --require-landlock and stable_egressd_landlock_abi.

The test build plays a kernel without Landlock when
$STABLE_EGRESSD_TEST_NO_LANDLOCK is set (the release binary has no such
switch); this kernel's own ABI is read from the metric of a normal run.
"""
import ctypes
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def kernel_abi():
    """landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)."""
    libc = ctypes.CDLL(None, use_errno=True)
    # 444 on every architecture (the unified syscall table).
    r = libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(r, 0)


class Landlock(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(harness.TEST_BIN):
            raise unittest.SkipTest("run `make test-bin`")
        cls.c = harness.Cluster()

    @classmethod
    def tearDownClass(cls):
        cls.c.close()

    def test_required_but_missing_refuses(self):
        env = {"PATH": "/usr/bin:/bin", "STABLE_EGRESSD_TEST_NO_LANDLOCK": "1"}
        p = subprocess.run([harness.TEST_BIN] + self.c.flags("x") +
                           ["--require-landlock"], env=env, timeout=10,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.assertEqual(p.returncode, 2)
        lines = p.stderr.decode().splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("--require-landlock", lines[0])
        self.assertEqual(p.stdout, b"")

    def test_missing_warns_and_exports_zero(self):
        r = self.c.replica("nl", binary=harness.TEST_BIN,
                           env={"STABLE_EGRESSD_TEST_NO_LANDLOCK": "1"})
        try:
            self.assertTrue(self.c.wait(lambda: r.metric(
                "stable_egressd_landlock_abi") is not None, 15))
            self.assertEqual(r.metric("stable_egressd_landlock_abi"), 0)
            self.assertTrue(r.logged("kernel without Landlock"))
            # The workers run without it and say so.
            self.assertTrue(self.c.wait(lambda: len(
                [l for l in r.lines() if "without Landlock" in
                 l.get("msg", "") or "landlock unavailable" in
                 l.get("msg", "")]) >= 3, 10))
        finally:
            r.stop()

    def test_present_is_exported(self):
        abi = kernel_abi()
        if not abi:
            raise unittest.SkipTest("this kernel has no Landlock")
        r = self.c.replica("ll", extra=["--require-landlock"])
        try:
            self.assertTrue(self.c.wait(lambda: r.metric(
                "stable_egressd_landlock_abi") is not None, 15))
            self.assertEqual(r.metric("stable_egressd_landlock_abi"), abi)
            self.assertFalse(r.logged("kernel without Landlock"))
        finally:
            r.stop()


if __name__ == "__main__":
    unittest.main()
