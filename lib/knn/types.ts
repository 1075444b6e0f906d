/**
 * What every k-NN index is: {@link NearestNeighbourIndex} and its result {@link Neighbours}.
 * What sets one kind apart lives in that kind's own module and type, never here.
 *
 * @module
 */
import type { Effect } from "effect";
import type { Matrix } from "../matrix.ts";
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

/** A k-NN index over the rows of a matrix. */
export interface NearestNeighbourIndex {
  /** Its kind: a registered one (`registry.ts`: `exact`, `ivf`, `hnsw`) or a user's own. */
  readonly kind: string;
  /** Number of indexed points. */
  readonly size: number;
  /** Number of columns of each point. */
  readonly dim: number;
  /** Names the index in errors: its folder when loaded, else a description. */
  readonly name: string;
  /** The parameters a report should show (HNSW's efSearch, IVF's nprobe, their calibration). */
  readonly settings: Readonly<Record<string, number | boolean>>;
  /** The `k` nearest points of each query row. A search after {@link dispose} is a defect. */
  search(queries: Matrix, k: number): Effect.Effect<Neighbours, SearchError>;
  /** Release the native/WebAssembly memory. */
  dispose(): void;
}
