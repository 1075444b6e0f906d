/**
 * The options of a runner (`runner.ts`) and of the driver (`driver.ts`) from their decoded
 * command lines (`grood cluster runner`, `grood cluster score`: flags declared in
 * `apps/cli/commands/cluster_*.ts`), and the defaults those flags show. Pure: the flags are
 * decoded and checked by `effect/cli` before anything here runs; paths are made absolute from
 * the folder the command was typed in.
 *
 * @example
 * ```ts
 * import { DEFAULT_FAILOVER } from "./failover.ts";
 * import { RUNNER_DEFAULTS, runnerOptions } from "./options.ts";
 * const { detector, runner } = runnerOptions({
 *   detector: "my-detector",
 *   pg: "postgres://db/grood",
 *   host: RUNNER_DEFAULTS.host,
 *   port: RUNNER_DEFAULTS.port,
 *   listen: undefined,
 *   concurrency: 1,
 *   "lock-refresh": DEFAULT_FAILOVER.lockRefresh,
 *   "lock-expiration": DEFAULT_FAILOVER.lockExpiration,
 *   "health-check": DEFAULT_FAILOVER.healthCheck,
 *   "assignment-refresh": DEFAULT_FAILOVER.assignmentRefresh,
 *   "message-poll": DEFAULT_FAILOVER.messagePoll,
 * }, "/work");
 * if (detector !== "/work/my-detector" || runner.port !== 34431) throw new Error("options");
 * ```
 *
 * @module
 */
import { resolve } from "node:path";
import type { DriverOptions } from "./driver.ts";
import { type FailoverFlag, failoverFromFlags } from "./failover.ts";
import type { RunnerOptions } from "./runner.ts";

/** The environment variable naming the cluster's PostgreSQL when `--pg` is not given. */
export const PG_ENV = "GROOD_CLUSTER_PG";

/** The model batch of `grood score`: a chunk is a whole number of them. */
export const CHUNK_STEP = 512;

/** The runner's defaults (its flags show them). */
export const RUNNER_DEFAULTS = { host: "127.0.0.1", port: 34431, concurrency: 1 } as const;

/** The driver's defaults, by flag name (its flags show them). */
export const DRIVER_DEFAULTS = {
  chunk: CHUNK_STEP,
  "in-flight": 256,
  progress: 2,
  "chunk-timeout": 600,
} as const;

/** Decoded failover flags, by flag name. */
export type FailoverFlagValues = { readonly [F in FailoverFlag]: number };

/** The decoded flags of `grood cluster runner`. */
export interface RunnerFlags extends FailoverFlagValues {
  /** Absent: the runner maps fit chunks only. */
  readonly detector: string | undefined;
  readonly pg: string;
  readonly host: string;
  readonly port: number;
  readonly listen: string | undefined;
  readonly concurrency: number;
}

/** The decoded flags of `grood cluster score`. */
export interface DriverFlags extends FailoverFlagValues {
  readonly detector: string;
  readonly job: string;
  readonly out: string | undefined;
  readonly overwrite: boolean;
  readonly pg: string;
  readonly chunk: number;
  readonly "in-flight": number;
  readonly progress: number;
  readonly "chunk-timeout": number;
}

/** The runner's detector folder (absolute) and options; relative paths are taken from `cwd`. */
export const runnerOptions = (
  flags: RunnerFlags,
  cwd: string,
): { readonly detector: string | undefined; readonly runner: RunnerOptions } => ({
  detector: flags.detector === undefined ? undefined : resolve(cwd, flags.detector),
  runner: {
    pg: flags.pg,
    host: flags.host,
    port: flags.port,
    ...(flags.listen === undefined ? {} : { listenHost: flags.listen }),
    concurrency: flags.concurrency,
    failover: failoverFromFlags(flags),
  },
});

/** The driver's options for `sources`; relative paths are taken from `cwd`. */
export const driverOptions = (
  flags: DriverFlags,
  sources: ReadonlyArray<string>,
  cwd: string,
): DriverOptions => ({
  detector: resolve(cwd, flags.detector),
  sources,
  cwd,
  jobDir: resolve(cwd, flags.job),
  ...(flags.out === undefined ? {} : { out: resolve(cwd, flags.out) }),
  overwrite: flags.overwrite,
  pg: flags.pg,
  chunkSize: flags.chunk,
  inFlight: flags["in-flight"],
  progressEvery: flags.progress,
  chunkTimeout: flags["chunk-timeout"],
  failover: failoverFromFlags(flags),
});

/**
 * What is wrong with a chunk size, or undefined: a chunk is a whole number of model batches,
 * so that every image is scored in the batch one-process `score` puts it in.
 */
export const chunkProblem = (chunk: number): string | undefined =>
  chunk % CHUNK_STEP === 0
    ? undefined
    : `--chunk must be a multiple of ${CHUNK_STEP} (the model batch of grood score), not ${chunk}`;
