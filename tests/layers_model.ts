/**
 * A small tfjs LayersModel for tests, saved the way tfjs saves (`model.json` + `weights.bin`)
 * with its `model-spec.json`: 28×28 grey NHWC input, two strided convolutions (`early_block` with
 * ReLU, `late_block` linear), global average pooling (`features`, the penultimate tap) and a Dense head
 * (`scores`, the logits tap; `activation` configurable so a non-linear head can be tested).
 * The weights are seeded, untrained.
 *
 * @module
 */
import type * as tfType from "@tensorflow/tfjs";
import { join } from "node:path";
import type { ModelSpec } from "../lib/models/model.ts";
import { tf } from "./with_compute.ts";

/** Write the model into `dir` (created) and return `dir`. */
export async function writeLayersModel(
  dir: string,
  options: { readonly activation?: "linear" | "softmax"; readonly classes?: number } = {},
): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const input = tf.input({ shape: [28, 28, 1], name: "image" });
  // A bias and a linear last convolution keep the pooled features away from exactly 0 (fDBD
  // divides by their norm) even on a blank image.
  const conv = (name: string, filters: number, seed: number, activation: "relu" | "linear") =>
    tf.layers.conv2d({
      filters,
      kernelSize: 3,
      strides: 2,
      padding: "same",
      activation,
      name,
      kernelInitializer: tf.initializers.glorotUniform({ seed }),
      biasInitializer: tf.initializers.constant({ value: 0.1 }),
    });
  const early = conv("early_block", 8, 1, "relu").apply(input) as tfType.SymbolicTensor;
  const late = conv("late_block", 16, 2, "linear").apply(early) as tfType.SymbolicTensor;
  const pooled = tf.layers.globalAveragePooling2d({ name: "features" })
    .apply(late) as tfType.SymbolicTensor;
  const logits = tf.layers.dense({
    units: options.classes ?? 10,
    name: "scores",
    activation: options.activation ?? "linear",
    kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }),
    biasInitializer: tf.initializers.randomUniform({ minval: -0.5, maxval: 0.5, seed: 4 }),
  }).apply(pooled) as tfType.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: logits });
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    await Deno.writeFile(
      join(dir, "weights.bin"),
      new Uint8Array(artifacts.weightData as ArrayBuffer),
    );
    await Deno.writeTextFile(
      join(dir, "model.json"),
      JSON.stringify({
        format: "layers-model",
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ["weights.bin"], weights: artifacts.weightSpecs }],
      }),
    );
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
  }));
  model.dispose();
  const spec: ModelSpec = {
    kind: "tfjs-layers",
    input: {
      height: 28,
      width: 28,
      channels: 1,
      layout: "NHWC",
      scale: 1 / 255,
      mean: [0],
      std: [1],
    },
    taps: { early: "early_block", penultimate: "features", logits: "scores" },
  };
  await Deno.writeTextFile(join(dir, "model-spec.json"), JSON.stringify(spec));
  return dir;
}
