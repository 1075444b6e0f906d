/**
 * The service's web page: static files under `static/` (HTML, CSS and a plain ES module; no
 * build step, nothing fetched from any other host), read once when the service starts.
 *
 * @module
 */
import { Effect } from "effect";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { IoError, osReason } from "../../lib/io/mod.ts";

/** URL path → the file served for it. */
const FILES = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/app.js": ["app.js", "text/javascript; charset=utf-8"],
  "/charts.js": ["charts.js", "text/javascript; charset=utf-8"],
  "/style.css": ["style.css", "text/css; charset=utf-8"],
} as const;

/** A static file in memory. */
export interface StaticFile {
  readonly body: Uint8Array<ArrayBuffer>;
  readonly contentType: string;
}

/** The folder of the page's files. */
export const STATIC_DIR: string = fileURLToPath(new URL("./static/", import.meta.url));

/** Read the page's files, by URL path. */
export const loadPage = (
  dir: string = STATIC_DIR,
): Effect.Effect<ReadonlyMap<string, StaticFile>, IoError> =>
  Effect.forEach(Object.entries(FILES), ([route, [file, contentType]]) =>
    Effect.tryPromise({
      try: () => Deno.readFile(join(dir, file)),
      catch: (cause) =>
        new IoError({ path: join(dir, file), operation: "read", reason: osReason(cause) }),
    }).pipe(Effect.map((body) => [route, { body, contentType }] as const))).pipe(
      Effect.map((entries) => new Map(entries)),
    );
