/**
 * The IVF index's build: k-means lists, and the points laid out list by list in WebAssembly
 * memory in the exact index's transposed format, each list padded to 8.
 *
 * @module
 */
import { Effect } from "effect";
import { InvalidParameter } from "../errors.ts";
import { permutation } from "../random.ts";
import { exactIndex } from "./exact.ts";
import type { NearestNeighbourIndex } from "./types.ts";

/** Rows per search when assigning the points to their lists. */
const ASSIGN_CHUNK = 65536;

/** k-means trains on this many points per list (a seeded sample). */
export const SAMPLE_PER_LIST = 64;

/** The points laid out list by list, and what searching them needs. */
export interface Layout {
  readonly memory: WebAssembly.Memory;
  readonly rows: number;
  readonly dim: number;
  readonly slots: number;
  readonly mean: Float64Array;
  /** The transposed centred points (units of 8, groups of 4); their squared norms follow. */
  readonly transposed: Float32Array;
  /** The point at each slot (−1 for a pad), and the slot of each point. */
  readonly rowOf: Int32Array;
  readonly slotOf: Int32Array;
  /** Slot range of each list: [listStart[c], listEnd[c]); the padded end is a multiple of 8. */
  readonly listStart: Int32Array;
  readonly listEnd: Int32Array;
  /** The (centred) centroids, lists × dim row-major, and an exact index over them. */
  readonly centres: Float32Array;
  readonly centroids: NearestNeighbourIndex;
}

/** Where transposed slot s's column j lives (see `simd_kernel.ts`). */
export const at = (s: number, j: number, dim: number) => (s >> 2) * dim * 4 + (s & 3) + j * 4;

/**
 * Centre the staged rows, cluster them (unless `centres`, a previous build's centred
 * centroids, are given: then no k-means runs) and move each to its list's slots (in place).
 */
export const layOut = (input: {
  memory: WebAssembly.Memory;
  store: Float32Array;
  rows: number;
  dim: number;
  lists: number;
  slots: number;
  mean: Float64Array;
  iterations: number;
  seed: number;
  centres?: Float32Array | undefined;
}): Effect.Effect<Layout> =>
  Effect.gen(function* () {
    const { memory, store, rows, dim, lists, slots, mean, iterations, seed } = input;
    // Centre in place (distances do not change; smaller values round less in the kernel).
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < dim; j++) store[i * dim + j] = store[i * dim + j]! - mean[j]!;
    }
    // A previous build's centroids give the same lists without k-means.
    const centres = input.centres ?? (yield* kMeans(store, rows, dim, lists, iterations, seed));
    // The centroid searches cannot fail on checked inputs: a failure there is a defect.
    const centroids = yield* Effect.orDie(exactIndex({ rows: lists, cols: dim, data: centres }));
    const listOf = new Int32Array(rows);
    for (let first = 0; first < rows; first += ASSIGN_CHUNK) {
      const count = Math.min(ASSIGN_CHUNK, rows - first);
      const data = store.subarray(first * dim, (first + count) * dim);
      const nearest = yield* Effect.orDie(centroids.search({ rows: count, cols: dim, data }, 1));
      listOf.set(nearest.indices, first);
    }
    // Slots: lists in order, points in row order within a list, each list padded to 8.
    const sizes = new Int32Array(lists);
    for (let i = 0; i < rows; i++) sizes[listOf[i]!]!++;
    const listStart = new Int32Array(lists);
    const listEnd = new Int32Array(lists);
    let next = 0;
    for (let c = 0; c < lists; c++) {
      listStart[c] = next;
      listEnd[c] = next + sizes[c]!;
      next += Math.ceil(sizes[c]! / 8) * 8;
    }
    const slotOf = new Int32Array(rows);
    const fill = listStart.slice();
    for (let i = 0; i < rows; i++) slotOf[i] = fill[listOf[i]!]!++;
    const rowOf = new Int32Array(slots).fill(-1);
    for (let i = 0; i < rows; i++) rowOf[slotOf[i]!] = i;
    // Move every row to its slot in place, cycle by cycle (slot i holds row i until moved).
    const moved = new Uint8Array(rows);
    let carry = new Float32Array(dim);
    let spare = new Float32Array(dim);
    for (let s = 0; s < rows; s++) {
      if (moved[s]) continue;
      carry.set(store.subarray(s * dim, (s + 1) * dim));
      let current = s;
      for (;;) {
        moved[current] = 1;
        const target = slotOf[current]!;
        if (target < rows && !moved[target]) {
          spare.set(store.subarray(target * dim, (target + 1) * dim));
          store.set(carry, target * dim);
          [carry, spare] = [spare, carry];
          current = target;
        } else {
          store.set(carry, target * dim);
          break;
        }
      }
    }
    // Transpose each group of 4 slots in place; pads are zeros with an infinite norm.
    const transposed = store;
    const pn = new Float32Array(memory.buffer, slots * dim * 4, slots);
    const group = new Float32Array(4 * dim);
    for (let g = 0; g < slots; g += 4) {
      for (let r = 0; r < 4; r++) {
        const s = g + r;
        if (rowOf[s]! < 0) group.fill(0, r * dim, (r + 1) * dim);
        else group.set(store.subarray(s * dim, (s + 1) * dim), r * dim);
      }
      for (let r = 0; r < 4; r++) {
        let norm = 0;
        for (let j = 0; j < dim; j++) {
          const v = group[r * dim + j]!;
          transposed[at(g + r, j, dim)] = v;
          norm += v * v;
        }
        pn[g + r] = rowOf[g + r]! < 0 ? Infinity : norm;
      }
    }
    return {
      memory,
      rows,
      dim,
      slots,
      mean,
      transposed,
      rowOf,
      slotOf,
      listStart,
      listEnd,
      centres,
      centroids,
    };
  });

/** Refuse given centroids that are not `lists` × `dim` finite values. */
export const checkCentres = (
  centres: Float32Array,
  lists: number,
  dim: number,
): Effect.Effect<void, InvalidParameter> =>
  centres.length === lists * dim && centres.every(Number.isFinite) ? Effect.void : Effect.fail(
    new InvalidParameter({
      name: "ivf centroids",
      value: centres.length,
      expected: `${lists * dim} finite values (${lists} lists × ${dim})`,
    }),
  );

/** k-means (Lloyd) on a seeded sample of the centred rows; initial centroids: its first `lists`. */
const kMeans = (
  store: Float32Array,
  rows: number,
  dim: number,
  lists: number,
  iterations: number,
  seed: number,
): Effect.Effect<Float32Array> =>
  Effect.gen(function* () {
    const order = permutation(rows, seed);
    const sampleSize = Math.min(rows, Math.max(lists, SAMPLE_PER_LIST * lists));
    const sampleRows = order.subarray(0, sampleSize);
    const sample = new Float32Array(sampleSize * dim);
    sampleRows.forEach((r, i) => sample.set(store.subarray(r * dim, (r + 1) * dim), i * dim));
    let centres = sample.slice(0, lists * dim);
    for (let iteration = 0; iteration < iterations; iteration++) {
      const index = yield* Effect.orDie(exactIndex({ rows: lists, cols: dim, data: centres }));
      const nearest = yield* Effect.orDie(
        index.search({ rows: sampleSize, cols: dim, data: sample }, 1),
      );
      index.dispose();
      const sums = new Float64Array(lists * dim);
      const counts = new Int32Array(lists);
      for (let i = 0; i < sampleSize; i++) {
        const c = nearest.indices[i]!;
        counts[c]!++;
        for (let j = 0; j < dim; j++) sums[c * dim + j]! += sample[i * dim + j]!;
      }
      // An emptied list keeps its centroid.
      const next = centres.slice();
      for (let c = 0; c < lists; c++) {
        if (counts[c] === 0) continue;
        for (let j = 0; j < dim; j++) next[c * dim + j] = sums[c * dim + j]! / counts[c]!;
      }
      centres = next;
    }
    return centres;
  });
