"""Peak memory in the speed measurements is the measured process's own, not its parent's."""

from __future__ import annotations

import multiprocessing as mp
import sys

import pytest

from rag_core.evaluation._speed import peak_rss_mb


def _report(queue) -> None:  # type: ignore[no-untyped-def]
    queue.put(peak_rss_mb())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM is Linux's")
def test_a_spawned_child_does_not_inherit_the_parent_s_peak():
    ballast = bytearray(400 * 2**20)  # touched, so it is resident
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    parent = peak_rss_mb()
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_report, args=(queue,))
    child.start()
    measured = queue.get(timeout=60)
    child.join()
    assert parent > 400
    assert 0 < measured < parent - 300, (measured, parent)
    del ballast
