/**
 * The service's routes, as one `Request → Response` function:
 *
 * the routes of `route_table.ts` (scoring, metadata, health, liveness, readiness, metrics, drift,
 * the OpenAPI document and the page). `HEAD` is answered wherever `GET` is, `OPTIONS` with
 * `Allow`, and a 405 always carries `Allow`. Every answer echoes the request's id
 * (`X-Request-Id`, `conventions.ts`), and every request is one access-log line.
 *
 * Every refusal is a 4xx (or 503, with `Retry-After`) JSON `{code, message}`; a failure of the
 * detector itself is a 500 `{code: "scoring_failed", message}`; no error body names a server path
 * (`redactPaths`). On a loopback bind a request whose `Host` is not a loopback name is refused
 * (421, against DNS rebinding). An image whose score is not finite gets the verdict `invalid`
 * (`score: null`, `isOod: null`), never an in-distribution answer. A client that went away is
 * counted as `client_disconnected`. Each answer is counted in the metrics.
 *
 * @module
 */
import { Cause, Data, Effect, Exit } from "effect";
import type { Arrival, Batcher } from "./batcher.ts";
import { accessFields, headAnswer, type RequestFacts, requestId } from "./conventions.ts";
import { decodeBody } from "./decode.ts";
import { readBody } from "./read_body.ts";
import type { ServedDetector } from "./detector.ts";
import {
  type Limits,
  redactPaths,
  Refusal,
  refusalResponse,
  RETRY_AFTER_SECONDS,
} from "./limits.ts";
import type { LogLine } from "./log.ts";
import type { ServiceMetrics } from "./metrics.ts";
import type { StaticFile } from "./page.ts";
import {
  allowedMethods,
  findRoute,
  type ImageResultSchema,
  openApiDocument,
  ROUTES,
  type ScoreAnswerSchema,
} from "./route_table.ts";

/** What the routes work with. */
export interface RouteContext<E> {
  /** The detector served. */
  readonly detector: ServedDetector<E>;
  /** Groups concurrent requests' images into batches. */
  readonly batcher: Batcher<E>;
  /** Counters and histograms exported at `/metrics`. */
  readonly metrics: ServiceMetrics;
  /** The limits every request is checked against. */
  readonly limits: Limits;
  /** The scoring page's files by URL path. */
  readonly page: ReadonlyMap<string, StaticFile>;
  /** True when the `Authorization` header is acceptable (always, without a token). */
  readonly authorized: (header: string | null) => boolean;
  /** True once shutdown has begun: `/healthz` answers 503, connections close after answers. */
  readonly draining: () => boolean;
  /** True when a request's `Host` header may be answered (always, off a loopback bind). */
  readonly hostAllowed?: (host: string | null) => boolean;
  /** The body timeout in milliseconds (0: none). */
  readonly bodyTimeoutMs?: number;
  /** Requests being handled now (this one included). */
  readonly inFlight?: () => number;
  /** Where the access log and failures go (default: nowhere). */
  readonly log?: LogLine;
  /** The version the OpenAPI document states. */
  readonly version?: string;
}

/** Loopback host names: `localhost` (and `*.localhost`), `127.0.0.0/8`, `::1`. */
const LOOPBACK = /^(localhost|[\w.-]+\.localhost|127(\.\d{1,3}){3}|\[::1\]|::1)$/i;

/** True when `hostname` (a listen address) is a loopback one. */
export const isLoopback = (hostname: string): boolean => LOOPBACK.test(hostname);

/**
 * The `Host` check of a service bound to `hostname`: on a loopback bind only loopback names (any
 * port) are answered, so a web page on another site cannot reach the service through a DNS name
 * rebound to 127.0.0.1; on any other bind every `Host` is.
 *
 * @example
 * ```ts
 * import { hostCheck } from "./routes.ts";
 * const allowed = hostCheck("127.0.0.1");
 * if (!allowed("localhost:8080") || !allowed("127.0.0.1") || !allowed("[::1]:80")) throw new Error();
 * if (allowed("evil.example:8080") || allowed(null)) throw new Error("rebinding allowed");
 * if (!hostCheck("0.0.0.0")("evil.example")) throw new Error("a public bind answers any host");
 * ```
 */
export function hostCheck(hostname: string): (host: string | null) => boolean {
  if (!isLoopback(hostname)) return () => true;
  return (host) => {
    if (host === null) return false;
    const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.split(":")[0]!;
    return LOOPBACK.test(name);
  };
}

/** One image's answer (`ImageResultSchema`). */
export type ImageResult = typeof ImageResultSchema.Type;

/** The answer of `POST /v1/score` (`ScoreAnswerSchema`). */
export type ScoreAnswer = typeof ScoreAnswerSchema.Type;

const refusal = (code: Refusal["code"], problem: string) => new Refusal({ code, problem });

/** Build the service's request handler. */
export function makeHandler<E>(
  context: RouteContext<E>,
): (request: Request) => Promise<Response> {
  const { detector, batcher, metrics, limits, page } = context;
  const info = detector.info;
  const log = context.log ?? (() => {});
  const openApi = JSON.stringify(openApiDocument(context.version ?? "unknown"));
  /** Each route's methods, worked out once rather than on every request. */
  const allowByPath = new Map(ROUTES.map((r) => [r.path, allowedMethods(r.path)]));
  const allowed = (path: string): ReadonlyArray<string> => allowByPath.get(path) ?? [];

  const score = (request: Request, arrivals: Array<Arrival<E>>, facts: RequestFacts) =>
    Effect.gen(function* () {
      const body = yield* readBody(request, limits.maxBodyBytes, context.bodyTimeoutMs ?? 0);
      // Announced once the body is in: a stalled upload holds back nobody's batch, and its
      // deadline counts from here.
      const arrival = batcher.arrive();
      arrivals.push(arrival);
      const images = yield* decodeBody(
        request.headers.get("content-type"),
        body,
        detector.input,
        limits,
        (count) => {
          facts.images = count;
          return arrival.admit(count);
        },
      );
      facts.images = images.count;
      const scored = yield* arrival.submit(images.pixels, images.count, request.signal);
      facts.queueMs = scored.queueMs;
      facts.computeMs = scored.computeMs;
      if (scored.queueMs !== undefined) metrics.waited(scored.queueMs / 1000);
      const results: Array<ImageResult> = Array.from({ length: images.count }, (_, i) => {
        const predicted = scored.predicted[i]!;
        const className = info.classNames?.[predicted];
        const value = scored.scores[i]!;
        const problem = scored.invalid[i] ??
          (Number.isFinite(value) ? undefined : `its score is ${value}`);
        if (problem !== undefined) {
          return {
            verdict: "invalid",
            score: null,
            isOod: null,
            problem: redactPaths(problem),
            threshold: info.threshold,
            predicted,
            detectorVersion: info.version,
          };
        }
        const isOod = value > info.threshold;
        return {
          verdict: isOod ? "ood" : "in",
          score: value,
          isOod,
          threshold: info.threshold,
          predicted,
          ...(className === undefined ? {} : { className }),
          detectorVersion: info.version,
        };
      });
      metrics.verdict(results.map((r) => r.verdict));
      const answer: ScoreAnswer = {
        detector: { version: info.version, kind: info.kind },
        threshold: info.threshold,
        results,
      };
      return Response.json(answer);
    });

  const describe = () => Response.json({ ...info, input: detector.input, limits });

  const drift = () => {
    const window = metrics.verdicts.oodShare();
    return Response.json({
      start: new Date(metrics.verdicts.start).toISOString(),
      windowSeconds: metrics.verdicts.windowSeconds,
      oodShare: window.share,
      windowVerdicts: window.verdicts,
      bucketSeconds: 60,
      buckets: metrics.verdicts.buckets().map((b) => ({
        time: new Date(b.start).toISOString(),
        in: b.in,
        ood: b.ood,
        invalid: b.invalid,
      })),
    });
  };

  const prometheus = () =>
    new Response(
      metrics.render({
        grood_engine_tensors: {
          help: "Tensors alive in the engine.",
          value: detector.tensors?.() ?? 0,
        },
        grood_resident_memory_bytes: {
          help: "Resident set size of the process (also process_resident_memory_bytes).",
          value: Deno.memoryUsage().rss,
        },
        grood_queued_images: {
          help: "Images waiting for a micro-batch.",
          value: batcher.queued(),
        },
        grood_requests_in_flight: {
          help: "Requests being handled (this one included).",
          value: context.inFlight?.() ?? 0,
        },
      }),
      { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } },
    );

  const health = () => Response.json({ status: "ok", version: info.version });

  const route = (
    request: Request,
    path: string,
    facts: RequestFacts,
  ): Promise<Response> | Response => {
    if (context.hostAllowed !== undefined && !context.hostAllowed(request.headers.get("host"))) {
      throw refusal(
        "misdirected_host",
        `Host ${JSON.stringify(request.headers.get("host"))} is not a loopback name; this ` +
          "service listens on a loopback address and answers only localhost, 127.0.0.1 or [::1]",
      );
    }
    const allow = allowed(path);
    if (allow.length === 0) throw refusal("not_found", `no route ${request.method} ${path}`);
    if (request.method === "OPTIONS") {
      return new Response(null, { status: 204, headers: { allow: allow.join(", ") } });
    }
    const spec = findRoute(path, request.method);
    if (spec === undefined) {
      throw refusal(
        "method_not_allowed",
        `${path} takes ${allow.join(", ")}, not ${request.method}`,
      );
    }
    // No route takes query parameters: one given (`?threshold=…`) would be ignored silently.
    const query = request.url.indexOf("?");
    if (query !== -1 && query < request.url.length - 1) {
      const names = [...new URLSearchParams(request.url.slice(query + 1)).keys()];
      throw refusal(
        "unknown_parameter",
        `${path} takes no query parameters; got ${names.map((n) => JSON.stringify(n)).join(", ")}`,
      );
    }
    if (spec.token && !context.authorized(request.headers.get("authorization"))) {
      throw refusal("unauthorized", `${path} needs an "Authorization: Bearer <token>" header`);
    }
    const file = page.get(path);
    if (file !== undefined) {
      return new Response(file.body, {
        headers: { "content-type": file.contentType, "cache-control": "no-cache" },
      });
    }
    switch (path) {
      case "/healthz":
      case "/readyz":
        // Ready: the model is loaded (it is, before the service listens) and not draining.
        if (context.draining()) throw refusal("shutting_down", "the service is shutting down");
        return health();
      case "/livez":
        return health();
      case "/openapi.json":
        return new Response(openApi, {
          headers: { "content-type": "application/json; charset=utf-8" },
        });
      case "/v1/detector":
        return describe();
      case "/metrics":
        return prometheus();
      case "/drift":
        return drift();
      default: {
        if (batcher.full()) {
          throw refusal(
            "overloaded",
            `the queue is full (${batcher.queued()} images waiting); retry later`,
          );
        }
        const arrivals: Array<Arrival<E>> = [];
        return Effect.runPromiseExit(
          score(request, arrivals, facts).pipe(
            Effect.ensuring(Effect.sync(() => arrivals.forEach((a) => a.leave()))),
          ),
        ).then((exit) => {
          if (Exit.isSuccess(exit)) return exit.value;
          const error = exit.cause.reasons.find(Cause.isFailReason)?.error;
          if (error instanceof Refusal) throw error;
          throw new ScoringFailed({
            problem: error instanceof Error ? error.message : Cause.pretty(exit.cause),
          });
        });
      }
    }
  };

  return async (request) => {
    const started = performance.now();
    const path = new URL(request.url).pathname;
    const id = requestId(request.headers.get("x-request-id"));
    const facts: RequestFacts = {};
    let response: Response;
    try {
      response = await route(request, path, facts);
    } catch (caught) {
      // A client that went away is a disconnect, whatever its cut-off body looked like.
      const error = request.signal.aborted && !(caught instanceof Refusal &&
          caught.code === "client_disconnected")
        ? refusal("client_disconnected", "the client went away before its answer")
        : caught;
      if (error instanceof Refusal) {
        facts.code = error.code;
        metrics.error(error.code);
        const headers = refusalHeaders(error);
        if (error.code === "method_not_allowed") headers.allow = allowed(path).join(", ");
        response = refusalResponse(error, headers);
      } else {
        const message = error instanceof Error ? error.message : String(error);
        facts.code = "scoring_failed";
        log("Error", `scoring failed: ${message}`, { requestId: id.id });
        metrics.error("scoring_failed");
        response = Response.json({ code: "scoring_failed", message: redactPaths(message) }, {
          status: 500,
        });
      }
    }
    if (request.method === "HEAD") response = headAnswer(response);
    response.headers.set("x-request-id", id.id);
    // While draining, each connection ends with its answer.
    if (context.draining()) response.headers.set("connection", "close");
    const routeLabel = allowed(path).length > 0 ? path : "other";
    const totalMs = performance.now() - started;
    metrics.request(routeLabel, response.status, totalMs / 1000);
    log(
      "Info",
      "request",
      accessFields(
        { method: request.method, path, route: routeLabel },
        id,
        response.status,
        totalMs,
        facts,
      ),
    );
    return response;
  };
}

/** Headers of a refusal: how to authenticate, when to retry, when the connection must end. */
function refusalHeaders(error: Refusal): Record<string, string> {
  switch (error.code) {
    case "unauthorized":
      return { "www-authenticate": "Bearer" };
    case "overloaded":
    case "deadline_exceeded":
      return { "retry-after": String(RETRY_AFTER_SECONDS) };
    case "shutting_down":
      return { "retry-after": String(RETRY_AFTER_SECONDS), connection: "close" };
    case "body_timeout":
    case "client_disconnected":
      return { connection: "close" };
    default:
      return {};
  }
}

/** The detector failed on images it accepted (a broken detector or engine, not the input). */
export class ScoringFailed extends Data.TaggedError("ScoringFailed")<{ readonly problem: string }> {
  /** The error as one line: what failed and why. */
  override get message(): string {
    return `The detector failed to score the request's images: ${this.problem}`;
  }
}
