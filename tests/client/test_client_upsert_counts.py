"""batch_upsert reports what each call cost, even while other calls run at the same time."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from hubspot_courses_destination.hubspot import HubSpotClient, RetryPolicy, UpsertRow
from hubspot_courses_destination.sandbox import DEFAULT_TOKEN, Sandbox


def test_each_call_counts_its_own_requests_and_429s():
    with Sandbox(rate_limit_per_10s=1000) as sb:
        sb.create_property("k", has_unique_value=True)
        client = HubSpotClient(DEFAULT_TOKEN, sb.url, requests_per_10s=1000, max_concurrency=4)

        def call(prefix: str, n: int):
            rows = [UpsertRow(f"{prefix}{i}", {"hs_course_name": f"C{i}"}) for i in range(n)]
            return client.batch_upsert("0-410", "k", rows)

        with ThreadPoolExecutor(2) as pool:
            big, small = pool.submit(call, "a", 450), pool.submit(call, "b", 120)
            big, small = big.result(), small.result()
        assert (big.requests, small.requests) == (5, 2)
        assert big.responses_429 == small.responses_429 == 0
        assert client.stats.requests_sent >= 7
        assert len(big) == 450 and all(o.status == "created" for o in big)

        sb.faults.add("429", times=1, path_contains="/batch/upsert")
        retried = HubSpotClient(
            DEFAULT_TOKEN, sb.url, requests_per_10s=1000, retry_policy=RetryPolicy(rate_limit_wait_s=0.05),
        ).batch_upsert("0-410", "k", [UpsertRow("c1", {"hs_course_name": "x"})])
        assert (retried.requests, retried.responses_429, retried.retries) == (2, 1, 1)
        client.close()


def test_max_concurrency_holds_across_caller_threads():
    """Small batches run on the caller's thread; the cap must hold for them too (dlt runs
    up to 20 load jobs at once). Six one-chunk calls, 200 ms each, two at a time: three waves."""
    import time

    with Sandbox(rate_limit_per_10s=1000, latency_ms=200) as sb:
        sb.create_property("k", has_unique_value=True)
        client = HubSpotClient(DEFAULT_TOKEN, sb.url, requests_per_10s=1000, max_concurrency=2)
        started = time.monotonic()
        with ThreadPoolExecutor(6) as pool:
            list(pool.map(lambda i: client.batch_upsert("0-410", "k", [UpsertRow(f"t{i}", {"hs_course_name": "x"})]), range(6)))
        assert time.monotonic() - started >= 0.45  # 3 waves x >= 160 ms (latency jitter): can only be slower
        client.close()
