/**
 * GROOD's options: where its OOD prototype comes from (mix-up, the mean of the prototypes,
 * noise, validation OOD, or a user's own), its descriptor, index, k and temperature, and the
 * defaults `grood.ts`'s module doc gives the reasons for.
 *
 * @module
 */
import type { Effect } from "effect";
import type { Matrix } from "../matrix.ts";
import type { IndexSpec, NearestNeighbourIndex } from "../knn/mod.ts";
import { MIXUP_DEFAULTS } from "../stages/mixup.ts";
import type { Prototypes } from "../stages/prototype.ts";
import type { DetectorError, FitInputs } from "./detector.ts";

/**
 * A user's own OOD-prototype source: a name (part of the cache key: change it when the code
 * changes) and how to compute the prototype from what GROOD fits on; it fails only with
 * tagged errors (`DetectorError`).
 */
export interface CustomOodPrototype {
  /** Marks a user's own source. */
  readonly kind: "custom";
  /** Names the source in settings and cache keys: change it when the code changes. */
  readonly name: string;
  /** The OOD prototype (D values, in the penultimate space) from the fit inputs and prototypes. */
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

/** Where GROOD's OOD prototype comes from. */
export type OodPrototypeSource =
  | CustomOodPrototype
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

/** GROOD's parameters. */
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
  /** NCP-logit temperature τ (an extension; 1 = the paper). */
  readonly temperature: number;
  /** When given, τ is chosen from this grid on the validation data (overrides `temperature`). */
  readonly temperatureGrid?: ReadonlyArray<number>;
  /** Seed of the HNSW graph and of IVF's k-means. */
  readonly seed: number;
}

/** GROOD's defaults (see the module doc for the reasons). */
export const GROOD_DEFAULTS: GroodOptions = {
  oodPrototype: { kind: "mixup", lambda: MIXUP_DEFAULTS.lambda, seed: MIXUP_DEFAULTS.seed },
  descriptor: "gradient",
  index: { kind: "exact" },
  k: 1,
  temperature: 1,
  seed: 0,
};

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
