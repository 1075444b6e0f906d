/**
 * The IVF index's search: each query's nearest centroids, their lists scanned by the index's
 * threads, the best k + 3 candidates re-ranked in float64; and the calibration of nprobe.
 *
 * @module
 */
import { Effect } from "effect";
import {
  chooseEfSearch,
  type EfCalibration,
  type EfCalibrationOptions,
  heldOutRows,
} from "./calibrate.ts";
import { at, type Layout } from "./ivf_layout.ts";
import { EXTRA_CANDIDATES, offer } from "./rerank.ts";
import type { ScanPool } from "./ivf_threads.ts";

/** The k nearest slots of each centred query over `nprobe` lists (−1 where fewer were found). */
export type SlotSearch = (
  centred: Float32Array,
  rows: number,
  k: number,
  nprobe: number,
) => Effect.Effect<{ readonly slots: Int32Array; readonly d2: Float64Array }>;

/** The search over a layout, its lists scanned by `pool`'s threads. */
export const slotSearch = (layout: Layout, pool: ScanPool): SlotSearch => {
  const { dim, transposed, rowOf, centroids } = layout;
  const lists = layout.listStart.length;
  const rankOf = (slot: number) => rowOf[slot]!;
  return (centred, rows, k, nprobe) =>
    Effect.gen(function* () {
      const slots = new Int32Array(rows * k).fill(-1);
      const d2 = new Float64Array(rows * k).fill(Infinity);
      if (rows === 0) return { slots, d2 };
      const probe = Math.min(nprobe, lists);
      const m = Math.min(layout.rows, k + EXTRA_CANDIDATES);
      const queries = { rows, cols: dim, data: centred };
      const probed = yield* Effect.orDie(centroids.search(queries, probe));
      const found = yield* pool.scan({ centred, rows, probed: probed.indices, probe, m });
      // Re-rank the candidates by float64 distance (then point index); keep k.
      for (let i = 0; i < rows * m; i++) {
        const slot = found.slots[i]!;
        if (slot < 0) continue;
        const q = Math.floor(i / m);
        let sum = 0;
        for (let j = 0; j < dim; j++) {
          const diff = centred[q * dim + j]! - transposed[at(slot, j, dim)]!;
          sum += diff * diff;
        }
        offer(d2, slots, q * k, k, sum, slot, rankOf);
      }
      return { slots, d2 };
    });
};

/** Centre query rows on the index's mean (float32, as the kernel sees them). */
export function centreRows(data: Float32Array, rows: number, mean: Float64Array): Float32Array {
  const dim = mean.length;
  const out = new Float32Array(rows * dim);
  for (let i = 0; i < rows * dim; i++) out[i] = data[i]! - mean[i % dim]!;
  return out;
}

/** The calibration of nprobe (see the module doc), as HNSW's efSearch calibration reports it. */
export const calibrateNprobe = (
  layout: Layout,
  search: SlotSearch,
  options: Required<EfCalibrationOptions> & { readonly seed: number },
): Effect.Effect<EfCalibration> =>
  Effect.gen(function* () {
    const { ladder: steps, recallTarget, sample, seed } = options;
    const { dim, transposed, rowOf } = layout;
    const lists = layout.listStart.length;
    const sampleRows = heldOutRows(layout.rows, sample, seed + 1);
    const ladder = [...steps.filter((n) => n < lists), lists];
    if (sampleRows.length === 0) {
      return { recallTarget, sample: 0, efSearch: lists, recall1: 1, met: true, tried: [] };
    }
    // The sampled points (centred float32, read back from their slots).
    const n = sampleRows.length;
    const queries = new Float32Array(n * dim);
    sampleRows.forEach((row, q) => {
      const slot = layout.slotOf[row]!;
      for (let j = 0; j < dim; j++) queries[q * dim + j] = transposed[at(slot, j, dim)]!;
    });
    // The nearest point other than the query itself, at a given nprobe.
    const nearestOther = (nprobe: number) =>
      Effect.map(search(queries, n, 2, nprobe), ({ slots }) =>
        Int32Array.from({ length: n }, (_, q) => {
          const first = rowOf[slots[q * 2]!] ?? -1;
          return first === sampleRows[q] ? (rowOf[slots[q * 2 + 1]!] ?? -1) : first;
        }));
    const truth = yield* nearestOther(lists);
    return yield* chooseEfSearch(
      truth,
      (nprobe) =>
        nprobe === lists ? Effect.succeed(truth) : nearestOther(nprobe),
      { ladder, recallTarget },
    );
  });
