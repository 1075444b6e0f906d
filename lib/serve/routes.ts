/**
 * The service's routes, as one `Request → Response` function:
 *
 * | route | answer |
 * | --- | --- |
 * | `GET /`, `/app.js`, `/style.css` | the web page (open, no token) |
 * | `GET /healthz` | `{status: "ok", version}`, 503 while shutting down (open) |
 * | `GET /v1/detector` | the detector's metadata, input shape and the limits |
 * | `POST /v1/score` | per image: score, OOD flag, threshold, predicted class, version |
 * | `GET /metrics` | Prometheus text |
 *
 * Every refusal is a 4xx (or 503) JSON `{code, message}`; a failure of the detector itself is a
 * 500 `{code: "scoring_failed", message}`. Each answer is counted in the metrics.
 *
 * @module
 */
import { Cause, Data, Effect, Exit } from "effect";
import type { Arrival, Batcher } from "./batcher.ts";
import { decodeBody, readBody } from "./decode.ts";
import type { ServedDetector } from "./detector.ts";
import { type Limits, Refusal, refusalResponse } from "./limits.ts";
import type { ServiceMetrics } from "./metrics.ts";
import type { StaticFile } from "./page.ts";

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
  /** True once shutdown has begun: new requests are refused with 503. */
  readonly draining: () => boolean;
}

/** One image's answer. */
export interface ImageResult {
  /** OOD score (higher = more likely OOD). */
  readonly score: number;
  /** `score > threshold`. */
  readonly isOod: boolean;
  /** The detector's threshold. */
  readonly threshold: number;
  /** The classifier's predicted class. */
  readonly predicted: number;
  /** Its name, when the detector knows class names. */
  readonly className?: string;
  /** Content hash of the detector that scored the image. */
  readonly detectorVersion: string;
}

/** The answer of `POST /v1/score`. */
export interface ScoreAnswer {
  /** The detector's content hash and kind. */
  readonly detector: { readonly version: string; readonly kind: string };
  /** The detector's threshold. */
  readonly threshold: number;
  /** One result per image, in request order. */
  readonly results: ReadonlyArray<ImageResult>;
}

const METHODS: Readonly<Record<string, string>> = {
  "/v1/score": "POST",
  "/v1/detector": "GET",
  "/healthz": "GET",
  "/metrics": "GET",
};

const refusal = (code: Refusal["code"], problem: string) => new Refusal({ code, problem });

/** Build the service's request handler. */
export function makeHandler<E>(
  context: RouteContext<E>,
): (request: Request) => Promise<Response> {
  const { detector, batcher, metrics, limits, page } = context;
  const info = detector.info;

  const score = (request: Request, arrival: Arrival<E>) =>
    Effect.gen(function* () {
      const body = yield* readBody(request, limits.maxBodyBytes);
      const images = yield* decodeBody(
        request.headers.get("content-type"),
        body,
        detector.input,
        limits,
      );
      const scored = yield* arrival.submit(images.pixels, images.count);
      const results: Array<ImageResult> = Array.from({ length: images.count }, (_, i) => {
        const predicted = scored.predicted[i]!;
        const className = info.classNames?.[predicted];
        return {
          score: scored.scores[i]!,
          isOod: scored.isOod[i]!,
          threshold: info.threshold,
          predicted,
          ...(className === undefined ? {} : { className }),
          detectorVersion: info.version,
        };
      });
      const answer: ScoreAnswer = {
        detector: { version: info.version, kind: info.kind },
        threshold: info.threshold,
        results,
      };
      return Response.json(answer);
    });

  const describe = () => Response.json({ ...info, input: detector.input, limits });

  const route = (request: Request, path: string): Promise<Response> | Response => {
    const file = request.method === "GET" ? page.get(path) : undefined;
    if (file !== undefined) {
      return new Response(file.body, {
        headers: { "content-type": file.contentType, "cache-control": "no-cache" },
      });
    }
    const method = METHODS[path];
    if (method === undefined) {
      throw refusal("not_found", `no route ${request.method} ${path}`);
    }
    if (request.method !== method) {
      throw refusal("method_not_allowed", `${path} takes ${method}, not ${request.method}`);
    }
    if (context.draining()) {
      throw refusal("shutting_down", "the service is shutting down");
    }
    if (path === "/healthz") return Response.json({ status: "ok", version: info.version });
    if (!context.authorized(request.headers.get("authorization"))) {
      throw refusal("unauthorized", `${path} needs an "Authorization: Bearer <token>" header`);
    }
    switch (path) {
      case "/v1/detector":
        return describe();
      case "/metrics":
        return new Response(
          metrics.render({
            grood_engine_tensors: {
              help: "Tensors alive in the engine.",
              value: detector.tensors?.() ?? 0,
            },
            grood_resident_memory_bytes: {
              help: "Resident set size of the process.",
              value: Deno.memoryUsage().rss,
            },
            grood_queued_images: {
              help: "Images waiting for a micro-batch.",
              value: batcher.queued(),
            },
          }),
          { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } },
        );
      default: {
        const arrival = batcher.arrive();
        return Effect.runPromiseExit(
          score(request, arrival).pipe(Effect.ensuring(Effect.sync(arrival.leave))),
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
    let response: Response;
    try {
      response = await route(request, path);
    } catch (error) {
      if (error instanceof Refusal) {
        metrics.error(error.code);
        response = refusalResponse(
          error,
          error.code === "unauthorized" ? { "www-authenticate": "Bearer" } : {},
        );
      } else {
        metrics.error("scoring_failed");
        response = Response.json({
          code: "scoring_failed",
          message: error instanceof Error ? error.message : String(error),
        }, { status: 500 });
      }
    }
    const known = page.has(path) || METHODS[path] !== undefined;
    metrics.request(known ? path : "other", response.status, (performance.now() - started) / 1000);
    return response;
  };
}

/** The detector failed on images it accepted (a broken detector or engine, not the input). */
export class ScoringFailed extends Data.TaggedError("ScoringFailed")<{ readonly problem: string }> {
  /** The error as one line: what failed and why. */
  override get message(): string {
    return `The detector failed to score the request's images: ${this.problem}`;
  }
}
