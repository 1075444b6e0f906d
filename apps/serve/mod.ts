/**
 * Serve a fitted detector over HTTP: scoring (`POST /v1/score`, micro-batched), metadata,
 * health, liveness and readiness, Prometheus metrics (verdicts and the OOD share included), the
 * verdicts over time (`/drift`), an OpenAPI document and a web page, with limits on every input,
 * admission control (a bounded queue, deadlines), connection timeouts, a graceful drain, request
 * ids, a JSON access log and an optional bearer token (`deno task serve`; `docs/serve.md`).
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
export {
  DEFAULT_LIMITS,
  type Limits,
  redactPaths,
  Refusal,
  type RefusalCode,
  REFUSALS,
  RETRY_AFTER_SECONDS,
} from "./limits.ts";
export { type BatchOptions, DEFAULT_MICRO_BATCH, type RequestScores } from "./batcher.ts";
export { DEFAULT_TIMEOUTS, ListenFailed, type Timeouts } from "./front.ts";
export { hostCheck, type ImageResult, type ScoreAnswer, ScoringFailed } from "./routes.ts";
export { type BuildInfo, type MetricsOptions, ServiceMetrics } from "./metrics.ts";
export {
  DEFAULT_OOD_WINDOW_SECONDS,
  type MinuteBucket,
  type Verdict,
  type VerdictCounts,
  VerdictLog,
} from "./drift.ts";
export { type LogLevel, type LogLine, logLine, serviceLogger } from "./log.ts";
export { requestId } from "./conventions.ts";
export {
  allowedMethods,
  type Body,
  ErrorBody,
  findRoute,
  ImageResultSchema,
  openApiDocument,
  type Route,
  ROUTES,
  ScoreAnswerSchema,
  ScoreJsonBody,
} from "./route_table.ts";
export {
  DEFAULT_DRAIN_MS,
  GROOD_VERSION,
  type RunningService,
  serveDetector,
  type ServeOptions,
} from "./server.ts";
export { fittedInfo, openServedFitted, servedFitted } from "./fitted.ts";
export {
  findHaproxy,
  haproxyConfig,
  type HaproxyConfigOptions,
  HaproxyError,
  haproxyInstalled,
  type HaproxyServer,
  parseStat,
  type ServerStat,
} from "./haproxy.ts";
export {
  MAX_REPLICAS,
  ReplicaFailed,
  type ReplicasOptions,
  type RunningReplicas,
  runReplicas,
} from "./replicas.ts";
