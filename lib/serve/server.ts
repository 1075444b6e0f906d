/**
 * The scoring service on `Deno.serve`, as a scoped resource: opening it starts the micro-batcher
 * and the listener; closing the scope shuts down gracefully (new requests refused with 503 and no
 * new connections accepted, requests in flight answered, queued images scored), then releases
 * the batcher. The detector itself belongs to the caller's scope and outlives the service.
 *
 * @example Serve a detector until the process is stopped
 * ```ts ignore
 * import { Effect } from "effect";
 * import { serveDetector } from "./server.ts";
 * await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
 *   const service = yield* serveDetector(detector, { port: 8080 });
 *   console.log(`scoring at ${service.url}`);
 *   yield* Effect.never;
 * })));
 * ```
 *
 * @module
 */
import { Effect, type Scope } from "effect";
import type { IoError } from "../io/files.ts";
import { bearerCheck } from "./auth.ts";
import { type BatchOptions, DEFAULT_MICRO_BATCH, makeBatcher } from "./batcher.ts";
import type { ServedDetector } from "./detector.ts";
import { DEFAULT_LIMITS, type Limits } from "./limits.ts";
import { ServiceMetrics } from "./metrics.ts";
import { loadPage } from "./page.ts";
import { makeHandler } from "./routes.ts";

/** Where and how to serve. */
export interface ServeOptions {
  /** Default `127.0.0.1`. */
  readonly hostname?: string;
  /** Default 8080; 0 picks a free port. */
  readonly port?: number;
  /** When set, `/v1/*` and `/metrics` need `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** Limits over `DEFAULT_LIMITS`. */
  readonly limits?: Partial<Limits>;
  /** Micro-batching over `DEFAULT_MICRO_BATCH`. */
  readonly batch?: Partial<BatchOptions>;
}

/** A running service. */
export interface RunningService {
  /** Base URL (`http://127.0.0.1:8080`). */
  readonly url: string;
  /** The host name it listens on. */
  readonly hostname: string;
  /** The port it listens on (the one picked when 0 was asked). */
  readonly port: number;
  /** Counters and histograms exported at `/metrics`. */
  readonly metrics: ServiceMetrics;
  /** The limits in force. */
  readonly limits: Limits;
}

/** Serve `detector` over HTTP for the life of the scope. */
export const serveDetector: <E>(
  detector: ServedDetector<E>,
  options?: ServeOptions,
) => Effect.Effect<RunningService, IoError, Scope.Scope> = Effect.fn("serveDetector")(function* <E>(
  detector: ServedDetector<E>,
  options: ServeOptions = {},
) {
  const limits: Limits = { ...DEFAULT_LIMITS, ...options.limits };
  const metrics = new ServiceMetrics();
  const page = yield* loadPage();
  const batcher = yield* makeBatcher(
    detector,
    { ...DEFAULT_MICRO_BATCH, ...options.batch },
    (images) => metrics.batch(images),
  );
  let draining = false;
  const handler = makeHandler({
    detector,
    batcher,
    metrics,
    limits,
    page,
    authorized: bearerCheck(options.token),
    draining: () => draining,
  });
  const server = yield* Effect.acquireRelease(
    Effect.sync(() =>
      Deno.serve({
        hostname: options.hostname ?? "127.0.0.1",
        port: options.port ?? 8080,
        onListen: () => {},
      }, handler)
    ),
    (s) =>
      Effect.promise(() => {
        draining = true;
        return s.shutdown();
      }),
  );
  const { hostname, port } = server.addr;
  const service: RunningService = {
    url: `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`,
    hostname,
    port,
    metrics,
    limits,
  };
  return service;
});
