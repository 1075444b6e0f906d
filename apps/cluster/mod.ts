/**
 * grood on Effect Cluster with PostgreSQL: batch scoring across machines (`docs/scale.md`).
 * `runDriver` plans a job and merges its parts (`deno task score-cluster`), `runnerLayer` and
 * `scoringPool` make a runner (`deno task runner`), `throwawayPostgres` starts a temporary
 * database for tests and benchmarks. The command lines are parsed in `cli.ts`.
 *
 * @module
 */
export { ClusterJobRefused, type DriverError, type DriverOptions, runDriver } from "./driver.ts";
export { type DriverSummary } from "./driver.ts";
export { DEFAULT_FAILOVER, type FailoverSettings, shardingSettings } from "./failover.ts";
export { clusterStorage, runnerLayer, type RunnerOptions } from "./runner.ts";
export { type ScoringPool, scoringPool, ScoringWorkerFailed } from "./worker_pool.ts";
export { ChunkFailed, ChunkScorer } from "./protocol.ts";
export { JobFolderInvalid, type JobPlan, readPlan } from "./job.ts";
export { DRIVER_USAGE, parseDriverArgs, parseRunnerArgs, RUNNER_USAGE, UsageError } from "./cli.ts";
export { type ThrowawayPostgres, throwawayPostgres } from "./throwaway_postgres.ts";
