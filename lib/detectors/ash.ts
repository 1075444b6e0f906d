/**
 * ASH, activation shaping (Djurisic et al., ICLR 2023), on the penultimate features, with the
 * Energy score: per image, keep the k = n − round(n·p/100) largest activations and zero the rest;
 * ASH-S (`ash`, p = 90) scales them by exp(s1/s2), ASH-B (`ash-b`, OpenOOD v1.5 `ash`, p tuned)
 * sets them to s1/k, ASH-P (`ash-p`, p = 90) keeps them as they are.
 * Details: `docs/internals/detectors.md`.
 *
 * @module
 */
import { Schema } from "effect";
import { type Matrix, matrix } from "../matrix.ts";
import type { Detector } from "./detector.ts";
import {
  baselineEntry,
  type Expect,
  Grid,
  optionDefaults,
  type OptionsMatch,
  Percentile,
  withDefault,
} from "./entry.ts";
import { fitPercentileHeadEnergy } from "./head_energy.ts";

/** The ASH variants: how the kept activations are rewritten. */
export type AshVariant = "s" | "b" | "p";

/** OpenOOD v1.5's percentile grid for ASH (`ash.yml`), shared with SCALE. */
export const ASH_PERCENTILE_GRID: ReadonlyArray<number> = [65, 70, 75, 80, 85, 90, 95];

/**
 * The options of an ASH variant whose percentile is tuned unless given (and SCALE's), with their
 * defaults.
 */
export const TunedPercentileOptionsSpec = Schema.Struct({
  percentile: Schema.optionalKey(Percentile),
  percentileGrid: withDefault(Grid(Percentile), [...ASH_PERCENTILE_GRID] as [number, ...number[]]),
});
const ASH_DEFAULTS = optionDefaults(TunedPercentileOptionsSpec);

/** Options of {@link ash}. */
export interface AshOptions {
  /** The variant (default `"s"`, ASH-S). */
  readonly variant?: AshVariant;
  /** A fixed pruning percentile p in [0, 100); when absent, p is tuned over `percentileGrid`. */
  readonly percentile?: number;
  /** Percentiles tuned over when `percentile` is absent (default `ASH_PERCENTILE_GRID`). */
  readonly percentileGrid?: ReadonlyArray<number>;
}
type _Checked = Expect<
  OptionsMatch<Omit<AshOptions, "variant">, typeof TunedPercentileOptionsSpec>
>;

/** Number of activations ASH keeps out of `n` at percentile `p` (numpy round-half-even). */
export function ashKeptCount(n: number, p: number): number {
  const pruned = n * p / 100;
  // numpy rounds halves to even; Math.round rounds them up.
  const floor = Math.floor(pruned);
  const rounded = pruned - floor === 0.5
    ? (floor % 2 === 0 ? floor : floor + 1)
    : Math.round(pruned);
  return n - rounded;
}

/**
 * The shaped features of every row: keep the top k (ties: lower index), rewrite them as the
 * variant says (see the module doc), zero the rest.
 */
export function ashShape(features: Matrix, p: number, variant: AshVariant): Matrix {
  const { rows, cols: n, data } = features;
  const k = ashKeptCount(n, p);
  const out = new Float32Array(rows * n);
  const order = new Array<number>(n);
  for (let i = 0; i < rows; i++) {
    const h = data.subarray(i * n, (i + 1) * n);
    let s1 = 0;
    for (let j = 0; j < n; j++) {
      s1 += h[j]!;
      order[j] = j;
    }
    order.sort((a, b) => h[b]! - h[a]! || a - b);
    let s2 = 0;
    for (let r = 0; r < k; r++) s2 += h[order[r]!]!;
    const scale = variant === "s" && s2 !== 0 ? Math.exp(s1 / s2) : 1;
    for (let r = 0; r < k; r++) {
      const j = order[r]!;
      out[i * n + j] = variant === "b" ? s1 / k : h[j]! * scale;
    }
  }
  return matrix(rows, n, out);
}

/** The name a variant goes by in tables: `ASH-S@90`, `ASH-B` (tuned), `ASH-P@90`. */
export function ashName(variant: AshVariant, percentile: number | undefined): string {
  const base = `ASH-${variant.toUpperCase()}`;
  return percentile === undefined ? base : `${base}@${percentile}`;
}

/** The ASH detector of one variant: Energy of the logits recomputed from shaped features. */
export function ash(options: AshOptions = {}): Detector {
  const variant = options.variant ?? "s";
  const name = ashName(variant, options.percentile);
  const grid = options.percentileGrid ?? ASH_DEFAULTS.percentileGrid;
  const shaping = {
    s: "keep the top (100 − p)% of each penultimate feature, scale them by exp(s1/s2)",
    b: "keep the top (100 − p)% of each penultimate feature, set them to s1/k",
    p: "keep the top (100 − p)% of each penultimate feature as they are",
  }[variant];
  return {
    name,
    description: `${name}: ${shaping}, zero the rest, p ${
      options.percentile === undefined ? "tuned on validation" : `= ${options.percentile}`
    }, then Energy −logsumexp(z) (Djurisic et al., ICLR 2023)`,
    fit: (inputs) =>
      fitPercentileHeadEnergy({
        detector: name,
        percentile: options.percentile,
        grid,
        transform: (h, p) => ashShape(h, p, variant),
        settings: (p, head) => ({
          variant: name.split("@")[0]!,
          kept: ashKeptCount(head.inputSize, p),
        }),
      }, inputs),
  };
}

/** The options of an ASH variant at a fixed percentile (default `percentile`). */
const fixedPercentile = (percentile: number) =>
  Schema.Struct({ percentile: withDefault(Percentile, percentile) });

/** Registration of ASH-S at p = 90 ({@link ash}). */
export const ashEntry = baselineEntry((options) => ash({ ...options, variant: "s" }), {
  kind: "ash",
  title: "ASH-S@90",
  options: fixedPercentile(90),
  source: "Djurisic et al., ICLR 2023, variant ASH-S at the paper's p = 90",
});

/** Registration of ASH-B with p tuned, as OpenOOD v1.5's `ash` ({@link ash}). */
export const ashBinaryEntry = baselineEntry((options) => ash({ ...options, variant: "b" }), {
  kind: "ash-b",
  title: "ASH-B",
  options: TunedPercentileOptionsSpec,
  source: "Djurisic et al., ICLR 2023, variant ASH-B; OpenOOD `ash` (p tuned)",
});

/** Registration of ASH-P (pruning only) at p = 90 ({@link ash}). */
export const ashPruneEntry = baselineEntry((options) => ash({ ...options, variant: "p" }), {
  kind: "ash-p",
  title: "ASH-P@90",
  options: fixedPercentile(90),
  source: "Djurisic et al., ICLR 2023, variant ASH-P (pruning only) at p = 90",
});
