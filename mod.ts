/**
 * grood: GROOD out-of-distribution detection (gradient-aware, with a targeted mix-up OOD
 * prototype) as Effect-typed stages, declarative pipelines and ablations, on tfjs.
 *
 * Stages, each in its own module: load (`lib/data`), prototype, mix-up, gradient, index, score,
 * evaluate (`lib/stages`); models of any kind (grood's CNN, ONNX, tfjs) behind one interface
 * (`lib/models`); detectors behind one interface (`lib/detectors`); pipelines, the
 * stage cache and ablations (`lib/pipeline`); tables, plots and `.npy` exports (`lib/report`).
 *
 * @example Score the MNIST benchmark with GROOD and MSP
 * ```ts ignore
 * import { Effect } from "effect";
 * import { GroodLive, runPipeline } from "./mod.ts";
 * const { summary } = await Effect.runPromise(
 *   runPipeline({ benchmark: "mnist", detectors: [{ kind: "grood" }, { kind: "msp" }] })
 *     .pipe(Effect.provide(GroodLive())),
 * );
 * console.log(summary.toMarkdown());
 * ```
 *
 * @module
 */
export * from "./lib/compute/compute.ts";
export * from "./lib/io/idx.ts";
export * from "./lib/data/images.ts";
export * from "./lib/data/checks.ts";
export * from "./lib/data/datasets.ts";
export * from "./lib/sources/mod.ts";
export * from "./lib/sources/argument.ts";
export * from "./lib/benchmarks/spec.ts";
export * from "./lib/benchmarks/load.ts";
export { loadGeneratedSet, loadOodSet, type OodSetName, oodSets } from "./lib/data/ood/mod.ts";
export * from "./lib/model/classifier.ts";
export * from "./lib/model/store.ts";
export * from "./lib/model/train.ts";
export * from "./lib/model/predict.ts";
export * from "./lib/models/mod.ts";
export * from "./lib/stages/features.ts";
export * from "./lib/stages/model_features.ts";
export * from "./lib/stages/model_mixup.ts";
export * from "./lib/stages/prototype.ts";
export * from "./lib/stages/mixup.ts";
export * from "./lib/stages/gradient.ts";
export * from "./lib/knn/mod.ts";
export * from "./lib/stages/score.ts";
export * from "./lib/stages/evaluate.ts";
export * from "./lib/detectors/mod.ts";
export * from "./lib/detectors/grood.ts";
export * from "./lib/cache/cache.ts";
export * from "./lib/pipeline/extract.ts";
export * from "./lib/pipeline/run.ts";
export * from "./lib/pipeline/spec.ts";
export * from "./lib/pipeline/pipeline.ts";
export * from "./lib/pipeline/tables.ts";
export * from "./lib/io/npy.ts";
export * from "./lib/pipeline/progress.ts";
export * from "./lib/matrix.ts";
export * from "./lib/decode.ts";
export * from "./lib/random.ts";
export * from "./lib/model/fixture.ts";
export * from "./lib/report/mod.ts";
export * from "./lib/pipeline/recall.ts";
export { trainFixture } from "./lib/pipeline/train_fixture.ts";
export * from "./lib/fitted/mod.ts";
export * from "./lib/serve/mod.ts";
