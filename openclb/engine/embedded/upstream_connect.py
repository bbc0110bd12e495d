"""Connecting to a target within a deadline, at the cost of one timer.

``asyncio.timeout`` would do, but on CPython 3.11 each ``get_running_loop()`` and
``current_task()`` it makes is a ``getpid()`` syscall, and a proxied connection made five of
them (measured with strace). Here the caller's loop and task are passed in, the deadline is one
``call_later`` handle, and expiry cancels the task and surfaces as ``TimeoutError``, as
``asyncio.timeout`` does.
"""

from __future__ import annotations

import asyncio


class _Deadline:
    __slots__ = ("task", "expired")

    def __init__(self, task: asyncio.Task) -> None:
        self.task = task
        self.expired = False

    def __call__(self) -> None:
        self.expired = True
        self.task.cancel()


async def connect_within(loop: asyncio.AbstractEventLoop, task: asyncio.Task, seconds: float,
                         factory, host: str, port: int, **kwargs) -> tuple[asyncio.Transport, asyncio.Protocol]:
    """``loop.create_connection`` from inside ``task``; TimeoutError once ``seconds`` pass."""
    deadline = _Deadline(task)
    handle = loop.call_later(seconds, deadline)
    try:
        return await loop.create_connection(factory, host, port, **kwargs)
    except asyncio.CancelledError:
        if deadline.expired:
            task.uncancel()
            raise TimeoutError(f"connect to {host}:{port} took over {seconds} s") from None
        raise
    finally:
        handle.cancel()
