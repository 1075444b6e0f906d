/**
 * The batch-scoring driver: plans the job (sources split into chunks), sends one persisted
 * message per chunk that has no part on disk yet, shows progress (chunks done, images/s,
 * runners alive) while the runners score, and merges the parts into the CSV or JSON `deno task
 * score` writes. Killed and started again with the same arguments, it resumes: finished chunks
 * are on disk and are not sent again, and a chunk sent before is deduplicated by its primary key
 * in PostgreSQL (the new driver waits for the message already stored instead of adding one).
 *
 * @module
 */
import { resolve } from "node:path";
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket";
import { type Cause, Duration, Effect, Layer, Ref, Schedule } from "effect";
import type { ClusterError } from "effect/cluster";
import type { ConfigError } from "effect/Config";
import { SqlClient } from "effect/sql";
import { Data } from "effect";
import { Fitted, Io, Sources } from "../../mod.ts";
import { type FailoverSettings, shardingSettings } from "./failover.ts";
import {
  chunksOf,
  createOrResumeJob,
  finishedChunks,
  JOB_FORMAT_VERSION,
  type JobFolderInvalid,
  type JobPlan,
  partName,
  partPath,
  SCORE_BATCH,
  sealPlan,
  sourceContent,
} from "./job.ts";
import { askUntilPart, type PartNeverWritten } from "./ask.ts";
import { formatScoreRows } from "../cli/score_rows.ts";
import { mergeParts } from "./merge.ts";
import { chunkEntityId, ChunkFailed, ChunkScorer } from "./protocol.ts";
import { clusterStorage, type ClusterStorageUnreachable } from "./runner.ts";

/** What `deno task score-cluster` was asked to do. */
export interface DriverOptions {
  /** The fitted-detector folder (the runners serve the same version). */
  readonly detector: string;
  /** Source arguments, as `deno task score` takes them. */
  readonly sources: ReadonlyArray<string>;
  /** Where relative paths start. */
  readonly cwd: string;
  /** The job folder (plan and parts), on storage every runner sees at the same path. */
  readonly jobDir: string;
  /** The CSV or JSON to write; standard output when absent. */
  readonly out?: string;
  /** Replace `out` when it exists (else an existing file is refused). */
  readonly overwrite?: boolean;
  readonly pg: string;
  /** Images per chunk (a multiple of 512, the model batch of `score`). */
  readonly chunkSize: number;
  /** Chunks waited on at once (the others wait in the driver, not in PostgreSQL). */
  readonly inFlight: number;
  /** Seconds between progress lines. */
  readonly progressEvery: number;
  /** Seconds to wait for one chunk's reply before asking again (same message, deduplicated). */
  readonly chunkTimeout: number;
  readonly failover: FailoverSettings;
}

/** The driver cannot run the job as asked. */
export class ClusterJobRefused extends Data.TaggedError("ClusterJobRefused")<{
  readonly what: string;
  readonly problem: string;
}> {
  override get message(): string {
    return `Cannot run the cluster job (${this.what}): ${this.problem}`;
  }
}

/** Why a run stopped: the detector, a source, the job folder, a chunk, or the cluster. */
export type DriverError =
  | Fitted.OpenFittedError
  | Sources.SourceArgumentInvalid
  | Sources.SourceError
  | Io.IoError
  | ClusterJobRefused
  | ClusterStorageUnreachable
  | JobFolderInvalid
  | ChunkFailed
  | PartNeverWritten
  | ConfigError
  | Cause.TimeoutError
  | ClusterError.MailboxFull
  | ClusterError.AlreadyProcessingMessage
  | ClusterError.PersistenceError
  | ClusterError.EntityNotAssignedToRunner;

/** How a run went, for the caller's summary and the benchmark. */
export interface DriverSummary {
  readonly images: number;
  readonly chunks: number;
  /** Chunks found finished on disk when the driver started. */
  readonly resumed: number;
  readonly flagged: number;
  readonly invalid: number;
  /** Wall time of the whole run (detector opened, plan, scoring, merge). */
  readonly seconds: number;
  /** Wall time from the first chunk sent to the last reply. */
  readonly scoringSeconds: number;
  /** Sum over the chunks scored in this run of the runners' own reading and scoring time. */
  readonly runnerSeconds: number;
}

/**
 * Plan the job: every source opened once to count its images. With the plan, the files the run
 * reads (the detector, and each source argument's files with the spec file it names, which the
 * plan's sources do not keep): what neither `--out` nor the job folder may be.
 */
const planJob = (
  detector: Fitted.LoadedDetector,
  options: DriverOptions,
) =>
  Effect.gen(function* () {
    if (options.chunkSize <= 0 || options.chunkSize % SCORE_BATCH !== 0) {
      return yield* new ClusterJobRefused({
        what: "--chunk",
        problem: `the chunk size must be a positive multiple of ${SCORE_BATCH} (the model batch ` +
          "of `deno task score`, so that every image is scored in the same batch)",
      });
    }
    const sources = yield* Effect.forEach(options.sources, (argument) =>
      Effect.gen(function* () {
        const parsed = yield* Sources.parseSourceArgument(argument, options.cwd);
        const opened = yield* Sources.openSource(parsed.spec, {
          baseDir: parsed.baseDir,
          shape: detector.inputSpec.shape,
        });
        const baseDir = resolve(parsed.baseDir);
        return {
          planned: {
            argument,
            spec: parsed.spec,
            baseDir,
            count: opened.count,
          },
          // The spec file too (`spec.json --out spec.json` would replace what it read).
          paths: Sources.argumentPaths({ ...parsed, baseDir: resolve(parsed.baseDir) }),
        };
      }));
    const inputs = [resolve(detector.folder), ...sources.flatMap((s) => s.paths)];
    if (options.out !== undefined) {
      const out = resolve(options.out);
      yield* Io.checkOutputFile(out, {
        inputs: [...inputs, resolve(options.jobDir)],
        overwrite: options.overwrite === true,
      }).pipe(
        Effect.mapError((error) =>
          new ClusterJobRefused({
            what: "--out",
            problem: error._tag === "OutputFolderRefused"
              ? `${out}: ${error.reason}`
              : error.message,
          })
        ),
      );
    }
    // Hashed after --out is checked: reading every source's bytes is the slow part of a plan.
    const planned = yield* Effect.forEach(
      sources,
      (s) => Effect.map(sourceContent(s.planned), (content) => ({ ...s.planned, content })),
    );
    const plan = sealPlan<JobPlan>({
      format: "grood-cluster-score-job",
      version: JOB_FORMAT_VERSION,
      detector: { folder: resolve(detector.folder), version: detector.version },
      chunkSize: options.chunkSize,
      sources: planned,
    });
    return { plan, inputs };
  });

/** Healthy runners in the cluster's runner table (what the progress line shows). */
export const runnersAlive = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient;
  const rows = yield* sql<{ readonly count: number }>`
    SELECT count(*)::int AS count FROM cluster_runners WHERE healthy`;
  return String(rows[0]?.count ?? 0);
}).pipe(
  Effect.timeout("2 seconds"),
  Effect.orElseSucceed(() => "?"),
);

/** Send every unfinished chunk and wait until each has its part on disk. */
const scoreChunks = (plan: JobPlan, options: DriverOptions, log: (line: string) => void) =>
  Effect.gen(function* () {
    const chunks = chunksOf(plan);
    const finished = yield* finishedChunks(options.jobDir);
    const todo = chunks.filter((c) => !finished.has(partName(c)));
    const resumed = chunks.length - todo.length;
    const done = yield* Ref.make({ chunks: resumed, images: 0, runnerSeconds: 0 });
    const began = performance.now();
    const makeClient = yield* ChunkScorer.client;
    const run = crypto.randomUUID();
    if (resumed > 0) log(`resuming: ${resumed} of ${chunks.length} chunks already scored`);

    const progress = Effect.gen(function* () {
      const now = yield* Ref.get(done);
      const seconds = (performance.now() - began) / 1000;
      const runners = yield* runnersAlive;
      log(
        `chunks ${now.chunks}/${chunks.length} done, ` +
          `${(now.images / Math.max(seconds, 1e-9)).toFixed(0)} images/s, runners alive ${runners}`,
      );
    });
    yield* Effect.forkScoped(
      Effect.repeat(
        Effect.delay(progress, Duration.seconds(options.progressEvery)),
        Schedule.forever,
      ),
    );

    const partExists = (chunk: { source: number; start: number }) =>
      Effect.promise(() =>
        Deno.stat(partPath(options.jobDir, chunk)).then(() => true, () => false)
      );

    const sendChunk = (chunk: (typeof chunks)[number]) =>
      Effect.gen(function* () {
        const reply = yield* askUntilPart({
          chunk: `${chunk.source}:${chunk.start}`,
          part: partPath(options.jobDir, chunk),
          ask: (attempt) => {
            const request = { job: plan.id, jobDir: options.jobDir, ...chunk, attempt, run };
            return makeClient(chunkEntityId(request)).Score(request);
          },
          hasPart: partExists(chunk),
          run,
          timeout: options.chunkTimeout,
          log,
        });
        yield* Ref.update(done, (d) => ({
          chunks: d.chunks + 1,
          images: d.images + reply.images,
          runnerSeconds: d.runnerSeconds + reply.seconds,
        }));
      });

    yield* Effect.forEach(todo, sendChunk, { concurrency: options.inFlight, discard: true });
    const scoringSeconds = (performance.now() - began) / 1000;
    yield* progress;
    const { runnerSeconds } = yield* Ref.get(done);
    return { chunks: chunks.length, resumed, scoringSeconds, runnerSeconds };
  });

/**
 * Run (or resume) a cluster scoring job and write the merged rows.
 *
 * @example
 * ```ts ignore
 * import { Effect } from "effect";
 * import { runDriver } from "./driver.ts";
 * import { DEFAULT_FAILOVER } from "./failover.ts";
 * await Effect.runPromise(runDriver({
 *   detector: "my-detector", sources: ["images/"], cwd: ".", jobDir: "/shared/job-1",
 *   out: "scores.csv", pg: "postgres://grood@db/grood", chunkSize: 512, inFlight: 256,
 *   progressEvery: 2, chunkTimeout: 600, failover: DEFAULT_FAILOVER,
 * }, console.error));
 * ```
 */
export const runDriver = (
  options: DriverOptions,
  log: (line: string) => void,
): Effect.Effect<DriverSummary, DriverError> =>
  Effect.scoped(Effect.gen(function* () {
    const began = performance.now();
    const detector = yield* Fitted.openFittedDetector(options.detector);
    const planned = yield* planJob(detector, options);
    const { state, plan } = yield* createOrResumeJob(options.jobDir, planned.plan, [
      ...planned.inputs,
      ...(options.out === undefined ? [] : [options.out]),
    ]);
    log(
      `job ${plan.id.slice(0, 12)} ${state} in ${options.jobDir}: ` +
        `${plan.sources.reduce((n, s) => n + s.count, 0)} images, ` +
        `${chunksOf(plan).length} chunks of ${plan.chunkSize}`,
    );
    const cluster = NodeClusterSocket.layer({
      clientOnly: true,
      storage: "sql",
      shardingConfig: shardingSettings(options.failover),
    }).pipe(Layer.provideMerge(clusterStorage(options.pg)));
    const { chunks, resumed, scoringSeconds, runnerSeconds } = yield* Effect.provide(
      scoreChunks(plan, options, log),
      cluster,
    );
    const rows = yield* mergeParts(options.jobDir, plan, detector.manifest.model.classNames);
    const text = formatScoreRows(rows, {
      ...(options.out === undefined ? {} : { out: options.out }),
      detector: detector.folder,
      threshold: detector.manifest.threshold,
    });
    if (options.out === undefined) {
      yield* Effect.promise(() => Deno.stdout.write(new TextEncoder().encode(text)));
    } else {
      yield* Effect.tryPromise({
        try: () => Io.writeFileAtomic(options.out!, text),
        catch: (error) => new ClusterJobRefused({ what: "--out", problem: String(error) }),
      });
    }
    return {
      images: rows.length,
      chunks,
      resumed,
      flagged: rows.filter((r) => r.verdict === "ood").length,
      invalid: rows.filter((r) => r.verdict === "invalid").length,
      seconds: (performance.now() - began) / 1000,
      scoringSeconds,
      runnerSeconds,
    };
  }));
