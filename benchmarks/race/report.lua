-- wrk script for benchmarks.race.engine: at the end of a run, print one line
-- "PERF_BENCH_JSON {...}" with the counts and the latency percentiles (microseconds)
-- of wrk's own latency distribution.
done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'PERF_BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
      '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "mean": %.1f, "max": %d}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.mean, latency.max))
end
