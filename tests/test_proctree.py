"""core.proctree: a tree is found with its escapees, and no pid can widen it to the whole machine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from core import proctree


def test_a_root_below_2_is_never_the_machine(tmp_path):
    # pid 0 (a pane not reporting its pid) once made every process a member: the kernel's and
    # init's trees hold them all, and a session kill signalled them
    for root in (-1, 0, 1):
        assert os.getpid() not in {p.pid for p in proctree.members(root)}
        assert proctree.members(root) == []


def test_members_follow_the_tag_to_a_setsid_escapee_and_signal_all_spares_us(tmp_path):
    tag = f"GT_TEST_TAG={tmp_path.name}"
    env = {**os.environ, "GT_TEST_TAG": tmp_path.name}
    child = subprocess.Popen(["setsid", sys.executable, "-c", "import time; time.sleep(60)"], env=env)
    try:
        found = {p.pid for p in proctree.members(-1, (tag.encode(),))}
        assert child.pid in found and os.getpid() not in found
        proctree.signal_all({0, 1, -1, os.getpid()}, signal.SIGTERM)  # none of them is signalled
        proctree.signal_all(found, signal.SIGTERM)
        assert child.wait(timeout=30) == -signal.SIGTERM
    finally:
        child.kill()
