/**
 * What the scoring service needs from a detector: who it is (metadata for `GET /v1/detector`
 * and the page's histogram), the image shape it takes, and a batch scorer. Anything that can
 * score a batch of decoded images can be served: a fitted-detector folder, or a detector fitted
 * in this process (`assemble.ts`).
 *
 * @module
 */
import type { Effect } from "effect";
import type { ImageShape } from "../../lib/sources/mod.ts";

/** Scores of a batch, one entry per image, in order. Higher score = more likely OOD. */
export interface ImageScores {
  /** One OOD score per image. */
  readonly scores: Float64Array;
  /** The classifier's predicted class per image. */
  readonly predicted: Int32Array;
  /** `score > threshold` per image. */
  readonly isOod: ReadonlyArray<boolean>;
}

/** Counts of validation scores per bin (`edges.length = counts.length + 1`, shared by both sets). */
export interface ScoreHistogram {
  /** Bin edges, ascending. */
  readonly edges: ReadonlyArray<number>;
  /** Held-out ID images per bin. */
  readonly id: ReadonlyArray<number>;
  /** Validation-OOD images per bin. */
  readonly ood: ReadonlyArray<number>;
}

/** The detector's metadata, as `GET /v1/detector` answers it (JSON). */
export interface DetectorInfo {
  /** Content hash of the fitted detector: every answer carries it. */
  readonly version: string;
  /** Detector kind (`grood`, …). */
  readonly kind: string;
  /** Content key of the classifier (architecture, weights, preprocessing). */
  readonly modelKey: string;
  /** The model's format (`onnx`, `tfjs-layers`, `grood`…), when known. */
  readonly modelKind?: string;
  /** Scores above it are flagged OOD (chosen to keep 95% of the ID validation images). */
  readonly threshold: number;
  /** Class names in label order, when known. */
  readonly classNames?: ReadonlyArray<string>;
  /** The detector's settings in force (tuned values included). */
  readonly settings: Readonly<Record<string, unknown>>;
  /** Validation metrics (ID validation vs validation OOD): AUROC, FPR@95, … */
  readonly validation: Readonly<Record<string, number>>;
  /** Validation score histogram (ID and OOD), drawn by the page with the threshold. */
  readonly histogram: ScoreHistogram;
}

/** A detector a scoring service can run. */
export interface ServedDetector<E = unknown> {
  /** What `GET /v1/detector` answers. */
  readonly info: DetectorInfo;
  /** The image shape the model takes; requests are decoded and resized to it. */
  readonly input: ImageShape;
  /** Score `count` images (NHWC uint8 at `input`). */
  readonly scoreImages: (pixels: Uint8Array, count: number) => Effect.Effect<ImageScores, E>;
  /** Live tensor count of the engine, when it has one (exported in `/metrics`). */
  readonly tensors?: () => number;
}

/**
 * Histogram of ID and OOD validation scores on `bins` equal bins over their joint range.
 *
 * @example
 * ```ts
 * import { scoreHistogram } from "./detector.ts";
 * const h = scoreHistogram([0, 1, 1], [3, 4], 2);
 * if (h.id.join() !== "3,0" || h.ood.join() !== "0,2" || h.edges.join() !== "0,2,4") {
 *   throw new Error("wrong histogram");
 * }
 * ```
 */
export function scoreHistogram(
  id: ArrayLike<number>,
  ood: ArrayLike<number>,
  bins = 40,
): ScoreHistogram {
  let lo = Infinity;
  let hi = -Infinity;
  for (const values of [id, ood]) {
    for (let i = 0; i < values.length; i++) {
      lo = Math.min(lo, values[i]!);
      hi = Math.max(hi, values[i]!);
    }
  }
  if (!(hi > lo)) hi = lo + 1;
  const width = (hi - lo) / bins;
  const edges = Array.from({ length: bins + 1 }, (_, i) => i === bins ? hi : lo + i * width);
  const count = (values: ArrayLike<number>) => {
    const counts = new Array<number>(bins).fill(0);
    for (let i = 0; i < values.length; i++) {
      const bin = Math.min(bins - 1, Math.floor((values[i]! - lo) / width));
      counts[bin]! += 1;
    }
    return counts;
  };
  return { edges, id: count(id), ood: count(ood) };
}
