/**
 * k-nearest-neighbour indexes over descriptors (the rows of a `Matrix`), Euclidean distance, behind
 * one interface, {@link NearestNeighbourIndex}. Three registered kinds, each one file in `kinds/`
 * and one line in {@link INDEX_KINDS}: **exact** ({@link exactIndex}: WebAssembly SIMD brute force,
 * norm-pruned, float64 re-ranked, exact at any scale), **ivf** ({@link ivfIndex}: k-means lists,
 * nprobe calibrated to a recall target) and **hnsw** ({@link hnswIndex}: hnswlib-node's graph).
 * {@link buildIndex} builds a tagged {@link IndexSpec} (`{ "kind": "ivf", "nprobe": 4 }`);
 * {@link saveIndex} and {@link loadIndex} keep them, checksums guarding the files;
 * {@link recallAtK} compares an approximate search with an exact one.
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
  recallAtK,
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
