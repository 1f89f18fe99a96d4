"""QueryCountMiddleware over real requests: headers, warnings, metrics, N+1 per request."""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.test import override_settings
from prometheus_client import REGISTRY

from perf import metrics
from perf.conf import PerfSettings
from perf.nplusone import NPlusOneError
from perf.tests.urls import burn
from tests.factories import BookFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("perf.tests.urls")]


def _perf(**overrides):
    return override_settings(PERF={**settings.PERF, **overrides})


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_every_response_carries_the_query_count_and_time(client):
    response = client.get("/queries/3")
    assert response["X-Query-Count"] == "3"
    assert float(response["X-Query-Time-Ms"]) > 0
    assert client.get("/queries/0")["X-Query-Count"] == "0"


def test_the_header_is_off_when_disabled(client):
    with _perf(QUERY_HEADER=False):
        response = client.get("/queries/2")
    assert "X-Query-Count" not in response


# About 20-60 ms of CPU: large against a request's own overhead, small for the suite.
BURN = 400_000
CPU = "shelfwise_http_request_app_cpu_seconds"


def _reference_burn_ms() -> float:
    """The thread CPU time the views' work takes in this thread, now (least of three).

    A busy machine stretches the wall time of a fixed amount of work, not its CPU time,
    so the request's figure is compared with this one, never with a constant.
    """
    spent = []
    for _ in range(3):
        started = time.thread_time()
        burn(BURN)
        spent.append((time.thread_time() - started) * 1000)
    return min(spent)


def _timed_get(client, path: str):
    started = time.perf_counter()
    response = client.get(path)
    return response, (time.perf_counter() - started) * 1000


def test_the_app_cpu_header_shows_the_cpu_a_view_burns(client):
    reference = _reference_burn_ms()
    response, wall_ms = _timed_get(client, f"/burn/{BURN}")
    cpu_ms = float(response["X-App-CPU-Ms"])
    # This thread's CPU time within the request cannot exceed the wall time around it.
    assert reference / 2 <= cpu_ms <= wall_ms


def test_waiting_is_not_app_cpu(client):
    client.get("/sleep/0")  # the first request of the process imports the URLconf
    response, wall_ms = _timed_get(client, "/sleep/200")
    assert wall_ms >= 200
    assert 0 <= float(response["X-App-CPU-Ms"]) < wall_ms / 2


def test_the_app_cpu_header_is_off_with_the_query_headers_but_the_histogram_stays(client):
    before = _sample(f"{CPU}_count", route="/burn/{rounds}", method="GET")
    with _perf(QUERY_HEADER=False):
        response = client.get("/burn/10")
    assert "X-App-CPU-Ms" not in response
    assert _sample(f"{CPU}_count", route="/burn/{rounds}", method="GET") == before + 1


def test_the_app_cpu_histogram_counts_per_route(client):
    reference = _reference_burn_ms()
    burn_route = {"route": "/burn/{rounds}", "method": "GET"}
    sleep_route = {"route": "/sleep/{ms}", "method": "GET"}
    count, total = _sample(f"{CPU}_count", **burn_route), _sample(f"{CPU}_sum", **burn_route)
    sleeps = _sample(f"{CPU}_count", **sleep_route)
    client.get(f"/burn/{BURN}")
    client.get(f"/burn/{BURN}")
    assert _sample(f"{CPU}_count", **burn_route) == count + 2
    assert _sample(f"{CPU}_count", **sleep_route) == sleeps
    assert (_sample(f"{CPU}_sum", **burn_route) - total) * 1000 >= reference
    body = client.get("/metrics").content.decode()
    assert f'{CPU}_bucket{{le="0.0001",method="GET",route="/burn/{{rounds}}"}}' in body


def test_a_streamed_body_s_cpu_is_recorded_when_the_body_ends(client):
    reference = _reference_burn_ms()
    route = {"route": "/streamed-burn/{rounds}", "method": "GET"}
    count, total = _sample(f"{CPU}_count", **route), _sample(f"{CPU}_sum", **route)
    response = client.get(f"/streamed-burn/{BURN}")
    # The headers leave before the body runs: they show the CPU time before the body.
    header_ms = float(response["X-App-CPU-Ms"])
    assert _sample(f"{CPU}_count", **route) == count
    assert b"".join(response.streaming_content).startswith(b"start\n")
    assert _sample(f"{CPU}_count", **route) == count + 1
    recorded_ms = (_sample(f"{CPU}_sum", **route) - total) * 1000
    assert recorded_ms >= reference / 2
    assert header_ms < recorded_ms


def test_a_request_past_the_warning_threshold_logs_its_top_statements(client, caplog):
    with _perf(WARN_QUERIES=3):
        client.get("/queries/4")
    [record] = [r for r in caplog.records if r.name == "perf.queries"]
    event = record.msg
    assert event["event"] == "high_query_count"
    assert (event["route"], event["method"], event["count"]) == ("/queries/{n}", "GET", 4)
    assert event["top_statements"] == [{"count": 4, "shape": "SELECT ?"}]
    assert event["per_alias"]["default"]["count"] == 4
    assert event["per_alias"]["default"]["time_ms"] >= 0


def test_past_the_alert_threshold_a_counter_labelled_by_route_pattern_grows(client):
    name = "shelfwise_high_query_count_total"
    before = _sample(name, route="/queries/{n}", method="GET")
    with _perf(WARN_QUERIES=2, ALERT_QUERIES=2):
        client.get("/queries/3")
        client.get("/queries/1")  # not past the threshold
    assert _sample(name, route="/queries/{n}", method="GET") == before + 1


def test_each_query_level_counts_the_highest_level_passed_and_logs_it(client, caplog):
    name = "shelfwise_query_count_level_total"
    route = {"route": "/queries/{n}", "method": "GET"}
    before = {level: _sample(name, **route, level=level) for level in ("warn", "alert", "page")}
    with _perf(WARN_QUERIES=2, ALERT_QUERIES=4, PAGE_QUERIES=6, NPLUSONE_MODE="off"):
        for n in (2, 3, 5, 7, 7):  # none, warn, alert, page, page
            client.get(f"/queries/{n}")
    after = {level: _sample(name, **route, level=level) for level in before}
    assert {level: after[level] - before[level] for level in before} == {
        "warn": 1,
        "alert": 1,
        "page": 2,
    }
    events = [(r.levelname, r.msg["query_level"], r.msg["count"]) for r in caplog.records
              if r.name == "perf.queries"]  # fmt: skip
    assert events == [
        ("WARNING", "warn", 3),
        ("ERROR", "alert", 5),
        ("ERROR", "page", 7),
        ("ERROR", "page", 7),
    ]


def test_query_levels_must_rise():
    from perf.conf import perf_settings

    with _perf(WARN_QUERIES=30, ALERT_QUERIES=20), pytest.raises(ValueError, match="must rise"):
        perf_settings()


def test_responses_are_counted_by_status_class(client):
    name = "shelfwise_http_responses_total"
    route = {"route": "/queries/{n}", "method": "GET"}
    before = _sample(name, **route, status="2xx")
    client.get("/queries/1")
    assert _sample(name, **route, status="2xx") == before + 1


def test_latency_and_query_histograms_are_per_route_and_tier(client):
    before = _sample("shelfwise_http_request_queries_count", route="/queries/{n}", method="GET")
    client.get("/queries/1")
    after = _sample("shelfwise_http_request_queries_count", route="/queries/{n}", method="GET")
    assert after == before + 1
    assert (
        _sample(
            "shelfwise_http_request_duration_seconds_count",
            route="/queries/{n}",
            method="GET",
            tier="none",
        )
        >= 1
    )
    body = client.get("/metrics").content.decode()
    assert (
        'shelfwise_http_request_queries_bucket{le="1.0",method="GET",route="/queries/{n}"}' in body
    )


def test_metrics_need_the_token_when_one_is_set_and_are_hidden_in_prod_without(client):
    with _perf(METRICS_TOKEN="s3cret"):
        assert client.get("/metrics").status_code == 401
        ok = client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
    with _perf(METRICS_PUBLIC=False):
        assert client.get("/metrics").status_code == 404


@pytest.mark.allow_repeats("the request's N+1 is the subject of the test")
def test_an_n_plus_one_in_a_request_raises_in_raise_mode(client, tenant):
    for _ in range(5):
        BookFactory(tenant=tenant)
    with pytest.raises(NPlusOneError, match="GET /lazy"):
        client.get("/lazy")


@pytest.mark.allow_repeats("the request's N+1 is the subject of the test")
def test_log_mode_answers_logs_and_counts(client, tenant, caplog):
    for _ in range(5):
        BookFactory(tenant=tenant)
    before = _sample("shelfwise_n_plus_one_total", route="/lazy", method="GET")
    with _perf(NPLUSONE_MODE="log"):
        response = client.get("/lazy")
    assert response.status_code == 200
    [record] = [r for r in caplog.records if r.name == "perf.nplusone"]
    assert record.msg["relation"] == "catalog.Book.author"
    assert record.msg["call_site"].startswith("perf/tests/urls.py:")
    assert _sample("shelfwise_n_plus_one_total", route="/lazy", method="GET") == before + 1


def test_a_streaming_body_s_queries_are_recorded_and_judged(client):
    before = _sample("shelfwise_http_request_queries_sum", route="/streamed/{n}", method="GET")
    response = client.get("/streamed/3")
    assert response["X-Query-Count"] == "0"  # the headers leave before the body runs
    assert b"".join(response.streaming_content).count(b"\n") == 3
    after = _sample("shelfwise_http_request_queries_sum", route="/streamed/{n}", method="GET")
    assert after == before + 3


@pytest.mark.allow_repeats("the streamed N+1 is the subject of the test")
def test_an_n_plus_one_in_a_streaming_body_raises_when_it_is_sent(client):
    response = client.get("/streamed/6")
    with pytest.raises(NPlusOneError, match=r"GET /streamed/\{n\}"):
        b"".join(response.streaming_content)


def test_invented_methods_share_one_metric_label(client):
    client.generic("BREW", "/queries/1")
    assert (
        _sample("shelfwise_http_request_queries_count", route="/queries/{n}", method="other") >= 1
    )
    assert _sample("shelfwise_http_request_queries_count", route="/queries/{n}", method="BREW") == 0


@pytest.mark.allow_repeats("the view's N+1 precedes its failure; only the 500 matters")
def test_a_failed_request_is_not_judged_for_n_plus_ones(tenant):
    from django.test import Client

    for _ in range(5):
        BookFactory(tenant=tenant)
    response = Client(raise_request_exception=False).get("/broken")
    assert response.status_code == 500


@pytest.mark.urls("shelfwise.urls")
def test_tier_lookups_for_many_tenants_are_no_n_plus_one():
    from catalog import tiers
    from tenants.tests.api_client import client_for
    from tests.factories import TenantFactory, UserFactory

    clients = [client_for(UserFactory(tenant=TenantFactory())) for _ in range(6)]
    tiers._cache.clear()
    for api in clients:
        assert api.get("/api/v2/authors").status_code == 200


def test_metric_names_take_the_configured_prefix():
    # perf names nothing of the project: ShelfWise's settings choose the prefix.
    assert settings.PERF["METRICS_PREFIX"] == "shelfwise"
    assert metrics.REQUEST_APP_CPU._name == "shelfwise_http_request_app_cpu_seconds"
    assert PerfSettings().METRICS_PREFIX == "django"  # perf's own default
