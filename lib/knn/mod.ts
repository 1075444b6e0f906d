/**
 * k-nearest-neighbour indexes over descriptors (the rows of a `Matrix`), L2 distance.
 *
 * Three registered kinds behind one interface, {@link NearestNeighbourIndex}, each one file in
 * `kinds/` and one line in {@link INDEX_KINDS} (its spec, build, save, load and `index.json`
 * Schema):
 * - **exact** ({@link exactIndex}): brute force over a WebAssembly SIMD kernel, pruned by
 *   norms without changing a single result; distances re-ranked in float64; a large search
 *   shared by the calling thread and Web Workers, with the one-thread result bit for bit.
 * - **ivf** ({@link ivfIndex}): approximate, k-means lists each searched exactly by the same
 *   SIMD kernel, nprobe calibrated to a recall target; for large sets (float32 distances).
 * - **hnsw** ({@link hnswIndex}): approximate, hnswlib-node's `HierarchicalNSW`; distances
 *   recomputed as the exact index's, so both kinds agree whenever they find the same neighbours.
 *
 * A spec names a kind with a tagged {@link IndexSpec} (`{ "kind": "ivf", "nprobe": 4 }`);
 * {@link buildIndex} builds it. Distances are Euclidean (not squared). Indexes can be saved
 * and loaded ({@link saveIndex}, {@link loadIndex}); checksums guard the files. {@link recallAtK}
 * compares an approximate search with an exact one.
 *
 * @module
 */
export * from "./errors.ts";
export * from "./types.ts";
export {
  EXACT_DEFAULTS,
  type ExactIndex,
  exactIndex,
  type ExactIndexOptions,
  type SearchStats,
  searchStats,
} from "./exact.ts";
export {
  checkHnswParams,
  HNSW_DEFAULTS,
  type HnswIndex,
  hnswIndex,
  type HnswParams,
} from "./hnsw.ts";
export {
  CALIBRATION_DEFAULTS,
  EF_LADDER,
  type EfCalibration,
  type EfCalibrationOptions,
} from "./calibrate.ts";
export { IndexMetadata, loadIndex, saveIndex } from "./persist.ts";
export {
  IVF_DEFAULTS,
  type IvfBuilder,
  ivfBuilder,
  type IvfIndex,
  ivfIndex,
  type IvfOptions,
  type IvfSettings,
  NPROBE_LADDER,
} from "./ivf.ts";
export { recallAtK } from "./recall.ts";
export type {
  AnyIndexKind,
  BuildContext,
  IndexBuildError,
  IndexKind,
  IndexLoadError,
  PlainSchema,
  SavedShape,
} from "./kind.ts";
export { defineIndexKind } from "./kind.ts";
export { FileEntry } from "./files.ts";
export { buildIndex, INDEX_KINDS, indexKind, IndexSpec } from "./registry.ts";
