/**
 * Pipeline and ablation specs, decoded strictly with Effect Schema at the edge: a pipeline lists
 * detectors; an ablation gives GROOD parameters as lists and expands to one GROOD detector per
 * combination, labelled by its values.
 *
 * @module
 */
import { Data, Effect, Schema } from "effect";
import { IndexSpec } from "../knn/registry.ts";
import { DetectorSpec, type DetectorSpecInput } from "../detectors/registry.ts";
import {
  DEFAULT_OOD_PROTOTYPE,
  GROOD_SPEC_DEFAULTS,
  type GroodOptionsSpec,
  GroodTemperature,
  type OodPrototypeSpec,
} from "../detectors/grood_options.ts";
import { GROOD_CNN_EARLY_TAP } from "../detectors/grood_defaults.ts";
import { PositiveInt, Probability, Seed } from "../detectors/entry.ts";
import { MIXUP_DEFAULTS } from "../stages/mixup.ts";
import { decodeStrict, InvalidInput } from "../decode.ts";
import { Identifier } from "../io/paths.ts";
import { EngineSchema } from "./model.ts";

const Samples = Schema.Union([PositiveInt, Schema.Literal("all")]);

/** The benchmark a spec runs: a built-in name (`mnist`, `fashion-mnist`) or a benchmark file. */
const BenchmarkRef = Schema.NonEmptyString;

/** A pipeline: benchmark, model path (default: the benchmark's), engine (onnx), detectors. */
export const PipelineSpec: Schema.Struct<{
  readonly benchmark: Schema.NonEmptyString;
  readonly model: Schema.optional<Schema.String>;
  readonly engine: Schema.optional<typeof EngineSchema>;
  readonly detectors: Schema.NonEmptyArray<typeof DetectorSpec>;
}> = Schema.Struct({
  benchmark: BenchmarkRef,
  model: Schema.optional(Schema.String),
  engine: Schema.optional(EngineSchema),
  detectors: Schema.NonEmptyArray(DetectorSpec),
});
/** A decoded pipeline spec (defaults filled in). */
export type PipelineSpec = typeof PipelineSpec.Type;
/**
 * A pipeline spec as written (what `runPipeline` takes): options with defaults may be left out,
 * and a detector's `kind` must be a registered one (`kind: "gorod"` does not compile).
 */
export type PipelineSpecInput = Omit<typeof PipelineSpec.Encoded, "detectors"> & {
  /** The detectors to run (a list built in code may be empty here; decoding refuses that). */
  readonly detectors: ReadonlyArray<DetectorSpecInput>;
};

/** The GROOD parameters an ablation may vary, each as a list of values. */
export const AblationGrid: Schema.Struct<{
  readonly lambda: Schema.optional<Schema.NonEmptyArray<Schema.Number>>;
  readonly earlyBoundary: Schema.optional<Schema.NonEmptyArray<Schema.String>>;
  readonly k: Schema.optional<Schema.NonEmptyArray<Schema.Int>>;
  readonly oodPrototype: Schema.optional<
    Schema.NonEmptyArray<Schema.Literals<readonly ["mixup", "mean", "noise", "validation"]>>
  >;
  readonly index: Schema.optional<Schema.NonEmptyArray<typeof IndexSpec>>;
  readonly descriptor: Schema.optional<
    Schema.NonEmptyArray<Schema.Literals<readonly ["gradient", "distance"]>>
  >;
  readonly samples: Schema.optional<
    Schema.NonEmptyArray<Schema.Union<readonly [Schema.Int, Schema.Literal<"all">]>>
  >;
  readonly temperature: Schema.optional<Schema.NonEmptyArray<Schema.Finite>>;
  readonly seed: Schema.optional<Schema.NonEmptyArray<Schema.Int>>;
}> = Schema.Struct({
  lambda: Schema.optional(Schema.NonEmptyArray(Probability)),
  earlyBoundary: Schema.optional(Schema.NonEmptyArray(Schema.String)),
  k: Schema.optional(Schema.NonEmptyArray(PositiveInt)),
  oodPrototype: Schema.optional(
    Schema.NonEmptyArray(Schema.Literals(["mixup", "mean", "noise", "validation"])),
  ),
  /** Index specs (`{ "kind": "hnsw" }`, `{ "kind": "ivf", "nprobe": 4 }`, …). */
  index: Schema.optional(Schema.NonEmptyArray(IndexSpec)),
  descriptor: Schema.optional(Schema.NonEmptyArray(Schema.Literals(["gradient", "distance"]))),
  samples: Schema.optional(Schema.NonEmptyArray(Samples)),
  temperature: Schema.optional(Schema.NonEmptyArray(GroodTemperature)),
  seed: Schema.optional(Schema.NonEmptyArray(Seed)),
});
/** A decoded ablation grid. */
export type AblationGrid = typeof AblationGrid.Type;

/** An ablation: a benchmark, a model, and one or more GROOD grids (their union is run). */
export const AblationSpec: Schema.Struct<{
  readonly name: Schema.String;
  readonly description: Schema.optional<Schema.String>;
  readonly benchmark: Schema.NonEmptyString;
  readonly model: Schema.optional<Schema.String>;
  readonly engine: Schema.optional<typeof EngineSchema>;
  readonly grids: Schema.NonEmptyArray<typeof AblationGrid>;
}> = Schema.Struct({
  /** The results folder's name (`<out>/<name>/`): an identifier, never a path. */
  name: Identifier,
  description: Schema.optional(Schema.String),
  benchmark: BenchmarkRef,
  model: Schema.optional(Schema.String),
  engine: Schema.optional(EngineSchema),
  grids: Schema.NonEmptyArray(AblationGrid),
});
/** A decoded ablation spec (defaults filled in). */
export type AblationSpec = typeof AblationSpec.Type;
/** An ablation spec as written (what `runAblation` takes). */
export type AblationSpecInput = typeof AblationSpec.Encoded;

/** Decode a pipeline spec strictly: every unknown key or bad value in one `InvalidInput`. */
export const decodePipeline = (
  input: unknown,
  source = "pipeline spec",
): Effect.Effect<PipelineSpec, InvalidInput> => decodeStrict(PipelineSpec, source)(input);
/** Decode an ablation spec strictly (see `decodePipeline`). */
export const decodeAblation = (
  input: unknown,
  source = "ablation spec",
): Effect.Effect<AblationSpec, InvalidInput> => decodeStrict(AblationSpec, source)(input);

/** The parameter values of one expanded ablation variant. */
export type AblationParams = {
  readonly [K in keyof AblationGrid]-?: NonNullable<AblationGrid[K]>[number];
};

/**
 * Defaults of the varied parameters, read from GROOD's and the mix-up's own; a run takes its
 * model's early tap and min(10,000, training images) instead (`runAblation`).
 */
export const ABLATION_DEFAULTS: AblationParams = {
  lambda: DEFAULT_OOD_PROTOTYPE.lambda,
  earlyBoundary: GROOD_CNN_EARLY_TAP,
  k: GROOD_SPEC_DEFAULTS.k,
  oodPrototype: DEFAULT_OOD_PROTOTYPE.kind,
  index: GROOD_SPEC_DEFAULTS.index,
  descriptor: GROOD_SPEC_DEFAULTS.descriptor,
  samples: MIXUP_DEFAULTS.samples,
  temperature: GROOD_SPEC_DEFAULTS.temperature,
  seed: DEFAULT_OOD_PROTOTYPE.seed,
};

/**
 * Expand grids into the list of parameter combinations (cartesian product per grid, grids
 * concatenated, duplicates dropped), in a stable order.
 *
 * @example
 * ```ts
 * import { expandGrids } from "./spec.ts";
 * const variants = expandGrids([{ lambda: [0.3, 0.7], k: [1, 5] }]);
 * if (variants.length !== 4 || variants[3]!.k !== 5) throw new Error("wrong expansion");
 * ```
 */
export function expandGrids(
  grids: ReadonlyArray<AblationGrid>,
  defaults: AblationParams = ABLATION_DEFAULTS,
): ReadonlyArray<AblationParams> {
  const seen = new Set<string>();
  const out: Array<AblationParams> = [];
  for (const grid of grids) {
    let combos: Array<Record<string, unknown>> = [{ ...defaults }];
    for (const [key, values] of Object.entries(grid)) {
      if (values === undefined) continue;
      combos = combos.flatMap((c) =>
        (values as ReadonlyArray<unknown>).map((v) => ({ ...c, [key]: v }))
      );
    }
    for (const combo of combos) {
      const id = JSON.stringify(combo);
      if (seen.has(id)) continue;
      seen.add(id);
      out.push(combo as AblationParams);
    }
  }
  return out;
}

/** The GROOD detector spec of one ablation variant (named by what differs from `defaults`). */
export function variantSpec(
  params: AblationParams,
  defaults: AblationParams = ABLATION_DEFAULTS,
): typeof GroodOptionsSpec.Type & { readonly kind: "grood"; readonly name: string } {
  const oodPrototype: typeof OodPrototypeSpec.Type = params.oodPrototype === "mixup"
    ? { kind: "mixup", lambda: params.lambda, samples: params.samples, seed: params.seed }
    : params.oodPrototype === "noise"
    ? { kind: "noise", count: 1000, seed: params.seed }
    : { kind: params.oodPrototype };
  return {
    kind: "grood",
    name: `GROOD[${
      Object.entries(params)
        .filter(([k, v]) =>
          JSON.stringify((defaults as Record<string, unknown>)[k]) !== JSON.stringify(v)
        )
        .map(([k, v]) => `${k}=${valueLabel(v)}`)
        .join(",")
    }]`,
    earlyBoundary: params.earlyBoundary,
    oodPrototype,
    descriptor: params.descriptor,
    index: params.index,
    k: params.k,
    temperature: params.temperature,
    seed: params.seed,
  };
}

/** A variant's parameters as columns: numbers, or strings as in its name (`ivf(nprobe=4)`). */
export const variantColumns = (
  params: AblationParams,
): Readonly<Record<string, string | number>> =>
  Object.fromEntries(
    Object.entries(params).map(([k, v]) => [k, typeof v === "number" ? v : valueLabel(v)]),
  );

/** A varied value in a variant's name: an index spec as `ivf` or `ivf(nprobe=4)`. */
function valueLabel(value: unknown): string {
  if (typeof value !== "object" || value === null) return String(value);
  const { kind, ...options } = value as Record<string, unknown>;
  const shown = Object.entries(options).map(([k, v]) => `${k}=${v}`).join(",");
  return shown === "" ? String(kind) : `${kind}(${shown})`;
}

/** Grids above this many variants need `allowLargeGrid` (`--allow-large-grid`). */
export const MAX_GRID_VARIANTS = 1000;

/** Number of combinations the grids spell out before duplicates are dropped (no expansion). */
export function gridSize(grids: ReadonlyArray<AblationGrid>): number {
  return grids.reduce(
    (total, grid) =>
      total +
      Object.values(grid).reduce(
        (n: number, values) => n * ((values as ReadonlyArray<unknown> | undefined)?.length ?? 1),
        1,
      ),
    0,
  );
}

/** An ablation grid spells out more variants than the limit, and no one asked for that. */
export class GridTooLarge extends Data.TaggedError("GridTooLarge")<{
  readonly source: string;
  readonly variants: number;
  readonly limit: number;
}> {
  /** Names the spec, the number of variants and the limit, and how to run it anyway. */
  override get message(): string {
    return `${this.source} has ${this.variants.toLocaleString("en")} variants, more than the ` +
      `limit of ${this.limit.toLocaleString("en")}: pass --allow-large-grid ` +
      `(allowLargeGrid: true) to run it anyway`;
  }
}

/** What a spec is checked against before any computation: the data and the model. */
export interface SpecContext {
  /** Images in the benchmark's training split. */
  readonly trainCount: number;
  /** Block boundaries the model has where GROOD's early prototypes may be taken. */
  readonly earlyBoundaries: ReadonlyArray<string>;
  /** The early boundary a GROOD spec without one gets (the model's early tap). */
  readonly earlyTap: string;
}

/** The GROOD settings checked against the data and the model. */
type Checked = "earlyBoundary" | "samples" | "k";

/** What is wrong with one GROOD setting's value against the data and model, if anything. */
function settingProblem(
  key: Checked,
  value: string | number | undefined,
  { earlyBoundaries, trainCount }: SpecContext,
): string | undefined {
  if (key === "earlyBoundary") {
    return value === undefined || earlyBoundaries.includes(value as string)
      ? undefined
      : `the model has no layer ${value} (it has ${earlyBoundaries.join(", ")})`;
  }
  if (typeof value !== "number" || value <= trainCount) return undefined;
  return key === "k"
    ? `k ${value} is more than the ${trainCount} training images`
    : `samples ${value} is more than the ${trainCount} training images (use "all" for every one)`;
}

/** Fail with every problem of the `[path, key, value]` settings against the data and model. */
const checkSettings = (
  settings: ReadonlyArray<readonly [string, Checked, string | number | undefined]>,
  context: SpecContext,
  source: string,
): Effect.Effect<void, InvalidInput> => {
  const problems = settings.flatMap(([path, key, value]) => {
    const problem = settingProblem(key, value, context);
    return problem === undefined ? [] : [{ path, problem }];
  });
  return problems.length === 0 ? Effect.void : Effect.fail(new InvalidInput({ source, problems }));
};

/** Check a decoded pipeline spec against the data and the model, before anything is computed. */
export const checkPipeline = (
  spec: PipelineSpec,
  context: SpecContext,
  source = "pipeline spec",
): Effect.Effect<void, InvalidInput> =>
  checkSettings(
    spec.detectors.flatMap((d, i) =>
      d.kind !== "grood" ? [] : [
        [`detectors[${i}].earlyBoundary`, "earlyBoundary", d.earlyBoundary],
        [
          `detectors[${i}].oodPrototype.samples`,
          "samples",
          d.oodPrototype?.kind === "mixup" ? d.oodPrototype.samples : undefined,
        ],
        [`detectors[${i}].k`, "k", d.k],
      ] as const
    ),
    context,
    source,
  );

/** Check a decoded ablation spec against the data and model (see `checkPipeline`). */
export const checkAblation = (
  spec: AblationSpec,
  context: SpecContext,
  source = "ablation spec",
): Effect.Effect<void, InvalidInput> =>
  checkSettings(
    spec.grids.flatMap((grid, g) =>
      (["earlyBoundary", "samples", "k"] as const).flatMap((key) =>
        (grid[key] ?? []).map((value, i) => [`grids[${g}].${key}[${i}]`, key, value] as const)
      )
    ),
    context,
    source,
  );

/** A spec file cannot be read or is not JSON. */
export class SpecFileError extends Data.TaggedError("SpecFileError")<{
  readonly path: string;
  readonly problem: string;
}> {
  /** Names the file and the problem. */
  override get message(): string {
    return `Cannot read spec file "${this.path}": ${this.problem}`;
  }
}

/** Read a JSON spec file and decode it, naming the file as the source of any problem. */
export const readSpecFile = <A, E>(
  path: string,
  decode: (input: unknown, source: string) => Effect.Effect<A, E>,
): Effect.Effect<A, SpecFileError | E> =>
  Effect.tryPromise({
    try: async () => JSON.parse(await Deno.readTextFile(path)) as unknown,
    catch: (error) =>
      new SpecFileError({
        path,
        problem: error instanceof Error ? error.message : String(error),
      }),
  }).pipe(Effect.flatMap((input) => decode(input, path)));
