"""REDIS_URL: the API throttle's counters are shared by every process, so a limit holds
across app nodes. Two real gunicorn processes (one worker each) on 127.0.0.1 share one
Redis; without it, each process counts on its own."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from perf.process import ServerProcess, free_port
from shelfwise.db.urls import current_database_url
from shelfwise.seeding import tenants_delete
from shelfwise.serving import gunicorn_command, health_url
from tenants.models import Role, Tenant
from tenants.services import api_token_issue, user_get_or_create
from tests.harness.servers import REDIS_HOST, REDIS_PORT, redis_up

pytestmark = pytest.mark.slow

LIMIT = 10  # requests per minute, per user
PER_NODE = 8  # sent to each of the two nodes: 16 in all, past the limit, under 2 x it


@pytest.fixture(scope="module")
def token(django_db_setup, django_db_blocker) -> Iterator[str]:
    """A committed tenant and member token: the servers read them from other processes."""
    slug = f"shared-state-{uuid.uuid4().hex[:8]}"
    with django_db_blocker.unblock():
        try:
            tenant = Tenant.objects.create(slug=slug, name="Shared State")
            user = user_get_or_create(tenant=tenant, username="member", role=Role.MEMBER)
            _, raw = api_token_issue(user=user, name="shared-state")
        except BaseException:
            tenants_delete(slugs=[slug])
            raise
    yield raw
    with django_db_blocker.unblock():
        tenants_delete(slugs=[slug])


def _nodes(stack: ExitStack, tmp_path: Path, env: dict[str, str]) -> list[int]:
    ports = []
    for n in range(2):
        port = free_port()
        argv, environment = gunicorn_command(
            bind=f"127.0.0.1:{port}",
            workers=1,
            database_url=current_database_url(),
            env={"API_THROTTLE_RATE": f"{LIMIT}/min", "DJANGO_DEBUG": "0", **env},
            env_unset=[] if "REDIS_URL" in env else ["REDIS_URL"],
        )
        stack.enter_context(
            ServerProcess(
                argv, env=environment, health_url=health_url(port), log_path=tmp_path / f"{n}.log"
            )
        )
        ports.append(port)
    return ports


def _statuses(ports: list[int], token: str) -> list[int]:
    statuses = []
    for _ in range(PER_NODE):
        for port in ports:  # alternate: the nodes share the budget as it is spent
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/v2/authors?limit=1",
                headers={"Authorization": f"Bearer {token}"},
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    statuses.append(response.status)
            except urllib.error.HTTPError as exc:
                statuses.append(exc.code)
    return statuses


@pytest.mark.skipif(not redis_up(), reason=f"no Redis on {REDIS_HOST}:{REDIS_PORT}")
def test_a_throttle_limit_holds_across_two_app_processes_with_redis(token, tmp_path, db):
    prefix = f"test-{uuid.uuid4().hex}"  # this run's keys only, whatever else Redis holds
    env = {"REDIS_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/0", "CACHE_KEY_PREFIX": prefix}
    with ExitStack() as stack:
        statuses = _statuses(_nodes(stack, tmp_path, env), token)
    assert statuses.count(200) == LIMIT, statuses
    assert statuses.count(429) == 2 * PER_NODE - LIMIT, statuses


def test_without_redis_each_process_counts_on_its_own(token, tmp_path, db):
    """What REDIS_URL fixes: in memory, each node grants the whole limit."""
    with ExitStack() as stack:
        statuses = _statuses(_nodes(stack, tmp_path, {}), token)
    assert statuses == [200] * (2 * PER_NODE), statuses


@pytest.mark.skipif(not redis_up(), reason=f"no Redis on {REDIS_HOST}:{REDIS_PORT}")
def test_a_dead_redis_lets_requests_through_instead_of_failing_them(token, tmp_path, db):
    dead = free_port()  # nothing listens there
    env = {"REDIS_URL": f"redis://127.0.0.1:{dead}/0", "CACHE_KEY_PREFIX": "dead"}
    with ExitStack() as stack:
        statuses = _statuses(_nodes(stack, tmp_path, env)[:1], token)
    assert statuses == [200] * PER_NODE, statuses
