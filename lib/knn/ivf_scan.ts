/**
 * The IVF index's list scan, the part of a search threads share: for a range of lists, every
 * query probing a list is ranked against its points by the SIMD kernel, keeping its m best by
 * (kernel value, point index) whatever order the lists come in, so scans of disjoint ranges,
 * merged ({@link mergeCandidates}), give exactly one scan's candidates. It reads only its
 * `ScanView` and writes only its own scratch, so a worker can run it over the shared memory.
 *
 * @module
 */
import { offer } from "./rerank.ts";
import { instantiateKernel, POINT_BLOCK, QUERY_BLOCK } from "./simd_kernel.ts";

/** What a thread needs to scan lists: the memory and where things are in it. */
export interface ScanView {
  readonly memory: WebAssembly.Memory;
  readonly dim: number;
  readonly slots: number;
  /** The point at each slot (−1 for a pad). */
  readonly rowOf: Int32Array;
  /** Slot range of each list: [listStart[c], listEnd[c]). */
  readonly listStart: Int32Array;
  readonly listEnd: Int32Array;
  /** Byte offset of this thread's scratch (a block of queries, then the kernel's output). */
  readonly scratch: number;
}

/** One scan: the centred queries, the lists each probes, and the range of lists to scan. */
export interface ScanJob {
  readonly centred: Float32Array;
  readonly rows: number;
  /** rows × probe list numbers. */
  readonly probed: Int32Array;
  readonly probe: number;
  /** Candidates kept per query. */
  readonly m: number;
  /** Lists [first, end) are scanned. */
  readonly first: number;
  readonly end: number;
}

/** rows × m candidates, each query's sorted by (value, point index); slot −1 = none. */
export interface Candidates {
  readonly values: Float64Array;
  readonly slots: Int32Array;
}

/** A scanner over `view` (the kernel instantiated on its memory once). */
export function listScanner(view: ScanView): (job: ScanJob) => Candidates {
  const { dim, slots, rowOf, listStart, listEnd, memory } = view;
  const kernel = instantiateKernel(memory);
  const ptBytes = slots * dim * 4;
  const qOffset = view.scratch;
  const outOffset = qOffset + QUERY_BLOCK * dim * 4;
  const queryBuffer = new Float32Array(memory.buffer, qOffset, QUERY_BLOCK * dim);
  const out = new Float32Array(memory.buffer, outOffset, QUERY_BLOCK * POINT_BLOCK);
  const rankOf = (slot: number) => rowOf[slot]!;
  return ({ centred, rows, probed, probe, m, first: firstList, end: endList }) => {
    const bestV = new Float64Array(rows * m).fill(Infinity);
    const bestS = new Int32Array(rows * m).fill(-1);
    // Queries of each list of the range (CSR over lists firstList..endList − 1).
    const span = endList - firstList;
    const start = new Int32Array(span + 1);
    for (let i = 0; i < rows * probe; i++) {
      const c = probed[i]! - firstList;
      if (c >= 0 && c < span) start[c + 1]!++;
    }
    for (let c = 0; c < span; c++) start[c + 1]! += start[c]!;
    const queriesOf = new Int32Array(start[span]!);
    const fill = start.slice(0, span);
    for (let i = 0; i < rows * probe; i++) {
      const c = probed[i]! - firstList;
      if (c >= 0 && c < span) queriesOf[fill[c]!++] = Math.floor(i / probe);
    }
    for (let c = 0; c < span; c++) {
      const first = listStart[firstList + c]!;
      const realEnd = listEnd[firstList + c]!;
      if (realEnd === first) continue;
      const paddedEnd = first + Math.ceil((realEnd - first) / 8) * 8;
      for (let q0 = start[c]!; q0 < start[c + 1]!; q0 += QUERY_BLOCK) {
        const nq = Math.min(QUERY_BLOCK, start[c + 1]! - q0);
        const nq4 = Math.ceil(nq / 4) * 4;
        for (let r = 0; r < nq; r++) {
          const q = queriesOf[q0 + r]!;
          queryBuffer.set(centred.subarray(q * dim, (q + 1) * dim), r * dim);
        }
        queryBuffer.fill(0, nq * dim, nq4 * dim);
        for (let p0 = first; p0 < paddedEnd; p0 += POINT_BLOCK) {
          const length = Math.min(POINT_BLOCK, paddedEnd - p0);
          kernel(
            qOffset,
            nq4,
            p0 * dim * 4,
            ptBytes + p0 * 4,
            length / 8,
            dim,
            outOffset,
            POINT_BLOCK * 4,
          );
          const real = Math.min(length, realEnd - p0);
          for (let r = 0; r < nq; r++) {
            const base = queriesOf[q0 + r]! * m;
            const last = base + m - 1;
            const row = r * POINT_BLOCK;
            let worst = bestV[last]!;
            for (let p = 0; p < real; p++) {
              const v = out[row + p]!;
              if (v > worst || !(v <= worst)) continue; // also skips NaN
              offer(bestV, bestS, base, m, v, p0 + p, rankOf);
              worst = bestV[last]!;
            }
          }
        }
      }
    }
    return { values: bestV, slots: bestS };
  };
}

/** The m best candidates of each query over scans of disjoint list ranges, by (value, index). */
export function mergeCandidates(
  parts: ReadonlyArray<Candidates>,
  rows: number,
  m: number,
  rowOf: Int32Array,
): Candidates {
  if (parts.length === 1) return parts[0]!;
  const values = new Float64Array(rows * m).fill(Infinity);
  const slots = new Int32Array(rows * m).fill(-1);
  const rankOf = (slot: number) => rowOf[slot]!;
  for (const part of parts) {
    for (let i = 0; i < rows * m; i++) {
      const slot = part.slots[i]!;
      if (slot >= 0) offer(values, slots, i - (i % m), m, part.values[i]!, slot, rankOf);
    }
  }
  return { values, slots };
}

/**
 * Split the lists into `parts` contiguous ranges of about equal work (padded size × queries
 * rounded up to 4): the parts + 1 boundaries.
 */
export function splitLists(
  probed: Int32Array,
  listStart: Int32Array,
  listEnd: Int32Array,
  parts: number,
): Int32Array {
  const lists = listStart.length;
  const queries = new Int32Array(lists);
  for (let i = 0; i < probed.length; i++) queries[probed[i]!]!++;
  const work = new Float64Array(lists);
  let total = 0;
  for (let c = 0; c < lists; c++) {
    const size = Math.ceil((listEnd[c]! - listStart[c]!) / 8) * 8;
    work[c] = size * Math.ceil(queries[c]! / 4) * 4;
    total += work[c]!;
  }
  const bounds = new Int32Array(parts + 1);
  bounds[parts] = lists;
  let c = 0;
  let done = 0;
  for (let t = 1; t < parts; t++) {
    const goal = (total * t) / parts;
    while (c < lists && done + work[c]! / 2 < goal) done += work[c++]!;
    bounds[t] = c;
  }
  return bounds;
}
