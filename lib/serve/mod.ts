/**
 * Serve a fitted detector over HTTP: scoring (`POST /v1/score`, micro-batched), metadata,
 * health, Prometheus metrics and a web page, with limits on every input and an optional bearer
 * token (`deno task serve`).
 *
 * @module
 */
export {
  type DetectorInfo,
  type ImageScores,
  type ScoreHistogram,
  scoreHistogram,
  type ServedDetector,
} from "./detector.ts";
export {
  fitServedGrood,
  type FitServedGroodError,
  type FitServedGroodOptions,
  keep95Threshold,
  serveFitted,
  type ServeFittedError,
  type ServeFittedOptions,
} from "./assemble.ts";
export { DEFAULT_LIMITS, type Limits, Refusal, type RefusalCode, REFUSALS } from "./limits.ts";
export { type BatchOptions, DEFAULT_MICRO_BATCH } from "./batcher.ts";
export { type ImageResult, type ScoreAnswer, ScoringFailed } from "./routes.ts";
export { ServiceMetrics } from "./metrics.ts";
export { type RunningService, serveDetector, type ServeOptions } from "./server.ts";
export { fittedInfo, openServedFitted, servedFitted } from "./fitted.ts";
