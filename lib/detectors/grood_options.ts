/**
 * GROOD's options: a Schema (`GroodOptionsSpec`) holding the defaults, and the option types (with a
 * user's own OOD-prototype source or index builder) derived from it.
 *
 * @module
 */
import { type Effect, Schema } from "effect";
import type { Matrix } from "../matrix.ts";
import type { NearestNeighbourIndex } from "../knn/mod.ts";
import { IndexSpec } from "../knn/registry.ts";
import { TEMPERATURE_EXPECTED, temperatureHeld } from "../stages/gradient.ts";
import { MIXUP_DEFAULTS } from "../stages/mixup.ts";
import type { Prototypes } from "../stages/prototype.ts";
import type { DetectorError, FitInputs } from "./detector.ts";
import {
  type Expect,
  Grid,
  optionDefaults,
  PositiveInt,
  Probability,
  type SameFields,
  Seed,
  withDefault,
} from "./entry.ts";

/** A user's own OOD-prototype source: a name and how to compute the prototype. */
export interface CustomOodPrototype {
  /** Marks a user's own source. */
  readonly kind: "custom";
  /** Names the source in settings and cache keys: change it when the code changes. */
  readonly name: string;
  /** The OOD prototype (D values, penultimate space), failing only with `DetectorError`s. */
  readonly compute: (
    inputs: FitInputs,
    prototypes: Prototypes,
  ) => Effect.Effect<Float32Array, DetectorError>;
}

/** A user's own k-NN index (a sharded, on-disk or remote one, …). */
export interface IndexBuilder {
  /** Names the index in settings and reports. */
  readonly name: string;
  /** Build an index over the training descriptors (one row per point). */
  readonly build: (points: Matrix) => Effect.Effect<NearestNeighbourIndex, DetectorError>;
}

/** Where GROOD's OOD prototype comes from, as a spec (a tagged union, never a flag soup). */
export const OodPrototypeSpec = Schema.Union([
  Schema.Struct({
    kind: Schema.Literal("mixup"),
    lambda: Probability,
    samples: Schema.optionalKey(Schema.Union([PositiveInt, Schema.Literal("all")])),
    seed: Seed,
  }),
  Schema.Struct({ kind: Schema.Literal("mean") }),
  Schema.Struct({ kind: Schema.Literal("noise"), count: PositiveInt, seed: Seed }),
  Schema.Struct({
    kind: Schema.Literal("validation"),
    firstImages: Schema.optionalKey(PositiveInt),
  }),
]);

/**
 * GROOD's temperature τ: a number its float32 descriptors can hold, in [2^-62, 2^62]
 * (`TEMPERATURE_RANGE` in `lib/stages/gradient.ts` says why); refused by name outside it.
 */
export const GroodTemperature: Schema.Finite = Schema.Finite.pipe(
  Schema.check(
    Schema.makeFilter((t: number) =>
      temperatureHeld(t) ? true : `Expected ${TEMPERATURE_EXPECTED}, got ${t}`
    ),
  ),
);

/**
 * GROOD's spec options but the OOD-prototype source (the variants fix it), with their defaults:
 * the only place they are written (`GroodOptions` says what each means).
 */
export const groodFields = {
  earlyBoundary: Schema.optionalKey(Schema.String),
  descriptor: withDefault(Schema.Literals(["gradient", "distance"]), "gradient"),
  index: withDefault(IndexSpec, { kind: "exact" }),
  k: withDefault(PositiveInt, 1),
  temperature: withDefault(GroodTemperature, 1),
  temperatureGrid: Schema.optionalKey(Grid(GroodTemperature)),
  seed: withDefault(Seed, 0),
};

/** GROOD's default OOD prototype: the targeted mix-up with the mix-up stage's defaults. */
export const DEFAULT_OOD_PROTOTYPE: {
  readonly kind: "mixup";
  readonly lambda: number;
  readonly seed: number;
} = { kind: "mixup", lambda: MIXUP_DEFAULTS.lambda, seed: MIXUP_DEFAULTS.seed };

/** GROOD's spec options. */
export const GroodOptionsSpec = Schema.Struct({
  ...groodFields,
  oodPrototype: withDefault(OodPrototypeSpec, DEFAULT_OOD_PROTOTYPE),
});

/** Where GROOD's OOD prototype comes from: a spec's source, or a user's own. */
export type OodPrototypeSource = CustomOodPrototype | SpecOodPrototype;

/** The OOD-prototype sources a spec can name: what `OodPrototypeSpec` decodes to. */
export type SpecOodPrototype =
  | {
    readonly kind: "mixup";
    readonly lambda: number;
    /** Images to mix; absent: min(10,000, training images). */
    readonly samples?: number | "all";
    readonly seed: number;
  }
  | { readonly kind: "mean" }
  | { readonly kind: "noise"; readonly count: number; readonly seed: number }
  | {
    readonly kind: "validation";
    /**
     * Use only the first n validation-OOD images (the sets concatenated in benchmark order),
     * as the reference does with its first loader batch; absent = the whole split.
     */
    readonly firstImages?: number;
  };
// The documented union is the Schema's: checked at compile time.
type _SpecOodPrototypeMatchesSchema = Expect<
  SameFields<SpecOodPrototype, typeof OodPrototypeSpec.Type>
>;

/** GROOD's parameters (defaults: `GROOD_DEFAULTS`, from its Schema `GroodOptionsSpec`). */
export interface GroodOptions {
  /** Where the early prototypes and the mix-up are taken; absent: the model's early tap. */
  readonly earlyBoundary?: string;
  /** Where the OOD prototype comes from (default: the targeted mix-up). */
  readonly oodPrototype: OodPrototypeSource;
  /** `gradient`: GROOD; `distance`: ablation, score = −‖h − p_ood‖ (no gradient, no index). */
  readonly descriptor: "gradient" | "distance";
  /** A registered index kind with its options (`lib/knn/registry.ts`) or a user's own builder. */
  readonly index: IndexSpec | IndexBuilder;
  /** Neighbours k of the nearest-neighbour score (default 1, the paper). */
  readonly k: number;
  /** NCP-logit temperature τ (an extension; 1 = the paper), in [2^-62, 2^62]. */
  readonly temperature: number;
  /** When given, τ is chosen from this grid on the validation data (overrides `temperature`). */
  readonly temperatureGrid?: ReadonlyArray<number>;
  /** Seed of the HNSW graph and of IVF's k-means. */
  readonly seed: number;
}
// Beside a user's own prototype source and index builder, the fields are the Schema's.
type _GroodOptionsMatchSchema = Expect<
  SameFields<
    Omit<GroodOptions, "oodPrototype" | "index" | "temperatureGrid">,
    Omit<typeof GroodOptionsSpec.Type, "oodPrototype" | "index" | "temperatureGrid">
  >
>;

/** GROOD's defaults: what its spec decodes `{}` to. */
export const GROOD_SPEC_DEFAULTS: typeof GroodOptionsSpec.Type = optionDefaults(GroodOptionsSpec);

/** GROOD's defaults, as options (`GROOD_SPEC_DEFAULTS`). */
export const GROOD_DEFAULTS: GroodOptions = GROOD_SPEC_DEFAULTS;

/** A short name of the OOD prototype source, for tables. */
export function describeSource(source: OodPrototypeSource): string {
  switch (source.kind) {
    case "mixup":
      return `mixup(λ=${source.lambda}, n=${source.samples ?? "default"})`;
    case "mean":
      return "mean";
    case "noise":
      return `noise(n=${source.count})`;
    case "validation":
      return source.firstImages === undefined
        ? "validation-ood"
        : `validation-ood(first ${source.firstImages})`;
    case "custom":
      return source.name;
  }
}
