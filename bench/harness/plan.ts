/**
 * What a bench run measures and on how much data: the full run (`bench/results.json`) and the
 * quick smoke run (`--quick`), and the sections a run can be limited to (`--only`).
 *
 * @module
 */
import { SCALE_FULL, SCALE_QUICK, type ScalePlan } from "./scale.ts";

/** The sections of the bench, in the order they run. */
export const SECTIONS = [
  "fit",
  "descriptors",
  "knn",
  "scoring",
  "engines",
  "fit-memory",
  "scale",
] as const;
export type Section = typeof SECTIONS[number];

/** One index size of the k-NN scaling study. */
export interface ScalingStep {
  readonly label: string;
  /** Points: a seeded subset of the real descriptors, all of them, or them tiled with noise. */
  readonly points: { readonly kind: "subset"; readonly size: number } | { readonly kind: "all" } | {
    readonly kind: "tiled";
    readonly copies: number;
  };
  /** Queries (a seeded sample of the query set), or all of them. */
  readonly queries: number | "all";
  /** Build the HNSW graph once (too slow to repeat) instead of `runs` times. */
  readonly hnswBuildOnce: boolean;
}

/** Sizes and repetitions of a bench run. */
export interface Plan {
  readonly mode: "full" | "quick";
  readonly runs: number;
  readonly warmup: number;
  readonly batchSize: number;
  /** Training images (first N), or all 60,000. */
  readonly train: number | "all";
  /** ID test images (first N of the 10,000-image test split). */
  readonly test: number;
  /** Images taken from each OOD test set of the benchmark, for k-NN queries. */
  readonly oodPerSet: number;
  /** Rows of the per-sample autograd measurement (its rate is extrapolated). */
  readonly perSampleRows: number;
  readonly scaling: ReadonlyArray<ScalingStep>;
  /** Per-coordinate noise of the tiled copies, as a fraction of the typical 1-NN distance / √D. */
  readonly tileNoise: number;
  /** The k-NN scale table (synthetic and real descriptors, each configuration a process). */
  readonly scale: ScalePlan;
  /** The bounded-memory fit: synthetic training-set sizes (small first), noise and seed. */
  readonly fitMemory: {
    readonly sizes: ReadonlyArray<{ readonly label: string; readonly images: number }>;
    readonly noise: number;
    readonly seed: number;
  };
}

/**
 * What the full and the quick run measure alike (only their sizes differ): the repetitions'
 * warm-up, the forward batch, the tiles' noise, and the synthetic fit's noise and seed.
 */
const ALIKE = { warmup: 1, batchSize: 500, tileNoise: 0.5 } as const;
const fitMemoryAt = (
  sizes: ReadonlyArray<{ readonly label: string; readonly images: number }>,
): Plan["fitMemory"] => ({ sizes, noise: 8, seed: 0 });

/** The full run (`bench/results.json`). */
export const FULL: Omit<Plan, "runs"> = {
  ...ALIKE,
  mode: "full",
  train: "all",
  test: 10_000,
  oodPerSet: 1_000,
  perSampleRows: 500,
  scaling: [
    {
      label: "10k",
      points: { kind: "subset", size: 10_000 },
      queries: "all",
      hnswBuildOnce: false,
    },
    { label: "60k", points: { kind: "all" }, queries: "all", hnswBuildOnce: false },
    { label: "600k", points: { kind: "tiled", copies: 10 }, queries: 2_000, hnswBuildOnce: true },
  ],
  scale: SCALE_FULL,
  fitMemory: fitMemoryAt([{ label: "60k", images: 60_000 }, { label: "600k", images: 600_000 }]),
};

/** The quick smoke run (`--quick`). */
export const QUICK: Omit<Plan, "runs"> = {
  ...ALIKE,
  mode: "quick",
  train: 3_000,
  test: 1_000,
  oodPerSet: 100,
  perSampleRows: 50,
  scaling: [
    { label: "1k", points: { kind: "subset", size: 1_000 }, queries: "all", hnswBuildOnce: false },
    { label: "3k", points: { kind: "all" }, queries: "all", hnswBuildOnce: false },
    { label: "30k", points: { kind: "tiled", copies: 10 }, queries: 300, hnswBuildOnce: true },
  ],
  scale: SCALE_QUICK,
  fitMemory: fitMemoryAt([{ label: "3k", images: 3_000 }, { label: "30k", images: 30_000 }]),
};

/** The early boundary of GROOD's prototypes and mix-up (GROOD_DEFAULTS.earlyBoundary). */
export const EARLY = "block1";
/** The benchmark the bench runs on. */
export const BENCHMARK = "mnist";
/** Bytes in a gigabyte (targets are decimal). */
export const GB = 1e9;
