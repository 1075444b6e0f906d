/**
 * One interface for every classifier grood can run: its input spec, its three taps (early,
 * penultimate, logits) and forward passes from the input or from a tap (GROOD's mix-up feeds
 * edited early features to the rest of the network). Values cross it as plain float32 arrays,
 * so every engine and every stage can be mixed and tested alone.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import { ClassNames } from "../decode.ts";
import { InputShapeMismatch, MissingTap, type ModelError } from "./errors.ts";
import type { Classifier } from "../model/classifier.ts";
import type { ClassifierMetadata } from "../model/store.ts";
import { type Head, HeadUnreadable } from "./head.ts";

/** An engine's exception as text (for `ModelUnreadable` and `ModelRunFailed`). */
export const describeError = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);

/** A batch of values: row-major float32 data and its shape (batch axis first). */
export interface FeatureTensor {
  /** Row-major float32 values. */
  readonly data: Float32Array;
  /** Shape of `data`, batch axis first. */
  readonly shape: ReadonlyArray<number>;
}

/** The three taps GROOD (and the other detectors) read. */
export const TAP_NAMES = ["early", "penultimate", "logits"] as const;
/** A tap name. */
export type TapName = typeof TAP_NAMES[number];
/** Where a forward pass can start: the model input or a tap. */
export type ForwardPoint = "input" | TapName;

/** How images become the model's input tensor (declared next to the model). */
export const InputSpecSchema: Schema.Struct<{
  readonly height: Schema.Int;
  readonly width: Schema.Int;
  readonly channels: Schema.Int;
  readonly layout: Schema.Literals<readonly ["NHWC", "NCHW"]>;
  readonly scale: Schema.Finite;
  readonly mean: Schema.$Array<Schema.Finite>;
  readonly std: Schema.$Array<Schema.Finite>;
}> = Schema.Struct({
  height: Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(1))),
  width: Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(1))),
  channels: Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(1))),
  layout: Schema.Literals(["NHWC", "NCHW"]),
  /** Multiplies the uint8 pixel values first (1/255 maps them to [0, 1]). */
  scale: Schema.Finite.pipe(Schema.check(Schema.isGreaterThan(0))),
  /** Per-channel mean subtracted after scaling (one value = every channel). */
  mean: Schema.Array(Schema.Finite),
  /** Per-channel standard deviation divided by after the mean (one value = every channel). */
  std: Schema.Array(Schema.Finite.pipe(Schema.check(Schema.isGreaterThan(0)))),
}).pipe(
  // One value for every channel or one per channel: any other count used to be read silently.
  Schema.check(
    Schema.makeFilter((
      spec: { channels: number; mean: ReadonlyArray<number>; std: ReadonlyArray<number> },
    ) => {
      const wrong = (["mean", "std"] as const).flatMap((key) =>
        spec[key].length === 1 || spec[key].length === spec.channels
          ? []
          : [`${key} holds ${spec[key].length}`]
      );
      return wrong.length === 0 ? undefined : `Expected mean and std to hold 1 value (every ` +
        `channel)${spec.channels === 1 ? "" : ` or ${spec.channels} (one per channel)`} for ` +
        `${spec.channels} channel${spec.channels === 1 ? "" : "s"}; ${wrong.join(", ")}`;
    }),
  ),
);
/** The input spec of a model. */
export type InputSpec = typeof InputSpecSchema.Type;

/** Tap name → the engine's name for it (ONNX tensor, tfjs layer or node, grood block). */
export const TapsSchema: Schema.Struct<Record<TapName, Schema.String>> = Schema.Struct({
  early: Schema.String,
  penultimate: Schema.String,
  logits: Schema.String,
});
/** The taps of a model. */
export type Taps = typeof TapsSchema.Type;

/** What a user declares next to a model file (`<model>.spec.json`, see `registry.ts`). */
export const ModelSpecSchema: Schema.Struct<{
  readonly kind: Schema.optional<
    Schema.Literals<readonly ["grood", "onnx", "tfjs-layers", "tfjs-graph"]>
  >;
  readonly input: typeof InputSpecSchema;
  readonly taps: typeof TapsSchema;
  readonly classes: Schema.optional<Schema.$Array<Schema.String>>;
  readonly metadata: Schema.optional<Schema.$Record<Schema.String, Schema.Unknown>>;
}> = Schema.Struct({
  kind: Schema.optional(Schema.Literals(["grood", "onnx", "tfjs-layers", "tfjs-graph"])),
  input: InputSpecSchema,
  taps: TapsSchema,
  /** The class names in the order of the logits (`fit` labels the data by them). */
  classes: Schema.optional(ClassNames),
  /** Free-form facts about the model (training, accuracy), kept for reports. */
  metadata: Schema.optional(Schema.Record(Schema.String, Schema.Unknown)),
});
/** A decoded model spec. */
export type ModelSpec = typeof ModelSpecSchema.Type;

/** A model ready to run. Created inside a scope that releases its engine resources. */
export interface FeatureModel {
  /** The model's path or label (named by every error). */
  readonly name: string;
  /** The model kind (`grood`, `onnx`, `tfjs-layers`, `tfjs-graph`). */
  readonly kind: string;
  /** How images become its input tensor. */
  readonly input: InputSpec;
  /** The engine's names of the early, penultimate and logits taps. */
  readonly taps: Taps;
  /** Shape (without the batch axis) of the input and of each tap. */
  readonly shapes: Readonly<Record<ForwardPoint, ReadonlyArray<number>>>;
  /** From `from` (the input, or a tap's given values) to each of `to`, in one pass, in order. */
  readonly forward: (
    x: FeatureTensor,
    from: ForwardPoint,
    to: ReadonlyArray<TapName>,
  ) => Effect.Effect<ReadonlyArray<FeatureTensor>, ModelError>;
  /**
   * ODIN's input gradient g = ∂/∂x Σᵢ CE(f(xᵢ)/T, argmax f(xᵢ)) (f the logits tap), the shape of
   * `x`. Absent when the engine cannot differentiate the model (ONNX files, tfjs graph models).
   */
  readonly inputGradient?: (
    x: FeatureTensor,
    temperature: number,
  ) => Effect.Effect<FeatureTensor, ModelError>;
  /** grood's own tfjs network, when the model is grood's CNN (owned by the model's scope). */
  readonly network?: Classifier;
  /** grood's own training metadata (dataset, seed, accuracy), when the model is its saved CNN. */
  readonly metadata?: ClassifierMetadata;
  /**
   * Points beyond the three taps whose features can be read (grood's CNN: every convolutional
   * block boundary), in network order, with their shapes. Absent: only the taps can be read.
   */
  readonly points?: ReadonlyArray<{ readonly name: string; readonly shape: ReadonlyArray<number> }>;
  /** From the input to each named point (of `points`, or a tap's engine name), in order. */
  readonly forwardPoints?: (
    x: FeatureTensor,
    names: ReadonlyArray<string>,
  ) => Effect.Effect<ReadonlyArray<FeatureTensor>, ModelError>;
  /** The classifier head z = h·W + b read from the weights (`head.ts`); absent: never readable. */
  readonly head?: Effect.Effect<Head, HeadUnreadable>;
}

/** Check a head against the model's tap shapes (W of D × C) and that every weight is finite. */
export const checkedHead = (
  model: string,
  shapes: Readonly<Record<ForwardPoint, ReadonlyArray<number>>>,
  head: Effect.Effect<Head, HeadUnreadable>,
): Effect.Effect<Head, HeadUnreadable> =>
  Effect.flatMap(head, (h) => {
    const [d, c] = [sizeOf(shapes.penultimate), sizeOf(shapes.logits)];
    const reason = h.inputSize !== d || h.numClasses !== c
      ? `its head maps ${h.inputSize} features to ${h.numClasses} logits, and the taps have ` +
        `${d} penultimate features and ${c} logits`
      : !h.kernel.every(Number.isFinite) || !h.bias.every(Number.isFinite)
      ? "its head has non-finite weights"
      : undefined;
    return reason === undefined
      ? Effect.succeed(h)
      : Effect.fail(new HeadUnreadable({ model, reason }));
  });

/** Number of values of a shape. */
export const sizeOf = (shape: ReadonlyArray<number>): number => shape.reduce((a, b) => a * b, 1);

/** The input tensor shape (without batch) an input spec declares, in its layout. */
export function inputShape(spec: InputSpec): ReadonlyArray<number> {
  return spec.layout === "NHWC"
    ? [spec.height, spec.width, spec.channels]
    : [spec.channels, spec.height, spec.width];
}

/**
 * Turn `count` uint8 NHWC images into the model's input: scaled, normalised, in its layout.
 * Grey images are repeated to three channels when the model wants three; any other mismatch is
 * an error (resizing is the data source's job).
 *
 * @example
 * ```ts
 * import { Effect } from "effect";
 * import { preprocess } from "./model.ts";
 * const spec = { height: 1, width: 2, channels: 1, layout: "NCHW" as const, scale: 1 / 255,
 *   mean: [0.5], std: [0.5] };
 * const x = await Effect.runPromise(preprocess("m", spec, new Uint8Array([0, 255]), 1, 1));
 * console.assert(x.data[0] === -1 && x.data[1] === 1);
 * ```
 */
export const preprocess = (
  model: string,
  spec: InputSpec,
  pixels: Uint8Array,
  count: number,
  sourceChannels: number,
): Effect.Effect<FeatureTensor, InputShapeMismatch> => {
  const { height, width, channels } = spec;
  const plane = height * width;
  const fits = pixels.length === count * plane * sourceChannels;
  if (!fits || (sourceChannels !== channels && !(sourceChannels === 1 && channels === 3))) {
    const actual = fits ? [count, height, width, sourceChannels] : [pixels.length];
    const expected = [-1, height, width, channels];
    return Effect.fail(new InputShapeMismatch({ model, tensor: "input", expected, actual }));
  }
  const shape = [count, ...inputShape(spec)];
  const mean = Array.from({ length: channels }, (_, c) => spec.mean[c] ?? spec.mean[0] ?? 0);
  const inv = Array.from({ length: channels }, (_, c) => 1 / (spec.std[c] ?? spec.std[0] ?? 1));
  const out = new Float32Array(count * plane * channels);
  if (channels === 1) {
    // Layout-free, with no per-value branch (the service runs it on its main thread).
    const [m, v, scale] = [mean[0]!, inv[0]!, spec.scale];
    for (let i = 0; i < out.length; i++) out[i] = (pixels[i]! * scale - m) * v;
    return Effect.succeed({ data: out, shape });
  }
  for (let n = 0; n < count; n++) {
    for (let p = 0; p < plane; p++) {
      const src = (n * plane + p) * sourceChannels;
      for (let c = 0; c < channels; c++) {
        const raw = pixels[src + (sourceChannels === 1 ? 0 : c)]! * spec.scale;
        const at = spec.layout === "NHWC"
          ? (n * plane + p) * channels + c
          : (n * channels + c) * plane + p;
        out[at] = (raw - mean[c]!) * inv[c]!;
      }
    }
  }
  return Effect.succeed({ data: out, shape });
};

/** Check a tensor's shape (after the batch axis) against the shape a model declares. */
export const checkShape = (
  model: string,
  tensor: string,
  expected: ReadonlyArray<number>,
  x: FeatureTensor,
): Effect.Effect<void, InputShapeMismatch> => {
  const actual = x.shape.slice(1);
  const ok = actual.length === expected.length &&
    actual.every((d, i) => expected[i]! < 0 || d === expected[i]) &&
    x.data.length === sizeOf(x.shape);
  return ok ? Effect.void : Effect.fail(
    new InputShapeMismatch({ model, tensor, expected: [-1, ...expected], actual: x.shape }),
  );
};

/** Check the input shape a model file declares (batch first, −1 = any) against its spec's. */
export const checkDeclaredInput = (
  model: string,
  tensor: string,
  declared: ReadonlyArray<number>,
  spec: InputSpec,
): Effect.Effect<void, InputShapeMismatch> => {
  const wanted = inputShape(spec);
  const fits = declared.length === wanted.length + 1 &&
    declared.slice(1).every((d, i) => d < 0 || d === wanted[i]);
  const actual = [-1, ...wanted];
  return fits ? Effect.void : Effect.fail(
    new InputShapeMismatch({ model, tensor, expected: declared, actual }),
  );
};

/** Check that each tap (or other name → tensor) names one of `known`, the model's names. */
export const requireTensors = (
  model: string,
  wanted: Readonly<Record<string, string>>,
  known: ReadonlyArray<string>,
): Effect.Effect<void, MissingTap> => {
  const names = new Set(known);
  const missing = Object.entries(wanted).find(([, tensor]) => !names.has(tensor));
  return missing === undefined
    ? Effect.void
    : Effect.fail(new MissingTap({ model, tap: missing[0], tensor: missing[1], known }));
};

/** `model` with every pass checking its input's shape first (the adapters wrap theirs). */
export const checkedModel = (
  model: FeatureModel,
  feedName: (from: ForwardPoint) => string,
): FeatureModel => {
  const checked = <A>(
    from: ForwardPoint,
    x: FeatureTensor,
    pass: () => Effect.Effect<A, ModelError>,
  ) => Effect.flatMap(checkShape(model.name, feedName(from), model.shapes[from], x), pass);
  const { inputGradient: gradient, forwardPoints: points } = model;
  return {
    ...model,
    forward: (x, from, to) => checked(from, x, () => model.forward(x, from, to)),
    ...(gradient && { inputGradient: (x, t) => checked("input", x, () => gradient(x, t)) }),
    ...(points && { forwardPoints: (x, names) => checked("input", x, () => points(x, names)) }),
  };
};

/** The checked `FeatureModel` around an engine's forward, its tap shapes measured on a zero image. */
export const probedFeatureModel = (model: {
  readonly name: string;
  readonly kind: string;
  readonly spec: { readonly input: InputSpec; readonly taps: Taps };
  readonly feedName: (from: ForwardPoint) => string;
  readonly run: FeatureModel["forward"];
  readonly head?: Effect.Effect<Head, HeadUnreadable>;
  readonly inputGradient?: FeatureModel["inputGradient"];
}): Effect.Effect<FeatureModel, ModelError> =>
  Effect.gen(function* () {
    const wanted = inputShape(model.spec.input);
    const probed = yield* model.run(
      { data: new Float32Array(sizeOf(wanted)), shape: [1, ...wanted] },
      "input",
      TAP_NAMES,
    );
    const shapes = {
      input: wanted,
      ...Object.fromEntries(TAP_NAMES.map((t, i) => [t, probed[i]!.shape.slice(1)])),
    } as Record<ForwardPoint, ReadonlyArray<number>>;
    return checkedModel({
      name: model.name,
      kind: model.kind,
      input: model.spec.input,
      taps: model.spec.taps,
      shapes,
      forward: model.run,
      ...(model.head && { head: checkedHead(model.name, shapes, model.head) }),
      ...(model.inputGradient && { inputGradient: model.inputGradient }),
    }, model.feedName);
  });
