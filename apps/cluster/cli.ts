/**
 * The command lines of `deno task runner` and `deno task score-cluster`, parsed into the options
 * of `runner.ts` and `driver.ts`. Kept apart from the programs so the project's CLI layer can
 * take them over: everything here is flag names, defaults and help.
 *
 * @module
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { Data } from "effect";
import { Sources } from "../../mod.ts";
import type { DriverOptions } from "./driver.ts";
import { DEFAULT_FAILOVER, FAILOVER_FLAGS, type FailoverSettings } from "./failover.ts";
import type { RunnerOptions } from "./runner.ts";

/**
 * The folder the command was typed in: `deno task` runs tasks in the checkout's folder and
 * records where it was typed in `INIT_CWD`, so relative paths are taken from there.
 */
export const invocationFolder = (): string => Deno.env.get("INIT_CWD") ?? Deno.cwd();

/** The environment variable naming the cluster's PostgreSQL when `--pg` is not given. */
export const PG_ENV = "GROOD_CLUSTER_PG";

/** A command line that cannot be run: the problem and the usage, for exit code 2. */
export class UsageError extends Data.TaggedError("UsageError")<{
  readonly problem: string;
  readonly usage: string;
}> {
  override get message(): string {
    return `${this.problem}\n\n${this.usage}`;
  }
}

const usageError = (problem: string, usage: string) => new UsageError({ problem, usage });

const failoverHelp = FAILOVER_FLAGS.map((f) =>
  `  --${f.flag} SECONDS`.padEnd(32) + `${f.help} (default ${DEFAULT_FAILOVER[f.key]})`
).join("\n");

/** `deno task runner --help`. */
export const RUNNER_USAGE = `deno task runner --detector DIR [--pg URL] [--host H] [--port P]

Join the grood cluster and score chunks with a fitted detector folder.

  --detector DIR                the fitted-detector folder (deno task fit), opened once
  --pg URL                      the cluster's PostgreSQL (default: $${PG_ENV})
  --host HOST                   the address other runners and drivers reach this runner at
                                (default 127.0.0.1: one machine)
  --port PORT                   the runner's TCP port (default 34431)
  --listen HOST                 the address to listen on (default: --host; 0.0.0.0: all)
  --concurrency N               scoring workers: chunks scored at once (default 1)
${failoverHelp}

SIGTERM or Ctrl-C leaves the cluster cleanly: the runner's shards move to the others.`;

/** `deno task score-cluster --help`. */
export const DRIVER_USAGE =
  `deno task score-cluster --detector DIR --job DIR [--pg URL] [--out FILE] SRC…

Score data on the grood cluster's runners; writes what deno task score writes.

  --detector DIR                the fitted-detector folder the runners serve
  --job DIR                     the job folder (plan and one part per chunk), on storage every
                                runner sees at the same path; run again to resume
  --out FILE                    the rows (.json: JSON, else CSV; default: CSV on stdout)
  --pg URL                      the cluster's PostgreSQL (default: $${PG_ENV})
  --chunk N                     images per chunk, a multiple of 512 (default 512)
  --in-flight N                 chunks waited on at once (default 256)
  --progress SECONDS            seconds between progress lines (default 2)
  --chunk-timeout SECONDS       wait for one chunk before asking again (default 600)
${failoverHelp}

SRC: ${Sources.SOURCE_ARGUMENT_HELP}`;

const failoverOptions = Object.fromEntries(
  FAILOVER_FLAGS.map((f) => [f.flag, { type: "string" as const }]),
);

const number = (
  value: string | undefined,
  name: string,
  fallback: number,
  usage: string,
  integer = true,
): number => {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0 || (integer && !Number.isInteger(parsed))) {
    throw usageError(
      `--${name} must be a positive ${integer ? "integer" : "number"}, not "${value}"`,
      usage,
    );
  }
  return parsed;
};

const failoverFrom = (values: Record<string, unknown>, usage: string): FailoverSettings => {
  const settings = { ...DEFAULT_FAILOVER } as Record<keyof FailoverSettings, number>;
  for (const f of FAILOVER_FLAGS) {
    settings[f.key] = number(
      values[f.flag] as string | undefined,
      f.flag,
      DEFAULT_FAILOVER[f.key],
      usage,
      false,
    );
  }
  if (settings.lockExpiration <= settings.lockRefresh) {
    throw usageError("--lock-expiration must be longer than --lock-refresh", usage);
  }
  return settings;
};

const parse = (
  args: ReadonlyArray<string>,
  options: Record<string, { type: "string" | "boolean" }>,
  usage: string,
) => {
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (error) {
    throw usageError(error instanceof Error ? error.message : String(error), usage);
  }
};

const pgFrom = (
  value: string | undefined,
  env: (name: string) => string | undefined,
  usage: string,
) => {
  const pg = value ?? env(PG_ENV);
  if (pg === undefined || pg === "") throw usageError(`give --pg URL or $${PG_ENV}`, usage);
  return pg;
};

/** The runner's options, or `"help"`; throws `UsageError`. */
export const parseRunnerArgs = (
  args: ReadonlyArray<string>,
  env: (name: string) => string | undefined,
  cwd: string,
): { readonly detector: string; readonly runner: RunnerOptions } | "help" => {
  const { values, positionals } = parse(args, {
    detector: { type: "string" },
    pg: { type: "string" },
    host: { type: "string" },
    port: { type: "string" },
    listen: { type: "string" },
    concurrency: { type: "string" },
    help: { type: "boolean" },
    ...failoverOptions,
  }, RUNNER_USAGE);
  if (values.help === true) return "help";
  if (positionals.length > 0) {
    throw usageError(`unexpected argument "${positionals[0]}"`, RUNNER_USAGE);
  }
  if (typeof values.detector !== "string") {
    throw usageError("give --detector DIR", RUNNER_USAGE);
  }
  const listen = values.listen as string | undefined;
  return {
    detector: resolve(cwd, values.detector),
    runner: {
      pg: pgFrom(values.pg as string | undefined, env, RUNNER_USAGE),
      host: (values.host as string | undefined) ?? "127.0.0.1",
      port: number(values.port as string | undefined, "port", 34431, RUNNER_USAGE),
      ...(listen === undefined ? {} : { listenHost: listen }),
      concurrency: number(
        values.concurrency as string | undefined,
        "concurrency",
        1,
        RUNNER_USAGE,
      ),
      failover: failoverFrom(values, RUNNER_USAGE),
    },
  };
};

/** The driver's options, or `"help"`; throws `UsageError`. */
export const parseDriverArgs = (
  args: ReadonlyArray<string>,
  env: (name: string) => string | undefined,
  cwd: string,
): DriverOptions | "help" => {
  const { values, positionals } = parse(args, {
    detector: { type: "string" },
    job: { type: "string" },
    out: { type: "string" },
    pg: { type: "string" },
    chunk: { type: "string" },
    "in-flight": { type: "string" },
    progress: { type: "string" },
    "chunk-timeout": { type: "string" },
    help: { type: "boolean" },
    ...failoverOptions,
  }, DRIVER_USAGE);
  if (values.help === true) return "help";
  if (typeof values.detector !== "string") {
    throw usageError("give --detector DIR", DRIVER_USAGE);
  }
  if (typeof values.job !== "string") throw usageError("give --job DIR", DRIVER_USAGE);
  if (positionals.length === 0) throw usageError("give at least one SRC", DRIVER_USAGE);
  const out = values.out as string | undefined;
  const chunkSize = number(values.chunk as string | undefined, "chunk", 512, DRIVER_USAGE);
  if (chunkSize % 512 !== 0) {
    throw usageError(
      `--chunk must be a multiple of 512 (the model batch of deno task score), not ${chunkSize}`,
      DRIVER_USAGE,
    );
  }
  return {
    detector: resolve(cwd, values.detector),
    sources: positionals,
    cwd,
    jobDir: resolve(cwd, values.job),
    ...(out === undefined ? {} : { out: resolve(cwd, out) }),
    pg: pgFrom(values.pg as string | undefined, env, DRIVER_USAGE),
    chunkSize,
    inFlight: number(values["in-flight"] as string | undefined, "in-flight", 256, DRIVER_USAGE),
    progressEvery: number(
      values.progress as string | undefined,
      "progress",
      2,
      DRIVER_USAGE,
      false,
    ),
    chunkTimeout: number(
      values["chunk-timeout"] as string | undefined,
      "chunk-timeout",
      600,
      DRIVER_USAGE,
      false,
    ),
    failover: failoverFrom(values, DRIVER_USAGE),
  };
};
