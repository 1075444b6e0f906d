/**
 * k-nearest-neighbour indexes over descriptors (the rows of a `Matrix`), L2 distance.
 *
 * Four kinds behind one interface, {@link NearestNeighbourIndex}:
 * - **exact** ({@link exactIndex}): brute force over a WebAssembly SIMD kernel, pruned by
 *   norms without changing a single result; distances re-ranked in float64.
 * - **hnsw** ({@link hnswIndex}): approximate, hnswlib-node's `HierarchicalNSW`; distances
 *   recomputed the same way, so both kinds agree whenever they find the same neighbours.
 * - **usearch** ({@link usearchIndex}): approximate, npm `usearch`'s HNSW over float32 built on
 *   every core, for large sets; it holds the only copy of the points (float32 distances).
 * - **ivf** ({@link ivfIndex}): approximate, k-means lists each searched exactly by the SIMD
 *   kernel, nprobe calibrated to a recall target; for large sets (float32 distances).
 *
 * {@link workerIndex} runs the exact index in a Web Worker, so a search can overlap other work.
 *
 * Distances are Euclidean (not squared). Indexes can be saved and loaded ({@link saveIndex},
 * {@link loadIndex}); checksums guard the files. {@link recallAtK} compares an approximate
 * search with an exact one.
 *
 * @module
 */
export * from "./errors.ts";
export * from "./types.ts";
export { exactIndex, type ExactIndexOptions, type SearchStats, searchStats } from "./exact.ts";
export { checkHnswParams, HNSW_DEFAULTS, hnswIndex } from "./hnsw.ts";
export {
  CALIBRATION_DEFAULTS,
  EF_LADDER,
  type EfCalibration,
  type EfCalibrationOptions,
} from "./calibrate.ts";
export { type IndexMetadata, loadIndex, saveIndex } from "./persist.ts";
export {
  USEARCH_DEFAULTS,
  type UsearchBuilder,
  usearchBuilder,
  usearchIndex,
  type UsearchOptions,
  type UsearchParams,
} from "./usearch.ts";
export {
  IVF_DEFAULTS,
  type IvfBuilder,
  ivfBuilder,
  ivfIndex,
  type IvfOptions,
  NPROBE_LADDER,
} from "./ivf.ts";
export { recallAtK } from "./recall.ts";
export {
  buildIndex,
  INDEX_KIND_NAMES,
  INDEX_KINDS,
  type IndexBuildError,
  type IndexBuildOptions,
  type IndexKind,
  type IndexKindName,
} from "./registry.ts";
export { SearchWorkerError, workerIndex } from "./worker_index.ts";
