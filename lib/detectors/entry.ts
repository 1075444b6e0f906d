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
import type { Detector } from "./detector.ts";

/** The role a detector plays in the reports. */
export type DetectorFamily = "grood" | "grood-ablation" | "grood-extension" | "baseline";

/** One detector's registration. */
export interface DetectorEntry<K extends string, F extends Schema.Struct.Fields> {
  /** The spec's `kind` (kebab-case). */
  readonly kind: K;
  /** Name in tables (a spec's `name` overrides it). */
  readonly title: string;
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
  readonly make: (options: Schema.Struct<F>["Type"], name: string) => Detector;
}

/** Any registered detector. */
// deno-lint-ignore no-explicit-any
export type AnyDetectorEntry = DetectorEntry<string, any>;

/** Register a detector (an identity that keeps the option types). */
export const defineDetector = <const K extends string, F extends Schema.Struct.Fields>(
  entry: DetectorEntry<K, F>,
): DetectorEntry<K, F> => entry;

/** A field with a decoding default (absent in a spec → `value`). */
export const withDefault = <S extends Schema.Top>(schema: S, value: S["Encoded"]) =>
  schema.pipe(Schema.withDecodingDefaultKey(Effect.succeed(value)));

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
