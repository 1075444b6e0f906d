/**
 * HTTP load with npm `autocannon` (HdrHistogram latencies): `count` or `seconds` of POSTs of the
 * given bodies (cycled) at a fixed number of connections. Run in its own process by the serve
 * benchmark (`deno run -A bench/harness/http_load.ts < options.json` prints the result as JSON), so
 * the load generator never shares the served process's event loop.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import autocannon from "autocannon";

/** One load run. */
export interface LoadOptions {
  readonly url: string;
  readonly connections: number;
  /** Run for this long… */
  readonly seconds?: number;
  /** …or send exactly this many requests. */
  readonly amount?: number;
  readonly contentType: string;
  /** Request bodies, base64, sent in turn. */
  readonly bodies: ReadonlyArray<string>;
  readonly headers?: Readonly<Record<string, string>>;
}

/** What a load run measured. */
export interface LoadResult {
  readonly connections: number;
  readonly requests: number;
  readonly seconds: number;
  /** Completed requests per second over the run. */
  readonly requestsPerSecond: number;
  readonly latencyMs: {
    readonly p50: number;
    readonly p90: number;
    readonly p99: number;
    readonly max: number;
    readonly mean: number;
  };
  readonly ok2xx: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
}

/** Run one load with autocannon. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const headers = { "content-type": options.contentType, ...options.headers };
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    pipelining: 1,
    ...(options.amount === undefined ? { duration: options.seconds ?? 10 } : {
      amount: options.amount,
    }),
    timeout: 30,
    requests: options.bodies.map((body) => ({
      method: "POST",
      headers,
      body: Buffer.from(body, "base64"),
    })),
  });
  const seconds = result.duration;
  const requests = result["2xx"] + result.non2xx;
  return {
    connections: options.connections,
    requests,
    seconds,
    requestsPerSecond: requests / seconds,
    latencyMs: {
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      max: result.latency.max,
      mean: result.latency.mean,
    },
    ok2xx: result["2xx"],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  };
}

if (import.meta.main) {
  const options = JSON.parse(await new Response(Deno.stdin.readable).text()) as LoadOptions;
  console.log(JSON.stringify(await runLoad(options)));
}
