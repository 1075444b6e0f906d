/**
 * grood on Effect Cluster with PostgreSQL: batch scoring and GROOD's fit across machines
 * (`docs/scale.md`). `runDriver` plans a job and merges its parts (`grood cluster score`),
 * `runFitDriver` runs a fit with the runners mapping its chunks (`grood cluster fit`),
 * `runnerLayer` and `scoringPool` make a runner (`grood cluster runner`), `throwawayPostgres`
 * starts a temporary database for tests and benchmarks (`bench.ts`: `grood bench cluster`;
 * `bench_fit.ts`: `grood bench cluster --fit`). The command lines are
 * `effect/cli` commands of `grood` (`apps/cli/commands/cluster_*.ts`); `options.ts` turns their
 * decoded flags into the programs' options.
 *
 * @module
 */
export { ClusterJobRefused, type DriverError, type DriverOptions, runDriver } from "./driver.ts";
export { type DriverSummary } from "./driver.ts";
export {
  DEFAULT_FAILOVER,
  FAILOVER_FLAGS,
  type FailoverFlag,
  failoverFromFlags,
  failoverProblem,
  type FailoverSettings,
  shardingSettings,
} from "./failover.ts";
export { clusterStorage, runnerLayer, type RunnerOptions } from "./runner.ts";
export { type ScoringPool, scoringPool, ScoringWorkerFailed } from "./worker_pool.ts";
export { ChunkFailed, ChunkScorer } from "./protocol.ts";
export { type FitDriverError, type FitDriverOptions, runFitDriver } from "./fit_driver.ts";
export { type FitPlan, readFitPlan } from "./fit_job.ts";
export { JobFolderInvalid, type JobPlan, readPlan } from "./job.ts";
export {
  CHUNK_STEP,
  chunkProblem,
  DRIVER_DEFAULTS,
  type DriverFlags,
  driverOptions,
  type FailoverFlagValues,
  PG_ENV,
  RUNNER_DEFAULTS,
  type RunnerFlags,
  runnerOptions,
} from "./options.ts";
export { type ThrowawayPostgres, throwawayPostgres } from "./throwaway_postgres.ts";
