"""One blocking call for many concurrent requests: the group commit / coalesced read.

Why: when 50 clients hit the API at once, giving each request its own thread
and database transaction makes them queue on the process-wide write lock (and
on the thread pool that every other request needs too), so latency grows with
the number of clients. A Coalescer instead collects the items of every request
that arrives while a call is running and hands them to the next call as one
batch: one thread hop and one transaction (or one query) per batch, whatever
the number of clients.

Each item is answered only by a call that *started after* it was submitted, so
a batched read sees every change committed before its request arrived, and a
batched write is committed before its request is answered. Items submitted
are always processed, even if their request is cancelled meanwhile (the
client went away): an action that took effect must still be recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from fastapi.concurrency import run_in_threadpool

Item = TypeVar('Item')
Result = TypeVar('Result')

# What a batch call returns for each item: its result, or the exception to raise in its request.
Outcome = Result | BaseException


class Coalescer(Generic[Item, Result]):
    """Runs `call` in the thread pool on batches of the items submitted from the asyncio loop.

    `call` gets the items in submission order and returns one outcome per item
    (a result, or an exception for that item's request alone); an exception it
    raises is raised in every request of the batch.
    """

    def __init__(self, call: Callable[[list[Item]], Sequence[Outcome[Result]]]) -> None:
        self._call = call
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        """The outcome of `item` once a batch call holding it has returned."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    outcomes: Sequence[Outcome[Result]] = await run_in_threadpool(
                        self._call, [item for item, _future in batch])
                except Exception as error:  # delivered to every request of the batch
                    outcomes = [error] * len(batch)
                for (_item, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():
                        continue  # its request was cancelled; the item was processed anyway
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
        finally:
            self._drainer = None
