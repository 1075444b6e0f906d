/**
 * Which indexes a kind made: a kind's save reads the internals of its own indexes only, and
 * `kind` alone (a string any user's index may claim) cannot prove that an index is one.
 *
 * @module
 */
import type { NearestNeighbourIndex } from "./types.ts";

/** The indexes one kind built or loaded, remembered without keeping them alive. */
export interface Owner<I extends NearestNeighbourIndex> {
  /** Remember `index` as this kind's; returns it. */
  readonly mark: (index: I) => I;
  /** Whether this kind built or loaded `index`. */
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
