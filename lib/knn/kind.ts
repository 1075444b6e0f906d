/**
 * What an index kind is: the spec a user writes (an Effect Schema decoded strictly), how it
 * builds an index, and how it saves and loads one. Each kind is one file in `kinds/`, listed in
 * `registry.ts`. A kind's save reads its own indexes' internals, and `kind` alone (a string any
 * user's index may claim) proves nothing: each kind keeps an {@link Owner} of the indexes it made.
 *
 * @module
 */
import { type Effect, Schema } from "effect";
import type { InvalidParameter } from "../errors.ts";
import type { Matrix } from "../matrix.ts";
import type {
  CorruptIndex,
  HnswUnavailable,
  IndexIoError,
  IndexTooLarge,
  NonFiniteVector,
} from "./errors.ts";
import type { NearestNeighbourIndex } from "./types.ts";

/** A Schema decoded without services (every spec and metadata Schema of a kind is one). */
export type PlainSchema = Schema.Top & { readonly DecodingServices: never };

/** What every kind's build is given besides the points and its spec. */
export interface BuildContext {
  /** Names the index in errors. */
  readonly name: string;
  /** Seed of a randomised build (HNSW's levels, IVF's k-means). */
  readonly seed: number;
}

/** A saved index's folder and the shape `index.json` records for it. */
export interface SavedShape {
  /** The folder (names the loaded index in errors). */
  readonly dir: string;
  /** Number of points. */
  readonly size: number;
  /** Columns of each point. */
  readonly dim: number;
}

/** What building an index of a registered kind can fail with. */
export type IndexBuildError = NonFiniteVector | IndexTooLarge | HnswUnavailable | InvalidParameter;

/** What loading a saved index can fail with. */
export type IndexLoadError =
  | CorruptIndex
  | IndexIoError
  | HnswUnavailable
  | NonFiniteVector
  | IndexTooLarge;

/** One index kind: the Schemas of its spec and of its `index.json` record, its indexes' type. */
export interface IndexKind<
  Spec extends PlainSchema,
  Metadata extends PlainSchema,
  Index extends NearestNeighbourIndex,
> {
  /** The name a spec uses (the `kind` of its spec). */
  readonly kind: string;
  /** What it is, for the docs. */
  readonly description: string;
  /** Its spec: `{ kind, …options }`. */
  readonly spec: Spec;
  /** What it records in `index.json` (its files with their sha256, its parameters). */
  readonly metadata: Metadata;
  /** Build an index over the rows of `points`. */
  readonly build: (
    points: Matrix,
    spec: Spec["Type"],
    context: BuildContext,
  ) => Effect.Effect<NearestNeighbourIndex, IndexBuildError>;
  /** Whether this kind built or loaded `index` (only those it can save). */
  readonly owns: (index: NearestNeighbourIndex) => index is Index;
  /** Write the index's files into the existing folder `dir`; what `index.json` records. */
  readonly save: (index: Index, dir: string) => Effect.Effect<Metadata["Type"], IndexIoError>;
  /** Load an index saved by `save` (its metadata already decoded). */
  readonly load: (
    saved: SavedShape,
    metadata: Metadata["Type"],
  ) => Effect.Effect<NearestNeighbourIndex, IndexLoadError>;
}

/** Any index kind (the registry's element type). */
// deno-lint-ignore no-explicit-any
export type AnyIndexKind = IndexKind<any, any, any>;

/**
 * The indexes one kind built or loaded, remembered without keeping them alive: `mark` remembers
 * one (and returns it), `owns` asks.
 */
export interface Owner<I extends NearestNeighbourIndex> {
  readonly mark: (index: I) => I;
  readonly owns: (index: NearestNeighbourIndex) => index is I;
}

/** A new, empty owner. */
export const owner = <I extends NearestNeighbourIndex>(): Owner<I> => {
  const made = new WeakSet<NearestNeighbourIndex>();
  return {
    mark: (index) => {
      made.add(index);
      return index;
    },
    owns: (index): index is I => made.has(index),
  };
};

/** Define an index kind (an identity that keeps its Schemas' types). */
export const defineIndexKind = <
  Spec extends PlainSchema,
  Metadata extends PlainSchema,
  Index extends NearestNeighbourIndex,
>(kind: IndexKind<Spec, Metadata, Index>): IndexKind<Spec, Metadata, Index> => kind;

/** A whole number ≥ 1 (lists, nprobe, M, ef…). */
export const Count = Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(1)));

/** A whole number ≥ 0 (a seed, Lloyd iterations). */
export const Whole = Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(0)));

/** A recall target: a number in (0, 1]. */
export const RecallTarget = Schema.Finite.pipe(
  Schema.check(Schema.isGreaterThan(0), Schema.isLessThanOrEqualTo(1)),
);
