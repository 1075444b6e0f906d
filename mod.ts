/**
 * grood: GROOD out-of-distribution detection (gradient-aware, with a targeted mix-up OOD
 * prototype) as Effect-typed stages, declarative pipelines and ablations, on tfjs.
 *
 * The API is grouped in namespaces, from the bottom up: `Io` (files, `.npy`, IDX), `Cache`
 * (the stage cache service), `Data` (image sets, datasets, the generated OOD sets), `Sources`
 * (image folders, `.npy`, IDX, CIFAR), `Benchmarks` (benchmark files), `Classifier` (grood's own
 * CNN), `Models` (models of any kind: grood's CNN, ONNX, tfjs), `Knn` (nearest-neighbour
 * indexes), `Stages` (features, prototype, mix-up, gradient, score, evaluate), `Detectors` (GROOD,
 * the baselines and their registry), `Fitted` (fitted-detector folders: fit on any model and
 * data, save, open, score), `Pipeline` (benchmarks run end to end, ablations, tables), `Report`
 * (plots, notebook display, the results page, exports). The HTTP scoring service is an app built
 * on these: `grood/serve` (`apps/serve/mod.ts`). The services read from the Effect context,
 * `Compute` (tfjs and its backend) and `StageCache`, are provided together by `GroodLive`;
 * `StageCache` and `Progress` are references with defaults (off, quiet), so a program runs
 * without them. Log lines go through `Effect.log`, `groodLogger` formats them. Also here: the
 * errors shared by several namespaces (`InvalidParameter`, `NonFiniteInput`, `InvalidInput`) and
 * the strict Schema decoders behind every file read (`decodeStrict`, `decodeJsonText`). Each
 * namespace is also an entry of its own (`grood/stages`, `grood/detectors`, …), where `deno doc`
 * shows its members.
 *
 * @example Score the MNIST benchmark with GROOD and MSP
 * ```ts ignore
 * import { Effect } from "effect";
 * import { GroodLive, Pipeline } from "./mod.ts";
 * const { summary } = await Effect.runPromise(
 *   Pipeline.runPipeline({ benchmark: "mnist", detectors: [{ kind: "grood" }, { kind: "msp" }] })
 *     .pipe(Effect.provide(GroodLive())),
 * );
 * console.log(summary.toMarkdown());
 * ```
 *
 * @module
 */
export {
  type BackendName,
  BackendUnavailable,
  Compute,
  type ComputeShape,
  parseBackend,
  startCompute,
} from "./lib/compute/compute.ts";
export {
  type Cached,
  type CacheRequest,
  type CacheStats,
  type Codec,
  StageCache,
  type StageCacheOptions,
  type StageCacheReference,
  type StageCacheShape,
} from "./lib/cache/cache.ts";
export {
  currentProgress,
  Progress,
  progressLayer,
  type ProgressReporter,
  type ProgressShape,
  quietProgress,
  reportProgress,
} from "./lib/progress.ts";
export { groodLogger, lineLogger, type LogLine } from "./lib/logger.ts";
export type { NpyData } from "./lib/io/npy.ts";
export { GroodLive } from "./lib/pipeline/pipeline.ts";
export { InvalidParameter, NonFiniteInput } from "./lib/errors.ts";
export {
  decodeJsonText,
  decodeStrict,
  describeIssue,
  type InputProblem,
  InvalidInput,
  nearest,
} from "./lib/decode.ts";
export * as Io from "./lib/io/mod.ts";
export * as Cache from "./lib/cache/mod.ts";
export * as Data from "./lib/data/mod.ts";
export * as Sources from "./lib/sources/mod.ts";
export * as Benchmarks from "./lib/benchmarks/mod.ts";
export * as Classifier from "./lib/model/mod.ts";
export * as Models from "./lib/models/mod.ts";
export * as Knn from "./lib/knn/mod.ts";
export * as Stages from "./lib/stages/mod.ts";
export * as Detectors from "./lib/detectors/mod.ts";
export * as Pipeline from "./lib/pipeline/mod.ts";
export * as Report from "./lib/report/mod.ts";
export * as Fitted from "./lib/fitted/mod.ts";
