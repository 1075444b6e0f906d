/**
 * What a detector module registers (`defineDetector`): its kind, display name, source, options
 * as an Effect Schema whose fields carry their defaults, and its constructor. `registry.ts` lists
 * the entries; the spec union, baseline lists, CLI choices and docs' table derive from that list.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import type { Expect, SameFields } from "../decode.ts";
import type { Detector, DetectorError, TaggedFailure } from "./detector.ts";

export type { Expect, SameFields };

/** `true` when the documented options interface `I` is `S`'s fields, each optional. */
export type OptionsMatch<I, S extends Schema.Top> = SameFields<I, OptionsOf<S>>;

/** The role a detector plays in the reports. */
export type DetectorFamily = "grood" | "grood-ablation" | "grood-extension" | "baseline";

/**
 * One detector's registration. `E` is what its detector may fail with: a user's entry may name
 * its own tagged errors, and a pipeline given it (`detectors: [...DETECTORS, mine]`) fails with them.
 */
export interface DetectorEntry<
  K extends string,
  F extends Schema.Struct.Fields,
  E extends TaggedFailure = DetectorError,
> {
  /** The spec's `kind` (kebab-case). */
  readonly kind: K;
  /** Name in tables (a spec's `name` overrides it). */
  readonly title: string;
  /** The role it plays in the reports. */
  readonly family: DetectorFamily;
  /** Paper (and OpenOOD postprocessor, where it follows one), for the docs. */
  readonly source: string;
  /** Run by `deno task reproduce`. */
  readonly reproduce: boolean;
  /** The options; a field with a default decodes to it when the spec leaves it out. */
  readonly options: Schema.Struct<F>;
  /**
   * Why its scores need each image itself, not only features and logits (ODIN), when they do: it
   * then cannot be saved into a fitted-detector folder, which scores from features and logits.
   */
  readonly scoresImages?: string;
  /** Build the detector from decoded options. */
  readonly make: (options: Schema.Struct<F>["Type"], name: string) => Detector<E>;
}

/** Any registered detector, grood's or a user's. */
// deno-lint-ignore no-explicit-any
export type AnyDetectorEntry = DetectorEntry<string, any, TaggedFailure>;

/** What the detector of an entry may fail with. */
export type EntryError<Entry> = Entry extends DetectorEntry<string, infer _F, infer E> ? E
  : never;

/**
 * Register a detector (an identity that keeps the option and error types); a user's may be passed
 * to a pipeline next to `DETECTORS`.
 *
 * @example A user's detector: the negative max logit, plus one
 * ```ts
 * import { Schema } from "effect";
 * import { defineDetector } from "./entry.ts";
 * import { rowMax } from "./logits.ts";
 * import { pointwiseDetector } from "./pointwise.ts";
 * const shifted = defineDetector({
 *   kind: "shifted-max-logit",
 *   title: "MaxLogit + 1",
 *   family: "baseline",
 *   source: "a notebook",
 *   reproduce: false,
 *   options: Schema.Struct({ shift: Schema.optionalKey(Schema.Finite) }),
 *   make: (options, name) =>
 *     pointwiseDetector({
 *       name,
 *       description: "the negative max logit plus a shift",
 *       settings: {},
 *       score: (features) =>
 *         Float64Array.from(rowMax(features.logits), (z) => -z + (options.shift ?? 1)),
 *     }),
 * });
 * if (shifted.kind !== "shifted-max-logit") throw new Error("wrong kind");
 * ```
 */
export const defineDetector = <
  const K extends string,
  F extends Schema.Struct.Fields,
  E extends TaggedFailure = DetectorError,
>(
  entry: DetectorEntry<K, F, E>,
): DetectorEntry<K, F, E> => entry;

/**
 * Register one of grood's baselines (run by `deno task reproduce`). Without a name in the spec it
 * keeps the detector's own, which may say the settings in force (`ASH-S@80`, `ReAct (ID val)`).
 */
export const baselineEntry = <const K extends string, F extends Schema.Struct.Fields>(
  detector: (options: Schema.Struct<F>["Type"]) => Detector,
  entry: Pick<DetectorEntry<K, F>, "kind" | "title" | "source" | "options" | "scoresImages">,
): DetectorEntry<K, F> =>
  defineDetector({
    ...entry,
    family: "baseline",
    reproduce: true,
    make: (options, name) => {
      const built = detector(options);
      return name === entry.title ? built : { ...built, name };
    },
  });

/** A field with a decoding default (absent in a spec → `value`). */
export const withDefault = <S extends Schema.Top>(schema: S, value: S["Encoded"]) =>
  schema.pipe(Schema.withDecodingDefaultKey(Effect.succeed(value)));

/** What an options Schema decodes `{}` to: defaults are written only in Schemas (`withDefault`). */
export const optionDefaults = <S extends Schema.ConstraintDecoder<unknown>>(
  schema: S,
): S["Type"] => Schema.decodeUnknownSync(schema)({});

/** A non-empty list (a `Grid`'s type) as any list: a function refuses an empty one by name. */
type AnyLength<T> = T extends readonly [infer A, ...Array<infer _>] ? ReadonlyArray<A> : T;

/** A detector's options as its function takes them: its Schema's fields, each optional. */
export type OptionsOf<S extends Schema.Top> = {
  readonly [K in keyof S["Type"]]?: AnyLength<S["Type"][K]>;
};

/** A number in [0, 1]. */
export const Probability = Schema.Number.pipe(
  Schema.check(Schema.isBetween({ minimum: 0, maximum: 1 })),
);
/** An integer ≥ 1. */
export const PositiveInt = Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(1)));
/** A finite number > 0. */
export const PositiveNumber = Schema.Finite.pipe(Schema.check(Schema.isGreaterThan(0)));
/** A finite number ≥ 0. */
export const NonNegativeNumber = Schema.Finite.pipe(
  Schema.check(Schema.isGreaterThanOrEqualTo(0)),
);
/** A seed: an integer ≥ 0. */
export const Seed = Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(0)));
/** A percentile in [0, 100]. */
export const Percentile = Schema.Finite.pipe(
  Schema.check(Schema.isBetween({ minimum: 0, maximum: 100 })),
);
/** A non-empty list of values (a tuning grid). */
export const Grid = <S extends Schema.Top>(value: S) => Schema.NonEmptyArray(value);
