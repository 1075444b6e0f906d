/**
 * What every k-NN index is: {@link NearestNeighbourIndex} (search the k nearest rows of its
 * points, L2 distance), its result {@link Neighbours}, and the HNSW graph parameters.
 *
 * @module
 */
import type { Effect } from "effect";
import type { Matrix } from "../matrix.ts";
import type { EfCalibration } from "./calibrate.ts";
import type { SearchError } from "./errors.ts";

/** The k nearest neighbours of each query, nearest first: row q occupies `[q·k, (q+1)·k)`. */
export interface Neighbours {
  /** Number of query rows. */
  readonly rows: number;
  /** Neighbours per query. */
  readonly k: number;
  /** Euclidean distances (not squared). */
  readonly distances: Float64Array;
  /** Row indices into the indexed points. */
  readonly indices: Int32Array;
}

/** HNSW graph parameters (see {@link hnswIndex}). */
export interface HnswParams {
  /** Links per node. */
  readonly M: number;
  /** Candidate list size while building. */
  readonly efConstruction: number;
  /** Candidate list size while searching (at least k is used). */
  readonly efSearch: number;
  /** Seed of the level generator (the build is deterministic for a seed). */
  readonly seed: number;
}

/** An IVF index's lists and search breadth (see `ivf.ts`). */
export interface IvfSettings {
  /** Number of lists (k-means centroids). */
  readonly lists: number;
  /** Lists each query visits. */
  readonly nprobe: number;
  /** Lloyd iterations of the k-means. */
  readonly iterations: number;
  /** Seed of the k-means sample and of the calibration sample (the build is deterministic). */
  readonly seed: number;
}

/** A k-NN index over the rows of a matrix. */
export interface NearestNeighbourIndex {
  /**
   * Exact (brute force, norm-pruned), HNSW (hnswlib), usearch (approximate, both) or IVF
   * (k-means lists searched exactly).
   */
  readonly kind: "exact" | "hnsw" | "usearch" | "ivf";
  /** Number of indexed points. */
  readonly size: number;
  /** Number of columns of each point. */
  readonly dim: number;
  /** Names the index in errors: its folder when loaded, else a description. */
  readonly name: string;
  /**
   * The indexed points, kept to save the index and to compute exact distances (exact, HNSW);
   * undefined for usearch, which holds the only copy, and for an IVF index built from chunks.
   */
  readonly points: Matrix | undefined;
  /** HNSW parameters; undefined for the exact and IVF indexes. */
  readonly params: HnswParams | undefined;
  /** An IVF index's lists and nprobe. */
  readonly ivf?: IvfSettings | undefined;
  /**
   * How an HNSW index's efSearch (`hnswIndex`'s `calibrate`) or an IVF index's nprobe (its
   * `efSearch` field) was chosen by measurement, if it was.
   */
  readonly calibration?: EfCalibration | undefined;
  /** The `k` nearest points of each query row. A search after {@link dispose} is a defect. */
  search(queries: Matrix, k: number): Effect.Effect<Neighbours, SearchError>;
  /** Release the native/WebAssembly memory. */
  dispose(): void;
}
