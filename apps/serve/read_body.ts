/**
 * A request's body, read within a size limit and a time limit: what every scoring route reads
 * before decoding (`decode.ts`).
 *
 * @module
 */
import { Effect } from "effect";
import { Refusal } from "./limits.ts";
import { after } from "./timer.ts";

const refuse = (code: Refusal["code"], problem: string) => new Refusal({ code, problem });

/**
 * Read a request's body, refusing (413) as soon as it exceeds `maxBytes`: first by its declared
 * `Content-Length`, then while it streams (a chunked upload declares none). A body not complete
 * within `timeoutMs` is cut (`body_timeout`, 408); a body broken off (the client went away) is
 * `client_disconnected`, not a malformed request.
 */
export const readBody = (
  request: Request,
  maxBytes: number,
  timeoutMs = 0,
): Effect.Effect<Uint8Array, Refusal> =>
  Effect.gen(function* () {
    const tooLarge = (size: string) =>
      refuse("body_too_large", `the body has ${size} bytes; the limit is ${maxBytes}`);
    const declared = Number(request.headers.get("content-length") ?? NaN);
    if (declared > maxBytes) return yield* Effect.fail(tooLarge(String(declared)));
    if (request.body === null) return new Uint8Array(0);
    const reader = request.body.getReader();
    let timedOut = false;
    let size = 0;
    const cancelTimer = timeoutMs > 0
      ? after(timeoutMs, () => {
        timedOut = true;
        reader.cancel().catch(() => {});
      })
      : undefined;
    const timeout = () =>
      refuse(
        "body_timeout",
        `the body was not received within ${timeoutMs} ms (${size} bytes arrived)`,
      );
    return yield* Effect.tryPromise({
      try: async () => {
        const chunks: Array<Uint8Array> = [];
        for (;;) {
          const { done, value } = await reader.read();
          if (timedOut) throw timeout();
          if (done) break;
          size += value.length;
          if (size > maxBytes) {
            await reader.cancel();
            throw tooLarge(`more than ${maxBytes}`);
          }
          chunks.push(value);
        }
        const body = new Uint8Array(size);
        let offset = 0;
        for (const chunk of chunks) {
          body.set(chunk, offset);
          offset += chunk.length;
        }
        return body;
      },
      catch: (error) =>
        error instanceof Refusal ? error : timedOut
          ? timeout()
          // A body stops short only when its connection breaks: the client went away.
          : refuse(
            "client_disconnected",
            `the body broke off after ${size} bytes (${String(error).split("\n")[0]})`,
          ),
    }).pipe(Effect.ensuring(Effect.sync(() => cancelTimer?.())));
  });
