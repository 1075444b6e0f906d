/**
 * One bounded-memory fit, alone in its own process so its peak resident memory is its own:
 * `deno run -A bench/harness/fit_memory_run.ts '<config JSON>'` fits GROOD (streamed, exact index)
 * on `images` synthetic 28×28 images (`synthetic_images.ts`, made batch by batch) with an
 * ONNX model run by onnxruntime, and prints one JSON {@link FitMemoryMeasurement} as the last
 * line of stdout (progress on stderr).
 *
 * @module
 */
import { Effect } from "effect";
import { loadSplit } from "../../lib/data/mod.ts";
import { fitGroodStreamed } from "../../lib/detectors/mod.ts";
import { Progress } from "../../mod.ts";
import { type InputSpec, openOnnxModel, sizeOf, type Taps } from "../../lib/models/mod.ts";
import { peakRss } from "./scale_run.ts";
import { syntheticImages } from "./synthetic_images.ts";

/** What the parent asks for. */
export interface FitMemoryConfig {
  readonly images: number;
  /** The ONNX model and its spec (the bench exports the fixture classifier once). */
  readonly onnxPath: string;
  readonly spec: { readonly input: InputSpec; readonly taps: Taps };
  readonly threads: number;
  readonly batchSize: number;
  /** Noise of the synthetic images (grey levels) and its seed. */
  readonly noise: number;
  readonly seed: number;
}

/** What one fit measured. */
export interface FitMemoryMeasurement {
  readonly images: number;
  /** Descriptors indexed (correctly classified images). */
  readonly indexed: number;
  readonly dim: number;
  /** RSS once the model and the base images are loaded, before the fit. */
  readonly startRssBytes: number;
  /** Peak RSS of the process (kernel high-water mark, VmHWM). */
  readonly peakRssBytes: number;
  /**
   * Bytes the fit keeps by construction for the index: the feature/descriptor buffer
   * (images × D float32), the image number of each row, and the exact index's own copy
   * (its kernel memory, the points transposed, plus norms and order).
   */
  readonly indexBytes: number;
  readonly seconds: number;
}

/** Run one fit (see the module doc). */
export const runFitMemory = (config: FitMemoryConfig) =>
  Effect.scoped(Effect.gen(function* () {
    const model = yield* openOnnxModel(config.onnxPath, config.spec, { threads: config.threads });
    const base = yield* loadSplit("mnist", "train");
    const startRssBytes = Deno.memoryUsage().rss;
    const started = performance.now();
    let reported = 0;
    const fit = yield* fitGroodStreamed(
      model,
      syntheticImages(base, config.images, config.noise, config.seed),
      { batchSize: config.batchSize },
    ).pipe(Effect.provideService(Progress, {
      report: (stage, done, total) => {
        if (done - reported >= 50_000 || done === total) {
          reported = done === total ? 0 : done;
          console.error(`progress ${stage} ${done}/${total}`);
        }
      },
    }));
    const seconds = (performance.now() - started) / 1000;
    const dim = sizeOf(model.shapes.penultimate);
    const rows = fit.descriptors.rows;
    const padded = Math.ceil(rows / 8) * 8;
    const indexBytes = config.images * dim * 4 + config.images * 4 +
      padded * (dim + 1) * 4 + rows * (8 + 8 + 4);
    const measurement: FitMemoryMeasurement = {
      images: config.images,
      indexed: rows,
      dim,
      startRssBytes,
      peakRssBytes: peakRss(),
      indexBytes,
      seconds,
    };
    fit.index.dispose();
    return measurement;
  }));

if (import.meta.main) {
  const config = JSON.parse(Deno.args[0]!) as FitMemoryConfig;
  const result = await Effect.runPromise(runFitMemory(config));
  console.log(JSON.stringify(result));
  Deno.exit(0);
}
