import autocannon from 'autocannon';

/** The load generator, in its own process: one autocannon run, result sent to the parent. */
const options = JSON.parse(process.argv[2] ?? '{}') as autocannon.Options;
autocannon(options, (error, result) => {
  if (error) {
    process.send?.({ error: String(error) });
    return;
  }
  process.send?.({
    requests: result.requests.total,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.non2xx,
    duration: result.duration,
  });
});
