/**
 * Serve a fitted detector over HTTP: scoring (`POST /v1/score`, micro-batched), metadata,
 * health, Prometheus metrics and a web page, with limits on every input and an optional bearer
 * token (`deno task serve`).
 *
 * @module
 */
export * from "./detector.ts";
export * from "./assemble.ts";
export * from "./limits.ts";
export * from "./decode.ts";
export * from "./batcher.ts";
export * from "./metrics.ts";
export * from "./auth.ts";
export * from "./page.ts";
export * from "./routes.ts";
export * from "./server.ts";
export * from "./fitted.ts";
