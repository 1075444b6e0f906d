/**
 * Bench section "engines": the feature pass of grood's classifier (penultimate features and
 * logits of the ID test images, same batch) on three paths, side by side, interleaved run by
 * run so a change of load hits all three alike:
 *
 * - tfjs on wasm: `extractFeatures`, the pipeline's default engine;
 * - onnxruntime standalone: the classifier exported by `classifierToOnnx`, cut at the input
 *   and the two taps, one session on one thread, fed pre-normalised batches: the engine alone;
 * - the pipeline on onnxruntime: `openPipelineModel({ engine: "onnx" })` and its `extract`
 *   (preprocessing from uint8 pixels, the `FeatureModel` interface, copies into the result).
 *
 * Target (issue 13): the pipeline's pass at ≥ 0.9× the standalone engine's throughput.
 *
 * @module
 */
import { Effect } from "effect";
import { Compute } from "../../mod.ts";
import { channelsOf, type ImageSet } from "../../lib/data/mod.ts";
import { penultimate } from "../../lib/model/mod.ts";
import {
  classifierToOnnx,
  encodeOnnx,
  extractSubgraph,
  onnxSession,
  preprocess,
  sizeOf,
} from "../../lib/models/mod.ts";
import { openPipelineModel } from "../../lib/pipeline/mod.ts";
import { extractFeatures, type Extraction } from "../../lib/stages/mod.ts";
import { type Bench, maxAbsDifference, progress } from "./context.ts";
import { collectGarbage, timed } from "./measure.ts";
import { figure } from "./report.ts";

/** The pipeline's ONNX pass over the standalone engine: the target. */
export const PIPELINE_OVER_ONNX_TARGET = 0.9;

/** Measure the three feature passes on `test` (grood's model at `modelDir`). */
export const enginesSection = Effect.fn("enginesSection")(function* (
  bench: Bench,
  data: { readonly modelDir: string; readonly test: ImageSet; readonly tfjs: Extraction },
) {
  const { tf, net, plan, emit, section, details } = bench;
  const { modelDir, test } = data;
  const batch = plan.batchSize;
  section(`engines: feature pass (${test.count} ID test images, batch ${batch})`);
  const { backend } = yield* Compute;
  yield* Effect.scoped(Effect.gen(function* () {
    // The engine alone: the exported graph cut at input → [penultimate, logits], fed batches
    // normalised beforehand (outside the timing).
    const { model, spec } = classifierToOnnx(net);
    const outputs = [penultimate(net.spec), net.boundaries[net.boundaries.length - 1]!];
    const sub = yield* extractSubgraph(modelDir, model, ["input"], outputs);
    // onnxruntime alone: on the calling thread, as the engine runs without grood around it.
    const session = yield* onnxSession(`${modelDir} (standalone)`, encodeOnnx(sub), {
      threads: 1,
      thread: "caller",
    });
    const x = yield* preprocess(modelDir, spec.input, test.pixels, test.count, channelsOf(test));
    const per = sizeOf(x.shape.slice(1));
    const starts = Array.from({ length: Math.ceil(test.count / batch) }, (_, i) => i * batch);
    const standalone = Effect.map(
      Effect.forEach(starts, (start) => {
        const size = Math.min(batch, test.count - start);
        return session.run([[
          "input",
          {
            data: x.data.subarray(start * per, (start + size) * per),
            shape: [size, ...x.shape.slice(1)],
          },
        ]], outputs);
      }),
      (results) => results.reduce((rows, [first]) => rows + first!.shape[0]!, 0),
    );
    const pipelineModel = yield* Effect.provideService(
      openPipelineModel({ path: modelDir, kind: "grood", engine: "onnx" }),
      Compute,
      { tf, backend },
    );
    const pipeline = pipelineModel.extract(test, { batchSize: batch });
    const tfjs = extractFeatures(bench.model, test, { batchSize: batch });

    const rates = {
      tfjs: [] as Array<number>,
      onnx: [] as Array<number>,
      pipeline: [] as Array<number>,
    };
    let last: Extraction | undefined;
    for (let run = -plan.warmup; run < plan.runs; run++) {
      progress(`engines: ${run < 0 ? "warm-up" : `run ${run + 1}/${plan.runs}`}`);
      collectGarbage();
      const t = yield* timed(tfjs);
      collectGarbage();
      const o = yield* timed(standalone);
      collectGarbage();
      const p = yield* timed(pipeline);
      last = p.value;
      if (run >= 0) {
        rates.tfjs.push(test.count / t.seconds);
        rates.onnx.push(o.value / o.seconds);
        rates.pipeline.push(test.count / p.seconds);
      }
    }
    emit(figure("engines.tfjs", "features: tfjs wasm (extractFeatures)", "images/s", rates.tfjs));
    emit(
      figure(
        "engines.onnx",
        "features: onnxruntime standalone (1 thread)",
        "images/s",
        rates.onnx,
      ),
    );
    emit(
      figure(
        "engines.pipeline",
        "features: pipeline on onnxruntime (engine onnx)",
        "images/s",
        rates.pipeline,
      ),
    );
    emit(
      figure(
        "engines.pipeline_over_onnx",
        "features: pipeline over onnxruntime standalone",
        "x",
        rates.pipeline.map((r, i) => r / rates.onnx[i]!),
        {
          target: { op: ">=", value: PIPELINE_OVER_ONNX_TARGET },
          note: "same model, batch and thread count; the pipeline starts from uint8 pixels",
        },
      ),
    );
    emit(
      figure(
        "engines.onnx_over_tfjs",
        "features: pipeline on onnxruntime over tfjs wasm",
        "x",
        rates.pipeline.map((r, i) => r / rates.tfjs[i]!),
      ),
    );
    details.engines = {
      maxAbsDifferencePenultimate: maxAbsDifference(
        last!.features.penultimate.data,
        data.tfjs.features.penultimate.data,
      ),
      maxAbsDifferenceLogits: maxAbsDifference(
        last!.features.logits.data,
        data.tfjs.features.logits.data,
      ),
    };
  }));
});
