/**
 * What a detector module registers: its kind (the `kind` of a spec), its display name, where
 * the method comes from, its options as an Effect Schema whose fields carry their defaults, and
 * the constructor that builds the detector from decoded options. `registry.ts` lists the
 * entries; the spec union, the baseline lists, the CLI choices and the docs' table derive from
 * that one list.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import type { Expect, SameFields } from "../decode.ts";
import type { Detector, DetectorError, TaggedFailure } from "./detector.ts";

export type { Expect, SameFields };

/** The role a detector plays in the reports. */
export type DetectorFamily = "grood" | "grood-ablation" | "grood-extension" | "baseline";

/**
 * One detector's registration. `E` is what its detector may fail with: grood's own keep to the
 * closed `DetectorError` union; a user's entry may name its own tagged errors, and a pipeline
 * given that entry (`runPipeline(spec, { detectors: [...DETECTORS, mine] })`) fails with them.
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
  /** The role it plays in the reports (GROOD, an ablation or extension of it, a baseline). */
  readonly family: DetectorFamily;
  /** Paper (and OpenOOD postprocessor, where it follows one), for the docs. */
  readonly source: string;
  /** Run by `deno task reproduce`. */
  readonly reproduce: boolean;
  /** The options; a field with a default decodes to it when the spec leaves it out. */
  readonly options: Schema.Struct<F>;
  /**
   * Why its scores need each image itself, not only the model's features and logits (ODIN: the
   * input gradient), when they do: such a detector runs in a pipeline but cannot be saved into
   * a fitted-detector folder, which scores from features and logits.
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
 * Register a detector (an identity that keeps the option and error types). grood's detectors
 * are listed in `DETECTORS`; a user's may be passed to a pipeline next to them.
 *
 * @example A user's detector: the negative max logit, plus one
 * ```ts
 * import { Effect, Schema } from "effect";
 * import { defineDetector } from "./entry.ts";
 * const shifted = defineDetector({
 *   kind: "shifted-max-logit",
 *   title: "MaxLogit + 1",
 *   family: "baseline",
 *   source: "a notebook",
 *   reproduce: false,
 *   options: Schema.Struct({ shift: Schema.optionalKey(Schema.Finite) }),
 *   make: (options, name) => ({
 *     name,
 *     description: "the negative max logit plus a shift",
 *     fit: () =>
 *       Effect.succeed({
 *         score: (set) =>
 *           Effect.sync(() => {
 *             const { rows, cols, data } = set.features.logits;
 *             const out = new Float64Array(rows);
 *             for (let i = 0; i < rows; i++) {
 *               let max = -Infinity;
 *               for (let j = 0; j < cols; j++) max = Math.max(max, data[i * cols + j]!);
 *               out[i] = -max + (options.shift ?? 1);
 *             }
 *             return out;
 *           }),
 *         settings: {},
 *         tuned: [],
 *         dispose: () => {},
 *       }),
 *   }),
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
 * Register one of grood's baselines: run by `deno task reproduce`, built by `detector` from its
 * decoded options, and named as the spec says; without a name in the spec it keeps the
 * detector's own, which may say the settings in force (`ASH-S@80`, `ReAct (ID val)`).
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

/**
 * The defaults of an options Schema: what it decodes `{}` to. A detector's defaults are written
 * only in its Schema (`withDefault`); its function reads them from here.
 */
export const optionDefaults = <S extends Schema.ConstraintDecoder<unknown>>(
  schema: S,
): S["Type"] => Schema.decodeUnknownSync(schema)({});

/** A non-empty list (a `Grid`'s type) as any list: a function refuses an empty one by name. */
type AnyLength<T> = T extends readonly [infer A, ...Array<infer _>] ? ReadonlyArray<A> : T;

/**
 * A detector's options as its function takes them: its Schema's fields, each optional (a grid
 * may be any list; an empty one is refused when tuning, `InvalidGrid`).
 */
export type OptionsOf<S extends Schema.Top> = {
  readonly [K in keyof S["Type"]]?: AnyLength<S["Type"][K]>;
};

/** Option schemas shared by several detectors. */
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
