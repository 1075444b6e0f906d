/**
 * A runner: joins the cluster (runner table, shard locks and stored messages in PostgreSQL,
 * runner-to-runner traffic over TCP) and serves the `GroodScoreChunk` entity (scoring chunks,
 * and the chunks of distributed fits), working on workers that each opened the fitted detector
 * once (`worker_pool.ts`: the runner's own thread stays free for the cluster's lock renewals and
 * health checks). Closing its scope (SIGTERM through `runMain`) releases its shards, which the
 * other runners take over at their next assignment refresh.
 *
 * @module
 */
import { PgClient } from "@effect/sql-pg";
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket";
import { Cause, Data, Effect, Layer, Option, Redacted } from "effect";
import { RunnerAddress } from "effect/cluster";
import type { ConfigError } from "effect/Config";
import type { SqlClient } from "effect/sql";
import { type FailoverSettings, shardingSettings } from "./failover.ts";
import { ChunkFailed, ChunkScorer } from "./protocol.ts";
import type { ScoringPool } from "./worker_pool.ts";

/** Where a runner listens and what it tells the others to dial. */
export interface RunnerOptions {
  /** PostgreSQL URL of the cluster's storage. */
  readonly pg: string;
  /** The host name or address other runners and drivers reach this runner at. */
  readonly host: string;
  readonly port: number;
  /** Address to listen on (default: `host`); `0.0.0.0` to listen on every interface. */
  readonly listenHost?: string;
  /** Scoring workers, hence chunks scored at once (each holds a detector and a model batch). */
  readonly concurrency: number;
  readonly failover: FailoverSettings;
}

/** The cluster's PostgreSQL cannot be reached or refuses the connection (URL without password). */
export class ClusterStorageUnreachable extends Data.TaggedError("ClusterStorageUnreachable")<{
  readonly url: string;
  readonly problem: string;
}> {
  override get message(): string {
    return `Cannot use the cluster's PostgreSQL at ${this.url} (--pg or $GROOD_CLUSTER_PG): ` +
      this.problem;
  }
}

/** Seconds a connection to the cluster's PostgreSQL may take. */
const CONNECT_SECONDS = 10;

/**
 * `url` with its passwords (if any) masked, to name it in an error: the user's, and libpq's
 * `password` and `sslpassword` parameters of the query.
 */
export const withoutPassword = (url: string): string => {
  try {
    const parsed = new URL(url);
    const secrets = ["password", "sslpassword"].filter((key) => parsed.searchParams.has(key));
    if (parsed.password === "" && secrets.length === 0) return url;
    if (parsed.password !== "") parsed.password = "***";
    for (const key of secrets) parsed.searchParams.set(key, "***");
    return parsed.toString();
  } catch {
    return "(a URL that does not parse)";
  }
};

/** The messages of an error's chain of causes, down to the socket's own words (none twice). */
const rootMessage = (error: unknown): string => {
  let at: unknown = error;
  const seen: Array<string> = [];
  for (let depth = 0; depth < 8 && at instanceof Error; depth++) {
    const text = at.message;
    if (text !== "" && !seen.some((earlier) => earlier.includes(text))) seen.push(text);
    at = at.cause;
  }
  return seen.join(": ") || String(error);
};

/**
 * The PostgreSQL client of the cluster's storage (a small pool: the cluster's own queries). A
 * connection that fails (refused, unknown host, bad credentials, or no answer within 10 s) is
 * `ClusterStorageUnreachable` naming the URL, not a defect.
 */
export const clusterStorage = (
  url: string,
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, ClusterStorageUnreachable> =>
  PgClient.layerFrom(
    PgClient.make({
      url: Redacted.make(url),
      maxConnections: 8,
      connectTimeout: `${CONNECT_SECONDS} seconds`,
      applicationName: "grood-cluster",
    }).pipe(
      // The pool connects lazily: one query now, so that a wrong URL fails here, by name.
      Effect.tap((client) => client`SELECT 1`),
      Effect.timeout(CONNECT_SECONDS * 1000 + 5000),
      Effect.catchCause((cause) =>
        Effect.fail(
          new ClusterStorageUnreachable({
            url: withoutPassword(url),
            problem: rootMessage(Cause.squash(cause)),
          }),
        )
      ),
    ),
  );

/** The runner cannot listen on its address (taken by another program, or not this machine's). */
export class RunnerCannotListen extends Data.TaggedError("RunnerCannotListen")<{
  readonly address: string;
  readonly problem: string;
}> {
  override get message(): string {
    return `The runner cannot listen on ${this.address} (--listen or --host, and --port): ` +
      this.problem;
  }
}

/** A chunk's failure marked with the driver run whose message it answers. */
const echoRun = (failed: ChunkFailed, run: string): ChunkFailed =>
  new ChunkFailed({ chunk: failed.chunk, problem: failed.problem, run });

/** The runner, scoring on `pool`'s workers, as a layer to launch. */
export const runnerLayer = (
  pool: ScoringPool,
  options: RunnerOptions,
): Layer.Layer<never, ConfigError | RunnerCannotListen | ClusterStorageUnreachable> => {
  const name = `${options.host}:${options.port}`;
  const handlers = ChunkScorer.toLayer(
    {
      Score: (envelope) =>
        pool.score(envelope.payload, name).pipe(
          Effect.mapError((failed) => echoRun(failed, envelope.payload.run)),
          Effect.tap((done) =>
            Effect.logInfo(
              `chunk ${envelope.payload.source}:${envelope.payload.start} ` +
                `${done.images} images in ${done.seconds.toFixed(2)} s`,
            )
          ),
          Effect.map((done) => ({ ...done, runner: name })),
        ),
      Fit: (envelope) =>
        pool.fit(envelope.payload).pipe(
          Effect.mapError((failed) => echoRun(failed, envelope.payload.run)),
          Effect.tap((done) =>
            Effect.logInfo(
              `fit ${envelope.payload.phase} chunk ${envelope.payload.start} ` +
                `${done.images} images in ${done.seconds.toFixed(2)} s`,
            )
          ),
          Effect.map((done) => ({ ...done, runner: name })),
        ),
    },
    { concurrency: 1 },
  );
  return handlers.pipe(
    Layer.provide(
      NodeClusterSocket.layer({
        storage: "sql",
        shardingConfig: {
          ...shardingSettings(options.failover),
          runnerAddress: Option.some(RunnerAddress.make(options.host, options.port)),
          runnerListenAddress: Option.some(
            RunnerAddress.make(options.listenHost ?? options.host, options.port),
          ),
        },
      }),
    ),
    Layer.catchTag("SocketServerError", (error) =>
      Layer.effectDiscard(
        Effect.fail(
          new RunnerCannotListen({
            address: `${options.listenHost ?? options.host}:${options.port}`,
            problem: rootMessage(error),
          }),
        ),
      )),
    Layer.provide(clusterStorage(options.pg)),
  );
};
