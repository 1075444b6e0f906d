/**
 * The scoring service as a scoped resource: opening it starts the micro-batcher, the HTTP server
 * (`Deno.serve` on a private Unix socket) and the public listener in front of it (`front.ts`:
 * header and idle timeouts); closing the scope drains gracefully:
 *
 * 1. the listener closes (new connections are refused), connections with no request in progress
 *    are closed, `/healthz` answers 503;
 * 2. every request already sent on an open connection is answered as usual (uploads finish,
 *    queued images are scored), with `Connection: close`, for at most `drainMs`;
 * 3. then every connection still open (a stalled client) is cut, the HTTP server and the batcher
 *    are closed.
 *
 * The detector belongs to the caller's scope and outlives the service, so the model is freed only
 * after the last answer. One blank image is scored before listening (a warm-up), so that an
 * engine's lazily built sessions exist before the service's finalizers and outlive the drain.
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
import { join } from "node:path";
import { Effect, type Scope } from "effect";
import { IoError, osReason } from "../../lib/io/mod.ts";
import { bearerCheck } from "./auth.ts";
import { type BatchOptions, DEFAULT_MICRO_BATCH, makeBatcher } from "./batcher.ts";
import type { ServedDetector } from "./detector.ts";
import { DEFAULT_TIMEOUTS, type ListenFailed, openFront, type Timeouts } from "./front.ts";
import { DEFAULT_LIMITS, type Limits } from "./limits.ts";
import { flushServiceLog, logLine } from "./log.ts";
import { ServiceMetrics } from "./metrics.ts";
import { loadPage } from "./page.ts";
import { hostCheck, makeHandler } from "./routes.ts";
import { within } from "./timer.ts";

/**
 * grood's version, in `grood_build_info` and the OpenAPI document (`deno.json` states the same;
 * `tests/serve_conventions_test.ts` checks that they agree).
 */
export const GROOD_VERSION = "0.1.0";

/** Default longest drain at shutdown: 10 s. */
export const DEFAULT_DRAIN_MS = 10_000;

/** Where and how to serve. */
export interface ServeOptions {
  /** Default `127.0.0.1`. */
  readonly hostname?: string;
  /** Default 8080; 0 picks a free port. */
  readonly port?: number;
  /** When set, `/v1/*`, `/metrics` and `/drift` need `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** Limits over `DEFAULT_LIMITS`. */
  readonly limits?: Partial<Limits>;
  /** Micro-batching and admission over `DEFAULT_MICRO_BATCH`. */
  readonly batch?: Partial<BatchOptions>;
  /** Connection timeouts over `DEFAULT_TIMEOUTS`. */
  readonly timeouts?: Partial<Timeouts>;
  /** Longest drain at shutdown before open connections are cut (default `DEFAULT_DRAIN_MS`). */
  readonly drainMs?: number;
  /** Sliding window of the OOD share (`grood_ood_share`, `/drift`), seconds (default 300). */
  readonly oodWindowSeconds?: number;
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
  /** The micro-batching and admission bounds in force (batch size, window, queue, deadline). */
  readonly batch: BatchOptions;
  /** Requests being handled now. */
  readonly inFlight: () => number;
}

/** Serve `detector` over HTTP for the life of the scope. */
export const serveDetector: <E>(
  detector: ServedDetector<E>,
  options?: ServeOptions,
) => Effect.Effect<RunningService, IoError | ListenFailed, Scope.Scope> = Effect.fn(
  "serveDetector",
)(function* <E>(
  detector: ServedDetector<E>,
  options: ServeOptions = {},
) {
  const limits: Limits = { ...DEFAULT_LIMITS, ...options.limits };
  const timeouts: Timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
  const drainMs = options.drainMs ?? DEFAULT_DRAIN_MS;
  const listenHost = options.hostname ?? "127.0.0.1";
  const metrics = new ServiceMetrics({
    ...(options.oodWindowSeconds === undefined
      ? {}
      : { oodWindowSeconds: options.oodWindowSeconds }),
    build: {
      version: GROOD_VERSION,
      deno: Deno.version.deno,
      model_kind: detector.info.modelKind ?? "unknown",
      detector: detector.info.kind,
    },
  });
  const log = yield* logLine;
  const page = yield* loadPage();
  // Warm-up: engines build their sessions on first use, into the detector's scope. Built now,
  // before the service's own finalizers, they are released after the drain, never during it
  // (a session first built while draining was released at once: "Session already disposed").
  // Its outcome does not matter (a detector may refuse a blank image).
  const { height, width, channels } = detector.input;
  yield* Effect.exit(detector.scoreImages(new Uint8Array(height * width * channels), 1));
  const batch: BatchOptions = { ...DEFAULT_MICRO_BATCH, ...options.batch };
  const batcher = yield* makeBatcher(
    detector,
    batch,
    (images, seconds) => metrics.batch(images, seconds),
  );
  // The HTTP server listens on a Unix socket in a private folder; only the front reaches it.
  const dir = yield* Effect.acquireRelease(
    Effect.tryPromise({
      try: () => Deno.makeTempDir({ prefix: "grood-serve-" }),
      catch: (cause) =>
        new IoError({ path: "(temporary folder)", operation: "create", reason: osReason(cause) }),
    }),
    (path) => Effect.promise(() => Deno.remove(path, { recursive: true }).catch(() => {})),
  );
  const socket = join(dir, "http.sock");
  let draining = false;
  let inFlight = 0;
  let drained: (() => void) | undefined;
  const handler = makeHandler({
    detector,
    batcher,
    metrics,
    limits,
    page,
    authorized: bearerCheck(options.token),
    draining: () => draining,
    hostAllowed: hostCheck(listenHost),
    bodyTimeoutMs: timeouts.bodyMs,
    inFlight: () => inFlight,
    log,
    version: GROOD_VERSION,
  });
  const server = yield* Effect.acquireRelease(
    Effect.try({
      try: () =>
        Deno.serve({ transport: "unix", path: socket, onListen: () => {} }, (request, info) => {
          inFlight += 1;
          const done = () => {
            inFlight -= 1;
            if (inFlight === 0) drained?.();
          };
          // Counted until the answer is delivered (or the client is gone).
          info.completed.then(done, done);
          return handler(request);
        }),
      catch: (cause) =>
        new IoError({ path: socket, operation: "listen on", reason: osReason(cause) }),
    }),
    (s) => Effect.promise(() => within(s.shutdown(), 1000)),
  );
  const front = yield* openFront(listenHost, options.port ?? 8080, socket, timeouts);
  // Runs first at release: stop accepting, answer what was accepted, then cut the rest.
  yield* Effect.addFinalizer(() =>
    Effect.promise(async () => {
      draining = true;
      front.stopAccepting();
      front.closeIdle();
      // Each connection closes once its request is answered (`Connection: close`).
      const started = performance.now();
      while (front.open() > 0 && performance.now() - started < drainMs) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      // What is still open now is stalled: cut it, then let the handlers it leaves end.
      front.closeAll();
      if (inFlight > 0) {
        await within(new Promise<void>((resolve) => (drained = resolve)), 1000);
      }
      await within(server.shutdown(), 1000);
      // Every access line of the drained requests is on stderr before the service is gone.
      flushServiceLog();
    })
  );
  const { hostname, port } = front.addr;
  const service: RunningService = {
    url: `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`,
    hostname,
    port,
    metrics,
    limits,
    batch,
    inFlight: () => inFlight,
  };
  return service;
});
