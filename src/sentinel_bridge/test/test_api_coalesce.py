"""Coalesced account checks and group-committed action records (operator_api/coalesce.py)."""

from __future__ import annotations

import asyncio
import threading

import httpx

from sentinel_bridge.auth import Role
from sentinel_bridge.operator_api.coalesce import Coalescer
from sentinel_bridge.persistence import store


def test_concurrent_items_share_a_call_started_after_they_arrived():
    calls: list[list[int]] = []
    first_call_running = threading.Event()
    release = threading.Event()

    def call(items: list[int]) -> list[int | BaseException]:
        calls.append(items)
        first_call_running.set()
        release.wait(5.0)
        return [ValueError(item) if item < 0 else item * 10 for item in items]

    async def scenario() -> list[object]:
        coalescer: Coalescer[int, int] = Coalescer(call)
        first = asyncio.create_task(coalescer.submit(1))
        while not first_call_running.is_set():
            await asyncio.sleep(0.01)
        later = [asyncio.create_task(coalescer.submit(n)) for n in (2, -3, 4)]
        await asyncio.sleep(0.05)
        release.set()
        return await asyncio.gather(first, *later, return_exceptions=True)

    results = asyncio.run(scenario())
    assert calls == [[1], [2, -3, 4]], 'items that arrived during a call wait for the next one'
    assert results[0] == 10 and results[1] == 20 and results[3] == 40
    assert isinstance(results[2], ValueError), 'an item failure stays with its own request'


def test_a_failing_call_fails_every_request_of_its_batch():
    def call(items: list[int]) -> list[int]:
        raise RuntimeError('database on fire')

    async def scenario() -> list[object]:
        coalescer: Coalescer[int, int] = Coalescer(call)
        return await asyncio.gather(*(coalescer.submit(n) for n in range(3)),
                                    return_exceptions=True)

    assert all(isinstance(r, RuntimeError) for r in asyncio.run(scenario()))


def test_concurrent_estops_are_all_stored_before_their_answers_and_chained(api):
    operator = api.headers(Role.OPERATOR)

    async def engage_many() -> list[int]:
        transport = httpx.ASGITransport(app=api.client.app)
        async with httpx.AsyncClient(transport=transport, base_url='http://api') as client:
            answers = await asyncio.gather(*(
                client.post('/estop', headers=operator, json={'reason': f'drill {n}'})
                for n in range(20)))
        return [a.status_code for a in answers]

    assert asyncio.run(engage_many()) == [200] * 20
    with api.database.read() as session:
        assert len(store.list_estop_events(session)) == 20
        actions = [e.action for e in store.iter_audit(session)]
        assert actions.count('engage_estop') == 20
        assert store.verify_audit(session).ok


def test_a_record_the_database_rejects_fails_only_its_own_action(api):
    good = [api.context.audit_record('alice', 'engage_estop', 'fleet', 'engaged')]
    bad = [object()]   # not a record the store knows

    outcomes = api.context._store_actions([good, bad])   # noqa: SLF001 (the batch step itself)
    assert outcomes[0] is None and isinstance(outcomes[1], TypeError)
    with api.database.read() as session:
        assert [e.action for e in store.iter_audit(session)] == ['engage_estop']
