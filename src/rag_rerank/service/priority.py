"""The HTTP side first: on a small machine the engine's threads and the event loop share a few
cores, and a request that could be refused in a millisecond waits behind a matrix product. After
the models load, every thread of the process but the event loop's is given a lower scheduling
priority (``ENGINE_NICE``, Linux ``nice`` per thread), so the event loop runs as soon as it has
work: refusals, health checks and small requests stay fast under a burst, and the engine still
gets every cycle the event loop does not use (throughput is unchanged when the HTTP side is idle).

Raising a thread's nice value needs no privilege; lowering it back would, so this is one-way for
the process's life. Elsewhere than Linux it does nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading

__all__ = ["favour_event_loop", "keep_favouring_event_loop"]

logger = logging.getLogger("rag_rerank.service")


def favour_event_loop(nice: int) -> int:
    """Renice every thread of this process except the calling one (the event loop's) by ``nice``;
    returns how many threads were reniced (0 where not supported or ``nice`` <= 0)."""
    if nice <= 0 or not sys.platform.startswith("linux"):
        return 0
    me = threading.get_native_id()
    done = 0
    try:
        tids = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        return 0
    for tid in tids:
        if tid == me:
            continue
        try:
            current = os.getpriority(os.PRIO_PROCESS, tid)
            os.setpriority(os.PRIO_PROCESS, tid, max(current, min(19, nice)))
            done += 1
        except OSError:  # a thread that ended meanwhile
            continue
    logger.debug("event loop first: %d engine and helper threads at nice %d", done, nice)
    return done


async def keep_favouring_event_loop(nice: int, interval_s: float = 1.0) -> None:
    """Run :func:`favour_event_loop` now and then every ``interval_s`` from the event loop: a
    thread inherits the nice value of the thread that starts it, so workers that the loop itself
    starts later (executor threads for a request, a bi-encoder's query embedding) would otherwise
    compete with it at full priority. Cancel the task to stop."""
    if nice <= 0 or not sys.platform.startswith("linux"):
        return
    logger.info("event loop first: engine and helper threads at nice %d (ENGINE_NICE)", nice)
    while True:
        favour_event_loop(nice)
        await asyncio.sleep(interval_s)
