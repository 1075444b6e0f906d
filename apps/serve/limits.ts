/**
 * What the scoring service accepts, and how it says no. Every refusal is a `Refusal`: an HTTP
 * status (4xx, or 503 while overloaded or shutting down), a stable machine-readable `code` and a
 * message that names the input and what is wrong; the service answers it as JSON
 * `{code, message}` (never with a server path in it, `redactPaths`) and goes on serving.
 *
 * @module
 */
import { Data } from "effect";

/** Bounds on one request. */
export interface Limits {
  /** Largest request body in bytes. */
  readonly maxBodyBytes: number;
  /** Largest width or height of an encoded image, read from its header before decoding. */
  readonly maxImageSide: number;
  /** Largest width × height of an encoded image. */
  readonly maxImagePixels: number;
  /** Most images in one request (JSON list or `.npy` batch). */
  readonly maxImagesPerRequest: number;
}

/** Defaults: 8 MiB bodies, images up to 4096 px a side and 16 Mpx, 256 images a request. */
export const DEFAULT_LIMITS: Limits = {
  maxBodyBytes: 8 * 1024 * 1024,
  maxImageSide: 4096,
  maxImagePixels: 4096 * 4096,
  maxImagesPerRequest: 256,
};

/** The refusal codes, with their HTTP status. */
export const REFUSALS = {
  empty_body: 400,
  bad_json: 400,
  /** A query parameter on a route that takes none (it would be ignored, not applied). */
  unknown_parameter: 400,
  bad_base64: 400,
  bad_npy: 400,
  undecodable_image: 400,
  unauthorized: 401,
  not_found: 404,
  method_not_allowed: 405,
  body_too_large: 413,
  too_many_images: 413,
  image_too_large: 413,
  unsupported_media_type: 415,
  body_timeout: 408,
  misdirected_host: 421,
  /** The client went away before its answer (nginx's 499): counted, never delivered. */
  client_disconnected: 499,
  overloaded: 503,
  deadline_exceeded: 503,
  shutting_down: 503,
} as const;

/** Seconds a client is told to wait (`Retry-After`) after a 503. */
export const RETRY_AFTER_SECONDS = 1;

/** A refusal code. */
export type RefusalCode = keyof typeof REFUSALS;

/** A request the service refuses: answered with `REFUSALS[code]` and `{code, message}`. */
export class Refusal extends Data.TaggedError("Refusal")<{
  readonly code: RefusalCode;
  readonly problem: string;
}> {
  /** The problem, as the `message` of the answer's body. */
  override get message(): string {
    return this.problem;
  }
  /** The HTTP status of the answer. */
  get status(): number {
    return REFUSALS[this.code];
  }
}

/**
 * `text` with every absolute path cut to its last component (`/home/u/det/model.onnx` →
 * `…/model.onnx`), so an error body never shows where the server keeps its files.
 *
 * @example
 * ```ts
 * import { redactPaths } from "./limits.ts";
 * const text = redactPaths('Running the model "/tmp/x/det/model/net.onnx" failed');
 * if (text !== 'Running the model "…/net.onnx" failed') throw new Error(text);
 * if (redactPaths("no route GET /v2/score") !== "no route GET /v2/score") throw new Error();
 * if (redactPaths("C:\\Users\\u\\det\\m.onnx: gone") !== "…\\m.onnx: gone") throw new Error();
 * ```
 */
export function redactPaths(text: string): string {
  return text
    .replace(
      /(?:file:\/\/)?(?<![\w.])(?!\/v\d+\/)(?:\/[^\s"'`:,;()<>\/]+)+\/([^\s"'`:,;()<>\/]+)/g,
      "…/$1",
    )
    .replace(/[A-Za-z]:\\(?:[^\s"'`:,;()<>\\]+\\)+([^\s"'`:,;()<>\\]+)/g, "…\\$1");
}

/** The JSON answer of a refusal (paths redacted). */
export function refusalResponse(refusal: Refusal, headers: HeadersInit = {}): Response {
  return Response.json({ code: refusal.code, message: redactPaths(refusal.problem) }, {
    status: refusal.status,
    headers,
  });
}
