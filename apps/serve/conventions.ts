/**
 * Conventions of model servers the service follows: `X-Request-Id` (accepted when safe, else
 * generated; echoed in every answer and in the access log), one access-log line per request, and
 * `HEAD` answered as `GET` without a body.
 *
 * @module
 */

/** A request id the service takes as given: 1–128 of `A-Z a-z 0-9 . _ : -`. */
const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The request id of a request: its `X-Request-Id` when safe (bounded, no characters that could
 * forge log lines or headers), else a new UUID (`replaced` says a given one was refused).
 *
 * @example
 * ```ts
 * import { requestId } from "./conventions.ts";
 * if (requestId("abc-123").id !== "abc-123") throw new Error();
 * const bad = requestId("x\ny");
 * if (bad.id === "x\ny" || !bad.replaced || requestId(null).replaced) throw new Error();
 * ```
 */
export function requestId(
  header: string | null,
): { readonly id: string; readonly replaced: boolean } {
  if (header !== null && SAFE_ID.test(header)) return { id: header, replaced: false };
  return { id: crypto.randomUUID(), replaced: header !== null };
}

/** What the access log says of one request, beyond its route and status. */
export interface RequestFacts {
  /** Images in the request, once known. */
  images?: number;
  /** Milliseconds its images waited for their batch. */
  queueMs?: number | undefined;
  /** Milliseconds their batch took to score. */
  computeMs?: number | undefined;
  /** The refusal or failure code, if any. */
  code?: string;
}

/** The fields of an access-log line. */
export function accessFields(
  request: { readonly method: string; readonly path: string; readonly route: string },
  id: { readonly id: string; readonly replaced: boolean },
  status: number,
  totalMs: number,
  facts: RequestFacts,
): Record<string, unknown> {
  const ms = (x: number | undefined) => x === undefined ? null : Math.round(x * 1000) / 1000;
  return {
    requestId: id.id,
    ...(id.replaced ? { requestIdReplaced: true } : {}),
    method: request.method,
    route: request.route,
    ...(request.route === "other" ? { path: request.path.slice(0, 200) } : {}),
    status,
    images: facts.images ?? 0,
    queueWaitMs: ms(facts.queueMs),
    computeMs: ms(facts.computeMs),
    totalMs: ms(totalMs),
    ...(facts.code === undefined ? {} : { code: facts.code }),
  };
}

/** `response` without its body, as the answer to a `HEAD` (headers kept). */
export function headAnswer(response: Response): Response {
  void response.body?.cancel().catch(() => {});
  return new Response(null, { status: response.status, headers: response.headers });
}
