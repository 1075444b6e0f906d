/**
 * What a runner does with one chunk of a distributed fit: read the job's plan, open the model
 * (checked against the plan's content hash) and the training source (kept open for the job's
 * next chunks), and either map images [start, end) of the training stream with GROOD's chunk map
 * (`Detectors.mapFeatureChunk`, the code the one-process fit runs) or make the descriptors of
 * that chunk's kept rows with the job's prototypes; then write the part atomically. Every
 * failure comes back as `ChunkFailed` naming the chunk and the cause.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { Effect, Exit, Scope } from "effect";
import type { Schema } from "effect";
import {
  Compute,
  Detectors,
  Fitted,
  type Models,
  type Sources,
  Stages,
  startCompute,
} from "../../mod.ts";
import {
  encodeDescriptorPart,
  encodeFeaturePart,
  fitChunksOf,
  fitPartPath,
  type FitPlan,
  prototypesPath,
  readFeaturePart,
  readFitPlan,
  readPrototypes,
  writePartFile,
} from "./fit_job.ts";
import { ChunkFailed, fitChunkKey, type FitChunkRequest } from "./protocol.ts";
import { trainingChunk } from "./training_chunk.ts";

/** A fit chunk as the message names it. */
export type FitChunk = Schema.Struct.Type<typeof FitChunkRequest>;

/** A job's plan with its model and training source, opened once for its chunks. */
interface OpenedJob {
  readonly plan: FitPlan;
  readonly model: Models.FeatureModel;
  readonly training: Sources.OpenedSource;
  readonly ranks: ReadonlyMap<number, number>;
  readonly scope: Scope.Closeable;
}

/** The fit jobs a runner's worker has open (the newest only: a job's chunks come together). */
export interface FitterState {
  current?: OpenedJob;
}

/** Empty state for a worker. */
export const newFitterState = (): FitterState => ({});

const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

/** The job of `chunk`, opened (or the one already open). */
const openJob = (state: FitterState, chunk: FitChunk, fail: (problem: string) => ChunkFailed) =>
  Effect.gen(function* () {
    if (state.current?.plan.id === chunk.job) return state.current;
    const plan = yield* Effect.mapError(readFitPlan(chunk.jobDir), (e) => fail(e.message));
    if (plan.id !== chunk.job) {
      return yield* Effect.fail(fail(`${chunk.jobDir} holds job ${plan.id}`));
    }
    if (state.current !== undefined) {
      yield* Scope.close(state.current.scope, Exit.void);
      delete state.current;
    }
    const scope = yield* Scope.make();
    const ref: Fitted.FitTrainingRef = {
      model: plan.model.path,
      taps: plan.model.taps,
      modelSha256: plan.model.sha256,
      train: { argument: plan.train.argument, spec: plan.train.spec, baseDir: plan.train.baseDir },
      classNames: plan.classNames,
      held: plan.held,
      sourceCount: plan.sourceCount,
    };
    const opened = yield* Effect.gen(function* () {
      const model = yield* Fitted.openFitModel(ref);
      const training = yield* Fitted.openFitTraining(ref, model);
      return { model: model.model, training };
    }).pipe(
      Effect.provideServiceEffect(Compute, startCompute()),
      Scope.provide(scope),
      Effect.tapError(() => Scope.close(scope, Exit.void)),
      Effect.mapError((e) => fail(`${plan.model.path}, ${plan.train.argument}: ${e.message}`)),
    );
    const job: OpenedJob = {
      plan,
      ...opened,
      ranks: Detectors.mixupRanks(Uint32Array.from(plan.chosen)),
      scope,
    };
    state.current = job;
    return job;
  });

/** Map or describe one fit chunk and write its part; returns what the reply carries. */
export const fitChunk = (
  state: FitterState,
  chunk: FitChunk,
): Effect.Effect<{ images: number; rows: number; seconds: number }, ChunkFailed> =>
  Effect.gen(function* () {
    const began = performance.now();
    const name = fitChunkKey(chunk);
    const fail = (problem: string) => new ChunkFailed({ chunk: name, problem });
    const job = yield* openJob(state, chunk, fail);
    const range = fitChunksOf(job.plan).find((c) => c.start === chunk.start);
    if (range === undefined || range.end !== chunk.end) {
      return yield* fail("the chunk is not a chunk of the plan");
    }
    if (chunk.phase === "features") {
      const images = yield* Effect.mapError(
        trainingChunk(job.training, job.plan.held, range),
        (e) => fail(`${job.plan.train.argument}: ${e.message}`),
      );
      const mapped = yield* Effect.mapError(
        Detectors.mapFeatureChunk(job.model, images, {
          description: job.training.description,
          channels: job.training.shape.channels,
          batchSize: job.plan.batchSize,
          rankOf: job.ranks,
        }),
        (e) => fail(e.message),
      );
      yield* Effect.mapError(
        writePartFile(
          fitPartPath(chunk.jobDir, "features", chunk.start),
          encodeFeaturePart(job.plan.id, mapped),
        ),
        (e) => fail(e.message),
      );
      return {
        images: mapped.size,
        rows: mapped.keptImages.length,
        seconds: (performance.now() - began) / 1000,
      };
    }
    // Descriptors: the chunk's kept rows with the job's prototypes (the digest the driver named).
    const bytes = yield* Effect.tryPromise({
      try: () => Deno.readFile(prototypesPath(chunk.jobDir)),
      catch: (error) => fail(`cannot read the prototypes: ${error}`),
    });
    if (sha256(bytes) !== chunk.prototypes) {
      return yield* fail("the job's prototypes file is not the one the driver named");
    }
    const prototypes = yield* Effect.mapError(
      readPrototypes(chunk.jobDir, job.plan.id),
      (e) => fail(e.message),
    );
    const features = yield* Effect.mapError(
      readFeaturePart(chunk.jobDir, job.plan.id, range),
      (e) => fail(e.message),
    );
    const dim = prototypes.ood.length;
    const rows = features.keptImages.length;
    if (features.kept.length !== rows * dim) {
      return yield* fail(`its feature part holds ${features.kept.length} values for ${rows} rows`);
    }
    const descriptors = yield* Effect.mapError(
      Stages.groodDescriptors(
        { rows, cols: dim, data: features.kept },
        {
          classes: { rows: prototypes.rows, cols: dim, data: prototypes.classes },
          ood: prototypes.ood,
        },
        prototypes.temperature,
      ),
      (e) => fail(e.message),
    );
    yield* Effect.mapError(
      writePartFile(
        fitPartPath(chunk.jobDir, "descriptors", chunk.start),
        encodeDescriptorPart(job.plan.id, features, chunk.prototypes, descriptors.data),
      ),
      (e) => fail(e.message),
    );
    return { images: features.size, rows, seconds: (performance.now() - began) / 1000 };
  });
