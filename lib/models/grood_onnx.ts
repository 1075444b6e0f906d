/**
 * grood's own CNN with its forward pass (and ODIN's input gradient) on onnxruntime, the default
 * engine (about 5× faster than tfjs on wasm, `docs/performance.md`). Each export is checked
 * against the tfjs network when first made in a process (`OnnxExportMismatch`,
 * `OnnxGradientMismatch`) and cached by content key; forwards from a tap and the head stay on
 * tfjs. NCHW outputs are transposed back to grood's NHWC. Details: `docs/internals/models.md`.
 *
 * @module
 */
import type * as tfType from "@tensorflow/tfjs";
import { Effect, Scope } from "effect";
import { type Classifier, INPUT } from "../model/classifier.ts";
import { mulberry32 } from "../random.ts";
import { type ModelError, OnnxExportMismatch, OnnxGradientMismatch } from "./errors.ts";
import { classifierGradientToOnnx, GRADIENT_OUTPUT, TEMPERATURE_INPUT } from "./export_gradient.ts";
import { classifierToOnnx } from "./export_onnx.ts";
import { gradientDifference } from "./input_gradient.ts";
import { groodFeatureModel, requireBoundaries } from "./grood_cnn.ts";
import { checkedModel, type FeatureModel, type FeatureTensor, sizeOf, type Taps } from "./model.ts";
import { cutSessions } from "./onnx.ts";
import { type OnnxOptions, type OnnxSession, onnxSession, runSession } from "./onnx_session.ts";
import { encodeOnnx, type OnnxModel } from "./onnx_graph.ts";

/**
 * How far the export may stray from tfjs on the check sample: |onnx − tfjs| ≤
 * `EXPORT_TOLERANCE` · (1 + max |tfjs|), for the penultimate features and the logits.
 */
export const EXPORT_TOLERANCE = 1e-4;

/** Images in the export check's fixed sample (seeded noise, the same in every process). */
const CHECK_IMAGES = 16;
const CHECK_SEED = 2024;

/**
 * The largest |a − b| and the bound it must stay under. Where tfjs gives a NaN or an infinity
 * the export must give the same (`finite.ts` then names the image); any other non-finite value
 * is an infinite difference.
 */
export const exportDifference = (
  onnx: Float32Array,
  tfjs: Float32Array,
): { readonly difference: number; readonly allowed: number } => {
  let difference = onnx.length === tfjs.length ? 0 : Infinity;
  let scale = 0;
  for (let i = 0; i < tfjs.length; i++) {
    const [a, b] = [onnx[i]!, tfjs[i]!];
    if (Number.isFinite(b)) {
      difference = Math.max(difference, Math.abs(a - b));
      scale = Math.max(scale, Math.abs(b));
    } else if (!Object.is(a, b) && !(Number.isNaN(a) && Number.isNaN(b))) {
      difference = Infinity;
    }
  }
  if (Number.isNaN(difference)) difference = Infinity;
  return { difference, allowed: EXPORT_TOLERANCE * (1 + scale) };
};

/** Exports made (and checked) in this process, by model content key. */
const exports = new Map<string, OnnxModel>();
/** Input-gradient graphs made (and checked) in this process, by model content key. */
const gradients = new Map<string, OnnxModel>();

/**
 * Temperatures the gradient graph is checked at: ODIN's default 1000 only (T is an input of
 * the graph; at T = 1 the difference is rounding noise, `docs/internals/models.md`).
 */
export const GRADIENT_CHECK_TEMPERATURES: ReadonlyArray<number> = [1000];

/** NHWC → NCHW (or back, with `toNchw` false) of a batch of `h × w × c` feature maps. */
const transpose = (x: FeatureTensor, nhwc: ReadonlyArray<number>, toNchw: boolean) => {
  const [h, w, c] = nhwc as [number, number, number];
  const n = x.shape[0]!;
  const shape = toNchw ? [n, c, h, w] : [n, h, w, c];
  if (c === 1) return { data: x.data, shape };
  const plane = h * w;
  const out = new Float32Array(x.data.length);
  for (let b = 0; b < n; b++) {
    const base = b * plane * c;
    for (let p = 0; p < plane; p++) {
      for (let k = 0; k < c; k++) {
        if (toNchw) out[base + k * plane + p] = x.data[base + p * c + k]!;
        else out[base + p * c + k] = x.data[base + k * plane + p]!;
      }
    }
  }
  return { data: out, shape };
};

/** The fixed check sample: seeded uniform noise in [0, 1], NHWC at the network's input size. */
const checkSample = (net: Classifier): FeatureTensor => {
  const shape = net.spec.inputShape;
  const random = mulberry32(CHECK_SEED);
  const data = Float32Array.from(
    { length: CHECK_IMAGES * sizeOf(shape) },
    () => Math.floor(random() * 256) / 255,
  );
  return { data, shape: [CHECK_IMAGES, ...shape] };
};

/** grood's CNN `net` (still the caller's) on onnxruntime; exports are cached under `key`. */
export const groodOnnxModel = (
  tf: typeof tfType,
  net: Classifier,
  name: string,
  key: string,
  taps: Taps,
  options: OnnxOptions = {},
): Effect.Effect<FeatureModel, ModelError, Scope.Scope> =>
  Effect.gen(function* () {
    const tfjs = yield* groodFeatureModel(tf, net, name, taps);
    const label = `${name} (exported to ONNX)`;
    const known = exports.get(key);
    const graph = known ?? classifierToOnnx(net, taps.early).model;
    const sessionFor = yield* cutSessions(label, graph, options);
    // From the input to block boundaries (spatial ones NHWC in grood's layout), in one pass.
    const run = (x: FeatureTensor, names: ReadonlyArray<string>) =>
      Effect.gen(function* () {
        yield* requireBoundaries(net, name, names);
        const wanted = [...new Set(names)];
        const session = yield* sessionFor(INPUT, wanted);
        const feed = transpose(x, net.spec.inputShape, true);
        const outputs = yield* runSession(session, INPUT, feed, wanted);
        const byName = new Map(wanted.map((n, i) => {
          const shape = net.shapeAt(n);
          const out = outputs[i]!;
          return [n, shape.length === 3 ? transpose(out, shape, false) : out] as const;
        }));
        return names.map((n) => byName.get(n)!);
      });
    if (known === undefined) {
      // Checked once, when made: the same sample through both engines.
      const sample = checkSample(net);
      const [pen, logits] = yield* tfjs.forward(sample, "input", ["penultimate", "logits"]);
      const [onnxPen, onnxLogits] = yield* run(sample, [taps.penultimate, taps.logits]);
      const pairs = [["penultimate", onnxPen!, pen!], ["logits", onnxLogits!, logits!]] as const;
      for (const [output, a, b] of pairs) {
        const { difference, allowed } = exportDifference(a.data, b.data);
        if (!(difference <= allowed)) {
          return yield* new OnnxExportMismatch({ model: name, output, difference, allowed });
        }
      }
      exports.set(key, graph);
    }
    // The gradient graph and its session: made on first use (ODIN only), then kept.
    const runGradient = (session: OnnxSession, x: FeatureTensor, temperature: number) =>
      Effect.map(
        session.run([
          [INPUT, transpose(x, net.spec.inputShape, true)],
          [TEMPERATURE_INPUT, { data: Float32Array.of(temperature), shape: [] }],
        ], [GRADIENT_OUTPUT]),
        ([gradient]) => transpose(gradient!, net.spec.inputShape, false),
      );
    const scope = yield* Effect.scope;
    const gradientSession = yield* Effect.cached(Effect.gen(function* () {
      const made = gradients.get(key);
      const graph = made ?? classifierGradientToOnnx(net);
      const session = yield* Effect.provideService(
        onnxSession(`${label}: input gradient`, encodeOnnx(graph), options),
        Scope.Scope,
        scope,
      );
      if (made === undefined) {
        // Checked once, when made: the same sample through tfjs's autograd and the graph.
        const sample = checkSample(net);
        for (const temperature of GRADIENT_CHECK_TEMPERATURES) {
          const expected = yield* tfjs.inputGradient!(sample, temperature);
          const got = yield* runGradient(session, sample, temperature);
          const check = {
            model: name,
            temperature,
            ...gradientDifference(got.data, expected.data),
          };
          if (!(check.difference <= check.allowed)) return yield* new OnnxGradientMismatch(check);
        }
        gradients.set(key, graph);
      }
      return session;
    }));
    // With a logits tap other than the last block, the gradient stays on tfjs.
    const onnxGradient = (x: FeatureTensor, temperature: number) =>
      Effect.flatMap(gradientSession, (session) => runGradient(session, x, temperature));
    return checkedModel({
      ...tfjs,
      ...(taps.logits === net.boundaries.at(-1) && { inputGradient: onnxGradient }),
      forward: (x, from, to) =>
        from === "input" ? run(x, to.map((t) => taps[t])) : tfjs.forward(x, from, to),
      forwardPoints: run,
    }, (from) => from === "input" ? INPUT : taps[from]);
  });
