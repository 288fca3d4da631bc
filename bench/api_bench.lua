-- wrk script for bench/api_bench.sh: a signed-mode GET (the three headers the metadata agent
-- adds, taken from the environment) and one machine-readable RESULT line at the end.
-- The same script drives nginx, which ignores the headers, so both see identical requests.
wrk.method = "GET"
wrk.headers["X-Instance-ID"] = os.getenv("BENCH_INSTANCE_ID")
wrk.headers["X-Tenant-ID"] = os.getenv("BENCH_TENANT_ID")
wrk.headers["X-Instance-ID-Signature"] = os.getenv("BENCH_SIGNATURE")

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d seconds=%.2f rps=%.0f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f "
      .. "p999_ms=%.3f max_ms=%.3f bytes=%d non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency:percentile(99.9) / 1000, latency.max / 1000,
    summary.bytes, e.status, e.connect, e.read, e.write, e.timeout))
end
