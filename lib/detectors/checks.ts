/**
 * Input and output checks shared by the detectors, one typed error per problem a user can act on,
 * each naming the detector and the set.
 *
 * @module
 */
import { Data, Effect } from "effect";
import { shownValue } from "../errors.ts";
import type { Matrix } from "../matrix.ts";
import type {
  Detector,
  ExtractedSet,
  FitInputs,
  FittedDetector,
  TaggedFailure,
} from "./detector.ts";

/** A detector produced a NaN or infinite score (never passed on silently). */
export class NonFiniteDetectorScore extends Data.TaggedError("NonFiniteDetectorScore")<{
  readonly detector: string;
  readonly set: string;
  readonly index: number;
  readonly value: number;
}> {
  /** Names the detector, the set, the image index and the value. */
  override get message(): string {
    return `Cannot score "${this.set}" with ${this.detector}: the score of image ${this.index} is ${this.value} (scores must be finite)`;
  }
}

/** Features or logits a detector reads hold a NaN or infinite value. */
export class NonFiniteFeatures extends Data.TaggedError("NonFiniteFeatures")<{
  readonly detector: string;
  readonly set: string;
  readonly what: string;
  readonly row: number;
}> {
  /** Names the detector, the set, what holds the value and the image. */
  override get message(): string {
    return `Cannot use "${this.set}" in ${this.detector}: ${this.what} of image ${this.row} hold a NaN or infinite value`;
  }
}

/** A set's features do not have the size the detector was fitted for. */
export class FeatureSizeMismatch extends Data.TaggedError("FeatureSizeMismatch")<{
  readonly detector: string;
  readonly set: string;
  readonly what: string;
  readonly expected: number;
  readonly actual: number;
}> {
  /** Names the detector, the set, what has the wrong size, and both sizes. */
  override get message(): string {
    return `Cannot use "${this.set}" in ${this.detector}: ${this.what} is ${this.actual}, expected ${this.expected}`;
  }
}

/** A detector option is out of range. */
export class InvalidSetting extends Data.TaggedError("InvalidSetting")<{
  readonly detector: string;
  readonly setting: string;
  readonly value: unknown;
  readonly expected: string;
}> {
  /** Names the detector, the setting, its value and what was expected. */
  override get message(): string {
    return `Cannot configure ${this.detector}: ${this.setting} = ${
      shownValue(this.value)
    }, expected ${this.expected}`;
  }
}

/** Any error of the checks in this module. */
export type CheckError =
  | NonFiniteDetectorScore
  | NonFiniteFeatures
  | FeatureSizeMismatch
  | InvalidSetting;

/** Fail if any value of `m` is NaN or infinite. */
export const finiteMatrix = (
  detector: string,
  set: string,
  what: string,
  m: Matrix,
): Effect.Effect<void, NonFiniteFeatures> => {
  for (let i = 0; i < m.data.length; i++) {
    if (!Number.isFinite(m.data[i]!)) {
      return Effect.fail(
        new NonFiniteFeatures({ detector, set, what, row: Math.floor(i / Math.max(m.cols, 1)) }),
      );
    }
  }
  return Effect.void;
};

/** The sizes a detector expects of a set's features (undefined: not read, not checked). */
export interface ExpectedSizes {
  readonly penultimate?: number;
  readonly classes?: number;
  /** Images are read too (ODIN): their count must match the features'. */
  readonly images?: boolean;
}

/** Check that a set's features and logits have one row per image and the expected columns. */
export const checkSet = (
  detector: string,
  set: ExtractedSet,
  expected: ExpectedSizes,
): Effect.Effect<void, FeatureSizeMismatch> => {
  const { features } = set;
  const { count, penultimate, logits } = features;
  // [what, expected, actual], in the order checked; an undefined expectation is not checked.
  const sizes: ReadonlyArray<readonly [string, number | undefined, number]> = [
    ["the number of penultimate rows", count, penultimate.rows],
    ["the number of logit rows", count, logits.rows],
    ["the penultimate feature size", expected.penultimate, penultimate.cols],
    ["the number of logits", expected.classes, logits.cols],
    ["the number of images", expected.images === true ? count : undefined, set.images.count],
  ];
  const wrong = sizes.find(([, size, actual]) => size !== undefined && size !== actual);
  return wrong === undefined ? Effect.void : Effect.fail(
    new FeatureSizeMismatch({
      detector,
      set: features.name,
      what: wrong[0],
      expected: wrong[1]!,
      actual: wrong[2],
    }),
  );
};

/** The training penultimate features: one row per image, the `expected` sizes, all finite. */
export const checkTrainPenultimate = (
  detector: string,
  inputs: FitInputs,
  expected: ExpectedSizes = {},
): Effect.Effect<void, FeatureSizeMismatch | NonFiniteFeatures> => {
  const { features } = inputs.train;
  return Effect.andThen(
    checkSet(detector, inputs.train, expected),
    () => finiteMatrix(detector, features.name, "the penultimate features", features.penultimate),
  );
};

/** Fail with {@link InvalidSetting} unless `ok`. */
export const requireSetting = (
  ok: boolean,
  detector: string,
  setting: string,
  value: unknown,
  expected: string,
): Effect.Effect<void, InvalidSetting> =>
  ok ? Effect.void : Effect.fail(new InvalidSetting({ detector, setting, value, expected }));

/** Fail with {@link InvalidSetting} unless `temperature` is a finite number > 0. */
export const requirePositiveTemperature = (
  detector: string,
  temperature: number,
): Effect.Effect<void, InvalidSetting> =>
  requireSetting(
    Number.isFinite(temperature) && temperature > 0,
    detector,
    "temperature",
    temperature,
    "a positive number",
  );

/** Fail with {@link InvalidSetting} unless the percentile `p` is in [0, 100). */
export const requirePercentile = (
  detector: string,
  p: number,
): Effect.Effect<void, InvalidSetting> =>
  requireSetting(
    Number.isFinite(p) && p >= 0 && p < 100,
    detector,
    "percentile",
    p,
    "a number in [0, 100)",
  );

/**
 * Score a set the way every detector does: check its sizes, check finite the inputs `expected`
 * names (penultimate features, logits), compute, and check one finite score per image.
 */
export const scoreChecked = <E = never>(
  detector: string,
  set: ExtractedSet,
  expected: ExpectedSizes,
  compute: () => Float64Array | Effect.Effect<Float64Array, E>,
): Effect.Effect<
  Float64Array,
  E | FeatureSizeMismatch | NonFiniteFeatures | NonFiniteDetectorScore
> =>
  Effect.gen(function* () {
    const name = set.features.name;
    yield* checkSet(detector, set, expected);
    if (expected.penultimate !== undefined) {
      yield* finiteMatrix(detector, name, "the penultimate features", set.features.penultimate);
    }
    if (expected.classes !== undefined) {
      yield* finiteMatrix(detector, name, "the logits", set.features.logits);
    }
    const computed = compute();
    const scores = computed instanceof Float64Array ? computed : yield* computed;
    // One score per image: a detector (a user's own) returning more or fewer would have its
    // metrics computed over the wrong images, or the scores shifted against them.
    if (scores.length !== set.features.count) {
      return yield* new FeatureSizeMismatch({
        detector,
        set: name,
        what: "the number of scores it returned",
        expected: set.features.count,
        actual: scores.length,
      });
    }
    const bad = scores.findIndex((value) => !Number.isFinite(value));
    if (bad >= 0) {
      return yield* new NonFiniteDetectorScore({
        detector,
        set: name,
        index: bad,
        value: scores[bad]!,
      });
    }
    return scores;
  });

/** The training inputs of a detector do not agree with each other. */
export class InconsistentFitInputs extends Data.TaggedError("InconsistentFitInputs")<{
  readonly detector: string;
  readonly problem: string;
}> {
  /** Names the detector and the disagreement. */
  override get message(): string {
    return `Cannot fit ${this.detector}: ${this.problem}`;
  }
}

/** Problems of a detector's training inputs, as one line each (empty when consistent). */
function fitProblems(inputs: FitInputs): Array<string> {
  const { images, features: trainFeatures } = inputs.train;
  const problems: Array<string> = [];
  const n = trainFeatures.count;
  if (images.count !== n) {
    problems.push(`"${images.name}" has ${images.count} images but ${n} feature rows`);
  }
  if (trainFeatures.penultimate.rows !== n || trainFeatures.logits.rows !== n) {
    problems.push(
      `"${trainFeatures.name}" has ${trainFeatures.penultimate.rows} penultimate rows and ` +
        `${trainFeatures.logits.rows} logit rows for ${n} images`,
    );
  }
  const classes = trainFeatures.logits.cols;
  const labels = trainFeatures.labels ?? images.labels;
  if (labels.length !== n) problems.push(`${labels.length} labels for ${n} training images`);
  const bad = labels.findIndex((label) => label >= classes);
  if (bad >= 0) {
    problems.push(`label ${labels[bad]} of training image ${bad} is not one of ${classes} classes`);
  }
  return problems;
}

/**
 * Guard any detector at the library's edge: its training features must agree with the images
 * and labels and be finite; every set it scores must have one feature row per image, the
 * feature and class sizes it was fitted on, and finite values; and it must return one score per
 * image, every one finite. A detector's own code can then assume consistent, finite inputs.
 */
export function withInputChecks<E extends TaggedFailure>(
  detector: Detector<E>,
): Detector<E | InputCheckError> {
  const name = detector.name;
  return {
    ...detector,
    fit: (inputs) =>
      Effect.gen(function* () {
        const problems = fitProblems(inputs);
        if (problems.length > 0) {
          return yield* new InconsistentFitInputs({ detector: name, problem: problems.join("; ") });
        }
        const train = inputs.train.features;
        yield* finiteMatrix(name, train.name, "the penultimate features", train.penultimate);
        yield* finiteMatrix(name, train.name, "the logits", train.logits);
        const fitted = yield* detector.fit(inputs);
        const expected = {
          penultimate: train.penultimate.cols,
          classes: train.logits.cols,
          images: true,
        };
        const guarded: FittedDetector<E | InputCheckError> = {
          ...fitted,
          score: (set) => scoreChecked(name, set, expected, () => fitted.score(set)),
        };
        return guarded;
      }),
  };
}

/** Errors `withInputChecks` adds to a detector's. */
export type InputCheckError =
  | InconsistentFitInputs
  | FeatureSizeMismatch
  | NonFiniteFeatures
  | NonFiniteDetectorScore;
