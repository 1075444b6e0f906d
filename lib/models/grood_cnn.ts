/**
 * grood's own residual CNN (`lib/model/classifier.ts`) as a `FeatureModel` on tfjs: taps are
 * block boundaries; its input gradient is tfjs's autograd.
 *
 * @module
 */
import type * as tfType from "@tensorflow/tfjs";
import { Effect } from "effect";
import { type Classifier, INPUT, penultimate } from "../model/classifier.ts";
import { MissingTap, ModelRunFailed } from "./errors.ts";
import { type Head, headFrom, HeadUnreadable } from "./head.ts";
import { tfjsInputGradient } from "./input_gradient.ts";
import {
  checkedHead,
  checkedModel,
  describeError,
  type FeatureModel,
  type FeatureTensor,
  type ForwardPoint,
  type InputSpec,
  requireTensors,
  TAP_NAMES,
  type Taps,
} from "./model.ts";

/** What grood's CNN takes: 28×28 grey NHWC images in [0, 1], no normalisation. */
export function groodInputSpec(net: Classifier): InputSpec {
  const [height, width, channels] = net.spec.inputShape;
  return { height, width, channels, layout: "NHWC", scale: 1 / 255, mean: [0], std: [1] };
}

/**
 * The default taps of grood's CNN: early is `block1` (else its first convolutional block, else
 * the penultimate block), penultimate the pooling block, logits the last block.
 */
export function groodTaps(net: Classifier): Taps {
  const pen = penultimate(net.spec);
  const early = net.boundaries.includes("block1") ? "block1" : groodPoints(net)[0]?.name ?? pen;
  return { early, penultimate: pen, logits: net.boundaries.at(-1)! };
}

/** The convolutional block boundaries of `net` (where GROOD's early prototypes can be taken). */
export function groodPoints(
  net: Classifier,
): ReadonlyArray<{ readonly name: string; readonly shape: ReadonlyArray<number> }> {
  return net.spec.blocks
    .filter((b) => b.kind === "conv" || b.kind === "residual")
    .map((b) => ({ name: b.name, shape: net.shapeAt(b.name) }));
}

/** The dense block of `net` from the penultimate tap to the logits tap, copied out. */
export const groodHead = (
  net: Classifier,
  name: string,
  taps: Pick<Taps, "penultimate" | "logits">,
): Effect.Effect<Head, HeadUnreadable> =>
  Effect.suspend(() => {
    const fail = (reason: string) => Effect.fail(new HeadUnreadable({ model: name, reason }));
    const at = net.spec.blocks.findIndex((b) => b.name === taps.logits);
    const block = net.spec.blocks[at];
    if (block?.kind !== "dense") {
      return fail(`the logits tap "${taps.logits}" is not a dense block`);
    }
    const before = at === 0 ? INPUT : net.spec.blocks[at - 1]!.name;
    if (before !== taps.penultimate) {
      return fail(
        `the dense block "${block.name}" reads "${before}", not the penultimate tap ` +
          `"${taps.penultimate}"`,
      );
    }
    const kernel = net.variables.get(`${block.name}/kernel`);
    const bias = net.variables.get(`${block.name}/bias`);
    if (kernel === undefined || bias === undefined || kernel.shape.length !== 2) {
      return fail(`the weights "${block.name}/kernel|bias" are missing`);
    }
    return Effect.succeed(
      headFrom(kernel.dataSync() as Float32Array, kernel.shape[0]!, kernel.shape[1]!, {
        bias: bias.dataSync() as Float32Array,
      }),
    );
  });

/** Fails with `ModelRunFailed` naming the first of `names` that is not a block boundary of `net`. */
export const requireBoundaries = (net: Classifier, model: string, names: ReadonlyArray<string>) => {
  const wrong = names.find((n) => !net.boundaries.includes(n) || n === INPUT);
  const problem = `"${wrong}" is not a block boundary (${net.boundaries.join(", ")})`;
  return wrong === undefined ? Effect.void : Effect.fail(new ModelRunFailed({ model, problem }));
};

/** A classifier in memory as a `FeatureModel` (the caller keeps owning `net`). */
export const groodFeatureModel = (
  tf: typeof tfType,
  net: Classifier,
  name: string,
  taps: Taps = groodTaps(net),
): Effect.Effect<FeatureModel, MissingTap> =>
  Effect.gen(function* () {
    // The input is a boundary but no tap: a forward starts there.
    yield* requireTensors(name, taps, net.boundaries.filter((b) => b !== INPUT));
    const boundaryOf = (p: ForwardPoint) => p === "input" ? INPUT : taps[p];
    const shapes = {
      input: net.shapeAt(INPUT),
      ...Object.fromEntries(TAP_NAMES.map((t) => [t, net.shapeAt(taps[t])])),
    } as Record<ForwardPoint, ReadonlyArray<number>>;
    // From a boundary to each named one (in network order), in one pass.
    const runNamed = (x: FeatureTensor, from: string, names: ReadonlyArray<string>) =>
      Effect.andThen(
        requireBoundaries(net, name, names),
        Effect.try({
          try: (): ReadonlyArray<FeatureTensor> => {
            const values = new Map<string, FeatureTensor>();
            tf.tidy(() => {
              const index = (boundary: string) => net.boundaries.indexOf(boundary);
              const order = [...new Set(names)].sort((a, b) => index(a) - index(b));
              let at = from;
              let value: tfType.Tensor = tf.tensor(x.data, [...x.shape]);
              for (const boundary of order) {
                if (index(boundary) < index(from)) {
                  throw new Error(`tap "${boundary}" comes before "${at}" in the network`);
                }
                value = net.forward(value, { from: at, to: boundary });
                at = boundary;
                const data = value.dataSync() as Float32Array;
                values.set(boundary, { data, shape: value.shape });
              }
            });
            return names.map((name) => values.get(name)!);
          },
          catch: (error) => new ModelRunFailed({ model: name, problem: describeError(error) }),
        }),
      );
    return checkedModel({
      name,
      kind: "grood",
      input: groodInputSpec(net),
      taps,
      shapes,
      forward: (x, from, to) => runNamed(x, boundaryOf(from), to.map((t) => taps[t])),
      inputGradient: tfjsInputGradient(tf, name, (x) =>
        net.forward(x, { from: INPUT, to: taps.logits })),
      network: net,
      points: groodPoints(net),
      forwardPoints: (x, names) =>
        runNamed(x, INPUT, names),
      head: checkedHead(name, shapes, groodHead(net, name, taps)),
    }, boundaryOf);
  });
