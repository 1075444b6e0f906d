/**
 * Schemas of the JSON the scale bench reads back: the measurement a child prints as its last
 * line, and the rows of an earlier scale table (`bench/results/scale.json`) that a new run keeps. They are grood's own
 * formats, decoded strictly: a key they do not declare or a mistyped value is refused, naming
 * the file (or the child) and every problem.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import { decodeJsonText, decodeStrict, describeIssue, InvalidInput } from "../../mod.ts";
import type { ScaleRow } from "./scale.ts";
import { SCALE_METHODS, type ScaleMeasurement } from "./scale_run.ts";

const Count = Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(0)));
const Real = Schema.Finite;

/** {@link ScaleMeasurement} as a Schema. */
export const ScaleMeasurementJson = Schema.Struct({
  points: Count,
  dim: Count,
  queries: Count,
  dataSeconds: Real,
  buildSeconds: Real,
  queriesPerSecond: Schema.Array(Real),
  recall1: Real,
  recall10: Real,
  peakRssBytes: Count,
  dataRssBytes: Count,
  /** The median of `queriesPerSecond`, as the child printed it (kept in the table's rows). */
  median: Schema.optionalKey(Real),
});

const LoadSampleJson = Schema.Struct({
  at: Schema.String,
  label: Schema.String,
  loadavg: Schema.Tuple([Real, Real, Real]),
});

/** A row of the scale table ({@link ScaleRow}) as a Schema. */
export const ScaleRowJson = Schema.Struct({
  label: Schema.String,
  data: Schema.Literals(["synthetic", "real"]),
  rows: Count,
  dim: Count,
  method: Schema.Literals(SCALE_METHODS),
  outcome: Schema.Union([
    Schema.Struct({ status: Schema.Literal("done"), measurement: ScaleMeasurementJson }),
    Schema.Struct({
      status: Schema.Literal("stopped"),
      phase: Schema.Literals(["data", "build", "search"]),
      pointsAdded: Count,
      seconds: Real,
    }),
    Schema.Struct({ status: Schema.Literal("failed"), message: Schema.String }),
  ]),
  load: Schema.Struct({
    before: LoadSampleJson,
    after: LoadSampleJson,
    othersBusyCores: Real,
    loaded: Schema.Boolean,
  }),
});

/** The measurement a child printed as its last line, decoded strictly; `source` names the child. */
export const decodeChildMeasurement = (
  line: string,
  source: string,
): Effect.Effect<ScaleMeasurement, InvalidInput> =>
  decodeJsonText(ScaleMeasurementJson, source)(line);

/** What identifies a scale table; its other header fields are not read back. */
const ScaleTableHeader = Schema.Struct({
  format: Schema.Literal("grood-bench-scale"),
  version: Schema.Literal(1),
  rows: Schema.Array(Schema.Unknown),
});

/**
 * The rows of an earlier scale table: the table's own header fields (machine, plan, ...) are
 * kept as they are, its `format` and `version` must be this table's, and every row is decoded
 * strictly.
 */
export const decodeScaleTableRows = (
  text: string,
  path: string,
): Effect.Effect<ReadonlyArray<ScaleRow>, InvalidInput> =>
  decodeJsonText(Schema.Unknown, path)(text).pipe(
    Effect.flatMap((json) =>
      Schema.decodeUnknownEffect(ScaleTableHeader)(json).pipe(
        Effect.mapError((error) =>
          new InvalidInput({ source: path, problems: describeIssue(error.issue) })
        ),
      )
    ),
    Effect.flatMap((table) => decodeStrict(Schema.Array(ScaleRowJson), path)(table.rows)),
  );
