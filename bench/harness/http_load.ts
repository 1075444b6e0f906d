/**
 * HTTP load with npm `autocannon` (HdrHistogram latencies): `count` or `seconds` of POSTs of the
 * given bodies (cycled) at a fixed number of connections. Run in its own process by the serve
 * benchmark (`deno run -A bench/harness/http_load.ts < options.json` prints the result as JSON), so
 * the load generator never shares the served process's event loop.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import process from "node:process";
import autocannon from "autocannon";
import { Schema } from "effect";

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

const Milliseconds = Schema.Number;

/**
 * What a load run measured (the child process prints it as JSON; the benchmark decodes it with
 * this Schema). Latencies are autocannon's, of 2xx answers only: a refusal's latency is not in
 * them.
 */
export const LoadResult = Schema.Struct({
  connections: Schema.Number,
  requests: Schema.Number,
  seconds: Schema.Number,
  /** Completed requests (any status) per second over the run. */
  requestsPerSecond: Schema.Number,
  /** Of 2xx answers. */
  latencyMs: Schema.Struct({
    p50: Milliseconds,
    p90: Milliseconds,
    p99: Milliseconds,
    max: Milliseconds,
    mean: Milliseconds,
  }),
  ok2xx: Schema.Number,
  non2xx: Schema.Number,
  /** Answers by HTTP status ("200", "503", …). */
  statusCodes: Schema.Record(Schema.String, Schema.Number),
  /** Requests with no answer: connection errors (refused, reset) and timeouts, both counted. */
  errors: Schema.Number,
  /** Requests unanswered after autocannon's 30 s timeout (also in `errors`). */
  timeouts: Schema.Number,
  /**
   * CPU time (user + system, all threads) the load generator's own process spent over the run,
   * in milliseconds: on a machine whose cores it shares with the service, its share of them.
   */
  loadGeneratorCpuMs: Schema.Number,
});

/** What a load run measured. */
export type LoadResult = typeof LoadResult.Type;

/** Run one load with autocannon. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const headers = { "content-type": options.contentType, ...options.headers };
  const cpuBefore = process.cpuUsage();
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
  const cpu = process.cpuUsage(cpuBefore);
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
    statusCodes: Object.fromEntries(
      Object.entries(result.statusCodeStats ?? {}).map((
        [code, stat],
      ) => [code, (stat as { count: number }).count]),
    ),
    errors: result.errors,
    timeouts: result.timeouts,
    loadGeneratorCpuMs: (cpu.user + cpu.system) / 1000,
  };
}

if (import.meta.main) {
  const options = JSON.parse(await new Response(Deno.stdin.readable).text()) as LoadOptions;
  console.log(JSON.stringify(await runLoad(options)));
}
