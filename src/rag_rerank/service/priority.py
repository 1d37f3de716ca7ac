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

import logging
import os
import sys
import threading

__all__ = ["favour_event_loop"]

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
    logger.info("event loop first: %d engine and helper threads at nice %d", done, nice)
    return done
