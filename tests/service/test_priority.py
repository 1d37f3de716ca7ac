"""The event loop first: after start-up every other thread of the service runs at a lower priority."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHILD = r"""
import os, threading, time
from rag_rerank.service.priority import favour_event_loop
stop = threading.Event()
worker = threading.Thread(target=lambda: stop.wait(30))
worker.start()
time.sleep(0.1)
count = favour_event_loop(10)
me = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
other = os.getpriority(os.PRIO_PROCESS, worker.native_id)
stop.set(); worker.join()
print(count, me, other)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_every_thread_but_the_event_loops_gives_up_priority():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60, check=True)
    count, mine, other = (int(x) for x in out.stdout.split())
    assert count >= 1 and mine == 0 and other == 10


LATER = r"""
import asyncio, os, threading
from rag_rerank.service.priority import keep_favouring_event_loop

async def main():
    task = asyncio.create_task(keep_favouring_event_loop(10, interval_s=0.05))
    await asyncio.sleep(0.1)
    # a worker the loop starts after start-up inherits the loop's priority (0) ...
    started = await asyncio.get_running_loop().run_in_executor(None, threading.get_native_id)
    await asyncio.sleep(0.3)  # ... until the next scan gives it up
    worker = os.getpriority(os.PRIO_PROCESS, started)
    me = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    task.cancel()
    print(me, worker)

asyncio.run(main())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_threads_started_after_start_up_give_up_priority_too():
    out = subprocess.run([sys.executable, "-c", LATER], capture_output=True, text=True, timeout=60, check=True)
    mine, worker = (int(x) for x in out.stdout.split())
    assert mine == 0 and worker == 10
