/**
 * The distributed-fit driver (`grood cluster fit`): runs `Fitted.fitDetectorFolder`, the code
 * `grood fit` runs, with the cluster as the mapper of GROOD's chunks. When the fit knows its
 * training data it writes the plan into the job folder and sends one persisted message per
 * feature chunk that has no part yet; while the runners map, it reads the training source once
 * itself (its checksum and the held-out validation images, as `grood fit` does). It reads the
 * parts back in chunk order into the same reduce, computes the OOD prototype, writes the
 * prototypes file and sends the descriptor chunks, then the fit builds the index and writes the
 * folder with the same writer. Killed and started again with the same arguments it resumes:
 * parts on disk are not asked for again, and a chunk asked for before is deduplicated by its key
 * in PostgreSQL.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket";
import { Duration, Effect, Layer, Ref, Schedule, type Scope, Stream } from "effect";
import { SqlClient } from "effect/sql";
import { type Compute, Detectors, Fitted, Sources } from "../../mod.ts";
import { runnersAlive } from "./driver.ts";
import { type FailoverSettings, shardingSettings } from "./failover.ts";
import {
  encodePrototypes,
  fitChunksOf,
  fitPartPath,
  type FitPhase,
  type FitPlan,
  prototypesPath,
  readDescriptorPart,
  readFeaturePart,
  readFitPlan,
  writePartFile,
} from "./fit_job.ts";
import { JOB_FORMAT_VERSION, openJobFolder, sameJob, sealPlan, sourceContent } from "./job.ts";
import { askUntilPart } from "./ask.ts";
import { ChunkScorer, fitEntityId } from "./protocol.ts";
import { clusterStorage } from "./runner.ts";

/** What `grood cluster fit` was asked to do. */
export interface FitDriverOptions {
  /** The fit, as `grood fit` takes it (GROOD in its streamed form; `mapper` is the cluster). */
  readonly fit: Omit<Fitted.FitOptions, "mapper">;
  /** The job folder (plan and parts), on storage every runner sees at the same path. */
  readonly jobDir: string;
  readonly pg: string;
  /** Chunks waited on at once. */
  readonly inFlight: number;
  /** Seconds between progress lines. */
  readonly progressEvery: number;
  /** Seconds to wait for one chunk's reply before asking again (same message, deduplicated). */
  readonly chunkTimeout: number;
  readonly failover: FailoverSettings;
}

const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

const mapFailed = (what: string) => (error: { readonly message: string }) =>
  new Detectors.ChunkMapFailed({ what, problem: error.message });

/** Whether a chunk of `phase` has its part on disk (written atomically: whole or absent). */
const partDone = (phase: FitPhase, jobDir: string, start: number) =>
  Effect.promise(() => Deno.stat(fitPartPath(jobDir, phase, start)).then(() => true, () => false));

/** The cluster as the fit's mapper: `makeClient` sends the chunk messages; `log` shows progress. */
const clusterMapper = (
  options: FitDriverOptions,
  training: Fitted.StreamedTraining,
  cluster: {
    readonly makeClient: Effect.Success<typeof ChunkScorer.client>;
    /** Healthy runners (for the progress line). */
    readonly alive: Effect.Effect<string>;
  },
  log: (line: string) => void,
): Detectors.ChunkMapper<Sources.SourceError> => {
  const { makeClient, alive } = cluster;
  const { jobDir } = options;
  let plan: FitPlan | undefined;

  /** Send every chunk of `phase` without a part and wait for each part. */
  const sendAll = (
    phase: FitPhase,
    chunks: ReadonlyArray<{ readonly start: number; readonly end: number }>,
    prototypes: string,
    done: (start: number) => Effect.Effect<boolean>,
  ) =>
    Effect.scoped(Effect.gen(function* () {
      const job = plan!.id;
      const todo: Array<{ readonly start: number; readonly end: number }> = [];
      for (const chunk of chunks) if (!(yield* done(chunk.start))) todo.push(chunk);
      const finished = yield* Ref.make({ chunks: chunks.length - todo.length, images: 0 });
      if (todo.length < chunks.length) {
        log(`${phase}: ${chunks.length - todo.length} of ${chunks.length} chunks already done`);
      }
      const began = performance.now();
      // This run's id in its messages: a failure stored by an earlier run is asked again.
      const run = crypto.randomUUID();
      const progress = Effect.gen(function* () {
        const now = yield* Ref.get(finished);
        const seconds = Math.max((performance.now() - began) / 1000, 1e-9);
        log(
          `${phase}: chunks ${now.chunks}/${chunks.length} done, ` +
            `${(now.images / seconds).toFixed(0)} images/s, runners alive ${yield* alive}`,
        );
      });
      yield* Effect.forkScoped(
        Effect.repeat(
          Effect.delay(progress, Duration.seconds(options.progressEvery)),
          Schedule.forever,
        ),
      );
      const send = (chunk: { readonly start: number; readonly end: number }) =>
        Effect.gen(function* () {
          const reply = yield* askUntilPart({
            chunk: `${phase} ${chunk.start}`,
            part: fitPartPath(jobDir, phase, chunk.start),
            ask: (attempt) => {
              const request = { job, jobDir, phase, ...chunk, prototypes, attempt, run };
              return makeClient(fitEntityId(request)).Fit(request);
            },
            hasPart: done(chunk.start),
            run,
            timeout: options.chunkTimeout,
            log,
          });
          yield* Ref.update(finished, (d) => ({
            chunks: d.chunks + 1,
            images: d.images + reply.images,
          }));
        });
      yield* Effect.forEach(todo, send, { concurrency: options.inFlight, discard: true });
      yield* progress;
    })).pipe(Effect.mapError(mapFailed(`${phase} chunks`)));

  return {
    features: (job) =>
      Stream.unwrap(Effect.gen(function* () {
        const fit = options.fit;
        const planned = sealPlan<FitPlan>({
          format: "grood-cluster-fit-job",
          version: JOB_FORMAT_VERSION,
          model: { path: resolve(fit.model), taps: { ...fit.taps }, sha256: training.modelSha256 },
          train: {
            argument: fit.train.argument,
            spec: fit.train.spec,
            baseDir: resolve(fit.train.baseDir),
            content: yield* sourceContent({
              spec: fit.train.spec,
              baseDir: resolve(fit.train.baseDir),
            }),
          },
          classNames: training.classNames,
          held: [...training.held].sort((a, b) => a - b),
          sourceCount: training.sourceCount,
          trainCount: training.trainCount,
          chunk: job.chunk,
          batchSize: job.batchSize,
          chosen: Array.from(job.chosen),
        });
        const opened = yield* Effect.mapError(
          openJobFolder(jobDir, planned, {
            read: readFitPlan,
            same: sameJob<FitPlan>,
            inputs: [fit.model, ...Sources.sourcePaths(fit.train.spec, fit.train.baseDir), fit.out],
          }),
          mapFailed(`--job ${jobDir}`),
        );
        plan = opened.plan;
        const chunks = fitChunksOf(plan);
        log(
          `fit job ${plan.id.slice(0, 12)} ${opened.state} in ${jobDir}: ` +
            `${plan.trainCount} training images, ${chunks.length} chunks of ${plan.chunk}`,
        );
        // The training source is read here once too (its checksum, the held-out images).
        yield* Effect.all([
          Stream.runDrain(job.train.batches(job.chunk)),
          sendAll("features", chunks, "", (start) => partDone("features", jobDir, start)),
        ], { concurrency: "unbounded", discard: true });
        const id = plan.id;
        return Stream.fromIterable(chunks).pipe(
          Stream.mapEffect((chunk) =>
            Effect.mapError(readFeaturePart(jobDir, id, chunk), mapFailed("a feature part"))
          ),
        );
      })),
    descriptors: (prototypes, temperature) =>
      Stream.unwrap(Effect.gen(function* () {
        const id = plan!.id;
        const bytes = encodePrototypes(id, prototypes, prototypes.ood, temperature);
        const digest = sha256(bytes);
        yield* Effect.mapError(
          writePartFile(prototypesPath(jobDir), bytes),
          mapFailed("the prototypes file"),
        );
        const chunks = fitChunksOf(plan!);
        // A descriptor part counts only when it was made with these prototypes.
        const done = (start: number) =>
          readDescriptorPart(jobDir, id, {
            start,
            end: chunks.find((c) => c.start === start)!.end,
          }, digest)
            .pipe(
              Effect.as(true),
              Effect.orElseSucceed(() => false),
            );
        yield* sendAll("descriptors", chunks, digest, done);
        return Stream.fromIterable(chunks).pipe(
          Stream.mapEffect((chunk) =>
            Effect.mapError(
              readDescriptorPart(jobDir, id, chunk, digest),
              mapFailed("a descriptor part"),
            )
          ),
        );
      })),
  };
};

// Typed by inference here; exported below with its signature spelled out.
const fitDriver = (options: FitDriverOptions, log: (line: string) => void) =>
  Effect.gen(function* () {
    const spec = yield* Detectors.decodeDetector(options.fit.detector ?? { kind: "grood" });
    if (Fitted.streamedGroodOptions(spec) === undefined) {
      return yield* new Detectors.ChunkMapFailed({
        what: "--detector",
        problem: `a distributed fit runs GROOD's streamed fit only (kind grood, gradient ` +
          `descriptors, exact or ivf index, OOD prototype by mix-up or the mean of the ` +
          `prototypes, no temperature grid); fit ${spec.kind} with grood fit`,
      });
    }
    const cluster = NodeClusterSocket.layer({
      clientOnly: true,
      storage: "sql",
      shardingConfig: shardingSettings(options.failover),
    }).pipe(Layer.provideMerge(clusterStorage(options.pg)));
    return yield* Effect.provide(
      Effect.gen(function* () {
        const makeClient = yield* ChunkScorer.client;
        const sql = yield* SqlClient.SqlClient;
        const alive = Effect.provideService(runnersAlive, SqlClient.SqlClient, sql);
        return yield* Fitted.fitDetectorFolder({
          ...options.fit,
          mapper: (training) => clusterMapper(options, training, { makeClient, alive }, log),
        });
      }),
      cluster,
    );
  });

/** What `runFitDriver` can fail with: the fit's errors, the cluster's, the chunks'. */
export type FitDriverError = Effect.Error<ReturnType<typeof fitDriver>>;

/**
 * Run (or resume) a distributed fit and write the fitted folder `options.fit.out`; returns its
 * manifest. GROOD only, in the form its streamed fit takes (gradient descriptors, exact or IVF
 * index, OOD prototype by mix-up or the mean of the prototypes, no temperature grid).
 */
export const runFitDriver: (
  options: FitDriverOptions,
  log: (line: string) => void,
) => Effect.Effect<Fitted.FittedManifest, FitDriverError, Scope.Scope | Compute> = fitDriver;
