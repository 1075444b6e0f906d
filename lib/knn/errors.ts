/**
 * Typed errors of the k-NN indexes, each naming the index or file and what is wrong.
 *
 * @module
 */
import { Data } from "effect";
import type { InvalidParameter } from "../errors.ts";

/** k is larger than the number of indexed points (or the index is empty). */
export class IndexTooSmall extends Data.TaggedError("IndexTooSmall")<{
  readonly index: string;
  readonly size: number;
  readonly k: number;
}> {
  /** The error as one line: what failed and why. */
  override get message(): string {
    return `Cannot search ${this.index}: ${this.k} neighbours requested but it holds ${this.size} points`;
  }
}

/** k is not a positive integer. */
export class InvalidNeighbourCount extends Data.TaggedError("InvalidNeighbourCount")<{
  readonly index: string;
  readonly k: number;
}> {
  /** The error as one line: what failed and why. */
  override get message(): string {
    return `Cannot search ${this.index}: k = ${this.k} is not a positive integer`;
  }
}

/** Queries have a different number of columns from the indexed points. */
export class DimensionMismatch extends Data.TaggedError("DimensionMismatch")<{
  readonly index: string;
  readonly expected: number;
  readonly actual: number;
}> {
  /** The error as one line: what failed and why. */
  override get message(): string {
    return `Cannot search ${this.index}: queries have ${this.actual} columns, the index has ${this.expected}`;
  }
}

/** A point or query holds NaN or ±Infinity. */
export class NonFiniteVector extends Data.TaggedError("NonFiniteVector")<{
  readonly index: string;
  readonly what: "point" | "query";
  readonly row: number;
}> {
  /** The error as one line: what failed and why. */
  override get message(): string {
    return `Cannot use ${this.index}: ${this.what} ${this.row} holds a NaN or infinite value`;
  }
}

/** The points do not fit the 4 GiB WebAssembly memory of the exact kernel. */
export class IndexTooLarge extends Data.TaggedError("IndexTooLarge")<{
  readonly index: string;
  readonly bytes: number;
}> {
  /** The error as one line: what failed and why. */
  override get message(): string {
    return `Cannot build ${this.index}: it needs ${this.bytes} bytes of WebAssembly memory (max 4 GiB)`;
  }
}

/** A saved index does not match its metadata (checksum, shape, kind, format). */
export class CorruptIndex extends Data.TaggedError("CorruptIndex")<{
  readonly path: string;
  readonly problem: string;
}> {
  /** The error as one line: what failed and why. */
  override get message(): string {
    return `Cannot load index "${this.path}": ${this.problem}`;
  }
}

/** Reading or writing index files failed at the file-system level. */
export class IndexIoError extends Data.TaggedError("IndexIoError")<{
  readonly path: string;
  readonly cause: unknown;
}> {
  /** The error as one line: what failed and why. */
  override get message(): string {
    return `Cannot access index file "${this.path}": ${String(this.cause)}`;
  }
}

/** The hnswlib-node addon could not be loaded. */
export class HnswUnavailable extends Data.TaggedError("HnswUnavailable")<{
  readonly cause: unknown;
}> {
  /** The error as one line: what failed and why. */
  override get message(): string {
    return `Cannot load hnswlib-node (run deno with --allow-ffi --allow-sys --allow-env --allow-read, and install it with npm so its addon is built): ${
      String(this.cause)
    }`;
  }
}

/** A worker of a multi-threaded search (exact or IVF) failed or was terminated mid-search. */
export class SearchWorkerError extends Data.TaggedError("SearchWorkerError")<{
  readonly index: string;
  readonly reason: string;
}> {
  /** The error as one line: what failed and why. */
  override get message(): string {
    return `A search worker of ${this.index} failed: ${this.reason}`;
  }
}

/** Errors of a search (`InvalidParameter`: a query matrix holding fewer than rows × cols values). */
export type SearchError =
  | InvalidParameter
  | IndexTooSmall
  | InvalidNeighbourCount
  | DimensionMismatch
  | NonFiniteVector
  | SearchWorkerError;
