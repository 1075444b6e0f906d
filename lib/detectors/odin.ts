/**
 * ODIN (Liang et al., ICLR 2018; OpenOOD v1.5 `odin`): x̃ = x − ε·sign(−∇ₓ log S_ŷ(x; T)), score(x)
 * = −maxⱼ softmax(f(x̃)/T)ⱼ. Defaults T = 1000, ε tuned on validation data. It needs the model's
 * input gradient (`NeedsClassifier` otherwise); a set's gradient signs do not depend on ε, so
 * tuning computes them once per validation set.
 * Details: `docs/internals/detectors.md`.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import { type Batch, batches, channelsOf, type ImageSet } from "../data/images.ts";
import { matrix } from "../matrix.ts";
import { currentProgress } from "../progress.ts";
import { type ModelError, ModelRunFailed } from "../models/errors.ts";
import { type NonFiniteOutput, requireFiniteOutputs } from "../models/finite.ts";
import { type FeatureModel, preprocess, sizeOf } from "../models/model.ts";
import { type Detector, type ExtractedSet, fittedDetector, NeedsClassifier } from "./detector.ts";
import { requirePositiveTemperature, requireSetting, scoreChecked } from "./checks.ts";
import { mspScores } from "./msp.ts";
import { tuneUnlessFixed } from "./tune.ts";
import {
  baselineEntry,
  type Expect,
  Grid,
  NonNegativeNumber,
  optionDefaults,
  type OptionsMatch,
  PositiveInt,
  PositiveNumber,
  withDefault,
} from "./entry.ts";

/** The ε grid tuned over by default (see the module doc). */
export const ODIN_EPSILON_GRID: ReadonlyArray<number> = [0, 0.0005, 0.001, 0.0014, 0.002, 0.005];

const OdinOptionsSpec = Schema.Struct({
  temperature: withDefault(PositiveNumber, 1000),
  epsilon: Schema.optionalKey(NonNegativeNumber),
  epsilonGrid: withDefault(
    Grid(NonNegativeNumber),
    [...ODIN_EPSILON_GRID] as [number, ...number[]],
  ),
  clipToInputRange: withDefault(Schema.Boolean, false),
  batchSize: withDefault(PositiveInt, 128),
});

/** Options of {@link odin}. */
export interface OdinOptions {
  /** Temperature T (default 1000). */
  readonly temperature?: number;
  /** A fixed ε; when given, nothing is tuned. */
  readonly epsilon?: number;
  /** Grid ε is tuned over when `epsilon` is not given (default {@link ODIN_EPSILON_GRID}). */
  readonly epsilonGrid?: ReadonlyArray<number>;
  /** Clamp x̃ to [0, 1] (default false, as the reference code). */
  readonly clipToInputRange?: boolean;
  /** Images per gradient/forward batch (default 128). */
  readonly batchSize?: number;
}
type _Checked = Expect<OptionsMatch<OdinOptions, typeof OdinOptionsSpec>>;
const ODIN_DEFAULTS = optionDefaults(OdinOptionsSpec);

/** The ODIN settings every pass needs. */
export interface OdinPass {
  readonly temperature: number;
  readonly batchSize: number;
  readonly clipToInputRange: boolean;
}

/** A model with an input gradient: what ODIN runs on. */
export type DifferentiableModel = FeatureModel & {
  readonly inputGradient: NonNullable<FeatureModel["inputGradient"]>;
};

/** What ODIN's passes over the model may fail with. */
export type OdinPassError = ModelError | NonFiniteOutput;

/** One batch of `images` as the model's input tensor. */
const inputOf = (model: FeatureModel, images: ImageSet, batch: Batch) =>
  preprocess(model.name, model.input, batch.pixels, batch.size, channelsOf(images));

/**
 * sign(−∇ₓ log S_ŷ(x; T)) = sign(∇ₓ CE(f(x)/T, ŷ)) for every value of every image's model
 * input, as ±1 (sign(0) = +1), `count × (values per input)`. The perturbation is x̃ = x − ε·sign
 * (over std, see the module doc).
 */
export const odinGradientSigns = (
  model: DifferentiableModel,
  images: ImageSet,
  pass: OdinPass,
  onBatch?: (done: number, total: number) => void,
): Effect.Effect<Int8Array, OdinPassError> =>
  Effect.gen(function* () {
    const per = sizeOf(model.shapes.input);
    const signs = new Int8Array(images.count * per);
    for (const batch of batches(images, pass.batchSize)) {
      const x = yield* inputOf(model, images, batch);
      const gradient = yield* model.inputGradient(x, pass.temperature);
      if (gradient.data.length !== batch.size * per) {
        return yield* new ModelRunFailed({
          model: model.name,
          problem: `its input gradient of ${batch.size} images of "${images.name}" holds ` +
            `${gradient.data.length} values, not ${batch.size} × ${per}`,
        });
      }
      yield* requireFiniteOutputs(
        { model: model.name, set: images.name, start: batch.start, rows: batch.size },
        [["input gradient", gradient]],
      );
      const at = batch.start * per;
      for (let i = 0; i < gradient.data.length; i++) {
        signs[at + i] = gradient.data[i]! >= 0 ? 1 : -1;
      }
      onBatch?.(batch.start + batch.size, images.count);
    }
    return signs;
  });

/**
 * Per value of the model input: its channel's step 1/std and, for `clipToInputRange`, the range
 * [lo, hi] that pixels 0..255 map to.
 */
const channelTerms = (model: FeatureModel) => {
  const { channels, layout, scale, mean, std } = model.input;
  const shape = model.shapes.input;
  const plane = sizeOf(shape) / channels;
  const channelOf = (i: number) => layout === "NHWC" ? i % channels : Math.floor(i / plane);
  const terms = Array.from({ length: channels }, (_, c) => {
    const m = mean[c] ?? mean[0] ?? 0;
    const s = std[c] ?? std[0] ?? 1;
    const ends = [(0 - m) / s, (255 * scale - m) / s];
    return { step: 1 / s, lo: Math.min(...ends), hi: Math.max(...ends) };
  });
  return Array.from({ length: sizeOf(shape) }, (_, i) => terms[channelOf(i)]!);
};

/** ODIN scores −max softmax(f(x − ε·sign)/T) of every image, given the gradient signs. */
export const odinPerturbedScores = (
  model: FeatureModel,
  images: ImageSet,
  signs: Int8Array,
  epsilon: number,
  pass: OdinPass,
): Effect.Effect<Float64Array, OdinPassError> =>
  Effect.gen(function* () {
    const per = sizeOf(model.shapes.input);
    const classes = sizeOf(model.shapes.logits);
    const terms = channelTerms(model);
    // float32 steps, as a float32 engine computes x − ε·sign.
    const steps = Float32Array.from(terms, (t) => epsilon * t.step);
    const logits = new Float32Array(images.count * classes);
    for (const batch of batches(images, pass.batchSize)) {
      const x = yield* inputOf(model, images, batch);
      const moved = new Float32Array(x.data.length);
      const at = batch.start * per;
      for (let i = 0; i < moved.length; i++) {
        const j = i % per;
        const value = x.data[i]! - steps[j]! * signs[at + i]!;
        moved[i] = pass.clipToInputRange
          ? Math.min(Math.max(value, terms[j]!.lo), terms[j]!.hi)
          : value;
      }
      const [out] = yield* model.forward({ data: moved, shape: x.shape }, "input", ["logits"]);
      yield* requireFiniteOutputs(
        { model: model.name, set: images.name, start: batch.start, rows: batch.size },
        [["logits of the perturbed images", out!]],
      );
      logits.set(out!.data, batch.start * classes);
    }
    return mspScores(matrix(images.count, classes, logits), pass.temperature);
  });

/** The ODIN detector (temperature T = 1000, ε tuned on validation data by default). */
export function odin(options: OdinOptions = {}): Detector {
  const name = "ODIN";
  const { temperature, epsilonGrid: grid, batchSize, clipToInputRange } = {
    ...ODIN_DEFAULTS,
    ...options,
  };
  const pass: OdinPass = { temperature, batchSize, clipToInputRange };
  return {
    name,
    description: `ODIN: temperature T = ${temperature} and input perturbation ε ` +
      `(${
        options.epsilon === undefined ? "tuned on validation" : `= ${options.epsilon}`
      }), score −max softmax(f(x̃)/T) (Liang et al., ICLR 2018)`,
    fit: (inputs) =>
      Effect.gen(function* () {
        const model = inputs.model;
        const { inputGradient } = model;
        if (inputGradient === undefined) {
          return yield* new NeedsClassifier({
            detector: name,
            need: "the model's input gradient (its perturbation step)",
            modelKind: model.kind,
            model: model.name,
          });
        }
        const differentiable: DifferentiableModel = { ...model, inputGradient };
        yield* requirePositiveTemperature(name, temperature);
        yield* requireSetting(
          Number.isInteger(pass.batchSize) && pass.batchSize > 0,
          name,
          "batchSize",
          pass.batchSize,
          "a positive integer",
        );
        const epsilons = options.epsilon === undefined ? grid : [options.epsilon];
        yield* requireSetting(
          epsilons.every((e) => Number.isFinite(e) && e >= 0),
          name,
          options.epsilon === undefined ? "epsilonGrid" : "epsilon",
          options.epsilon ?? grid,
          "finite non-negative values",
        );
        const classes = sizeOf(model.shapes.logits);

        // Read once at fit: the fitted detector's later scoring reports where its fit did.
        const report = yield* currentProgress;
        // Gradient signs per set, kept only while tuning (they do not depend on ε).
        const signCache = new Map<ExtractedSet, Int8Array>();
        const signsOf = (set: ExtractedSet) => {
          const cached = signCache.get(set);
          return cached !== undefined ? Effect.succeed(cached) : odinGradientSigns(
            differentiable,
            set.images,
            pass,
            (done, total) =>
              report(`${name}: input gradients of "${set.images.name}"`, done, total),
          );
        };
        const scoreAt = (epsilon: number, set: ExtractedSet, keepSigns: boolean) =>
          scoreChecked(
            name,
            set,
            { classes, images: true },
            () =>
              epsilon === 0
                ? Effect.succeed(mspScores(set.features.logits, temperature))
                : Effect.gen(function* () {
                  const signs = yield* signsOf(set);
                  if (keepSigns) signCache.set(set, signs);
                  return yield* odinPerturbedScores(model, set.images, signs, epsilon, pass);
                }),
          );

        const { chosen: epsilon, tuned } = yield* tuneUnlessFixed(options.epsilon, {
          detector: name,
          parameter: "epsilon",
          grid,
          validation: inputs.validation,
          candidate: (value) =>
            Effect.succeed({ score: (set: ExtractedSet) => scoreAt(value, set, true) }),
        }).pipe(Effect.ensuring(Effect.sync(() => signCache.clear())));
        return fittedDetector({
          score: (set) => scoreAt(epsilon, set, false),
          settings: {
            temperature,
            epsilon,
            clipToInputRange: pass.clipToInputRange,
            signOfZeroGradient: 1,
          },
          tuned,
          dispose: () => signCache.clear(),
        });
      }),
  };
}

export const odinEntry = baselineEntry(odin, {
  kind: "odin",
  title: "ODIN",
  source: "Liang et al., ICLR 2018; OpenOOD `odin`",
  scoresImages: "its score perturbs every image along the network's input gradient and runs " +
    "the network again on the perturbed image",
  options: OdinOptionsSpec,
});
