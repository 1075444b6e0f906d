/**
 * A benchmark as a JSON file: the model reference, the ID train/test/validation sources, the OOD
 * test sets with their near/far group, and the validation-OOD sets (the only OOD data that may
 * shape a detector). Decoded strictly, so a typo never silently drops a setting. Paths are
 * relative to the file's folder.
 *
 * @example The smallest benchmark: a labelled PNG folder and an OOD folder
 * ```ts
 * import { Effect } from "effect";
 * import { decodeBenchmark } from "./spec.ts";
 * const spec = Effect.runSync(decodeBenchmark({
 *   name: "toy",
 *   model: { kind: "onnx", path: "model.onnx" },
 *   id: {
 *     train: { kind: "folder", path: "train", labelled: true },
 *     test: { kind: "folder", path: "test", labelled: true },
 *     validation: { kind: "held-out-of-test", count: 100, seed: 0 },
 *   },
 *   oodTest: [{ name: "noise", group: "far", source: { kind: "folder", path: "noise" } }],
 *   oodValidation: [],
 * }));
 * if (spec.oodTest[0]!.group !== "far") throw new Error("not decoded");
 * ```
 *
 * @module
 */
import { type Effect, Schema } from "effect";
import { SourceSpec } from "../sources/mod.ts";
import { Identifier } from "../io/paths.ts";
import { decodeStrict, type InvalidInput } from "../decode.ts";

const PositiveInt = Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(1)));
const Seed = Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(0)));

/**
 * Where the model is and which tensors to tap. `kind` names an entry of `lib/models`' registry;
 * an unknown kind is refused when the model is opened (before any data is read).
 */
export const ModelRef: Schema.Struct<{
  readonly kind: Schema.NonEmptyString;
  readonly path: Schema.String;
  readonly taps: Schema.optional<
    Schema.Struct<{
      readonly early: Schema.optional<Schema.String>;
      readonly penultimate: Schema.optional<Schema.String>;
      readonly logits: Schema.optional<Schema.String>;
    }>
  >;
}> = Schema.Struct({
  kind: Schema.NonEmptyString,
  path: Schema.String,
  taps: Schema.optional(Schema.Struct({
    early: Schema.optional(Schema.String),
    penultimate: Schema.optional(Schema.String),
    logits: Schema.optional(Schema.String),
  })),
});
/** A decoded model reference. */
export type ModelRef = typeof ModelRef.Type;

/** A benchmark file. */
export const BenchmarkFile: Schema.Struct<{
  readonly name: Schema.String;
  readonly description: Schema.optional<Schema.String>;
  readonly model: typeof ModelRef;
  readonly id: Schema.Struct<{
    readonly train: typeof SourceSpec;
    readonly test: typeof SourceSpec;
    readonly validation: Schema.Union<
      readonly [
        Schema.Struct<{
          readonly kind: Schema.Literal<"held-out-of-test">;
          readonly count: Schema.Int;
          readonly seed: Schema.Int;
        }>,
        typeof SourceSpec,
      ]
    >;
  }>;
  readonly oodTest: Schema.NonEmptyArray<
    Schema.Struct<{
      readonly name: Schema.String;
      readonly group: Schema.Literals<readonly ["near", "far"]>;
      readonly source: typeof SourceSpec;
    }>
  >;
  readonly oodValidation: Schema.$Array<
    Schema.Struct<{ readonly name: Schema.String; readonly source: typeof SourceSpec }>
  >;
}> = Schema.Struct({
  /** The results folder's name (`<out>/<name>/`): an identifier, never a path. */
  name: Identifier,
  description: Schema.optional(Schema.String),
  model: ModelRef,
  id: Schema.Struct({
    train: SourceSpec,
    test: SourceSpec,
    // Held out of the ID test source by a seeded draw, or a source of its own.
    validation: Schema.Union([
      Schema.Struct({ kind: Schema.Literal("held-out-of-test"), count: PositiveInt, seed: Seed }),
      SourceSpec,
    ]),
  }),
  // A test set's name is the results' `set` column.
  oodTest: Schema.NonEmptyArray(
    Schema.Struct({
      name: Identifier,
      group: Schema.Literals(["near", "far"]),
      source: SourceSpec,
    }),
  ),
  // Validation-OOD sets may shape a detector (prototypes, hyper-parameters), never be scored.
  oodValidation: Schema.Array(Schema.Struct({ name: Identifier, source: SourceSpec })),
});
/** A decoded benchmark file. */
export type BenchmarkFile = typeof BenchmarkFile.Type;

/** Decode a benchmark (strict: unknown keys are errors; every problem is reported). */
export const decodeBenchmark = (
  input: unknown,
  source = "benchmark file",
): Effect.Effect<BenchmarkFile, InvalidInput> => decodeStrict(BenchmarkFile, source)(input);
