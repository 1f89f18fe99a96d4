"""The recording follows the ContextVar into other threads' connections (async ORM)."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group
from django.db import connections

from perf.nplusone import NPlusOneError, detect_n_plus_one
from perf.recording import record_queries

pytestmark = pytest.mark.django_db(transaction=True)


def test_async_orm_calls_are_recorded():
    async def lookups() -> None:
        for i in range(4):
            await Group.objects.filter(name=f"g{i}").afirst()
        await sync_to_async(connections.close_all)()  # the ORM thread's own connection

    with record_queries() as recording:
        asyncio.run(lookups())
    assert recording.count == 4


@pytest.mark.allow_repeats("the async N+1 is the subject of the test")
def test_an_async_n_plus_one_is_detected():
    async def lookups() -> None:
        for i in range(6):
            await Group.objects.filter(name=f"g{i}").aexists()
        await sync_to_async(connections.close_all)()

    with pytest.raises(NPlusOneError), detect_n_plus_one():
        asyncio.run(lookups())
