/**
 * The kernels of `evaluate.ts`'s metrics, on scores already checked (finite, non-empty) and
 * sorted ascending as float64.
 *
 * @module
 */
import type { OodMetrics } from "./evaluate.ts";

/** AUROC from ascending arrays: Σ over OOD of #(ID < v) + ½·#(ID = v), by two pointers. */
export function aurocSorted(id: Float64Array, ood: Float64Array): number {
  let below = 0; // #ID < v
  let notAbove = 0; // #ID ≤ v
  let twiceWins = 0; // 2·(wins + ½ ties), kept integral so the sum is exact
  for (const v of ood) {
    while (below < id.length && id[below]! < v) below++;
    if (notAbove < below) notAbove = below;
    while (notAbove < id.length && id[notAbove]! <= v) notAbove++;
    twiceWins += below + notAbove;
  }
  return twiceWins / (2 * id.length * ood.length);
}

/** Average precision (sklearn's) of ascending `positive` vs `negative`, from the top threshold. */
export function averagePrecisionSorted(positive: Float64Array, negative: Float64Array): number {
  let i = positive.length - 1;
  let j = negative.length - 1;
  let truePositives = 0;
  let falsePositives = 0;
  let sum = 0;
  while (i >= 0) {
    const threshold = j >= 0 ? Math.max(positive[i]!, negative[j]!) : positive[i]!;
    let newPositives = 0;
    while (i >= 0 && positive[i] === threshold) {
      i--;
      newPositives++;
    }
    while (j >= 0 && negative[j] === threshold) {
      j--;
      falsePositives++;
    }
    truePositives += newPositives;
    // Thresholds that add no positive add no recall, so they contribute nothing.
    if (newPositives > 0) sum += newPositives * truePositives / (truePositives + falsePositives);
  }
  return sum / positive.length;
}

/** `-a` reversed, so an ascending array stays ascending (for "lower score = positive"). */
export function negatedAscending(a: Float64Array): Float64Array {
  const out = new Float64Array(a.length);
  for (let k = 0; k < a.length; k++) out[k] = -a[a.length - 1 - k]!;
  return out;
}

/** #elements ≤ v (`orEqual`) or < v of an ascending array, by bisection. */
function countBelow(a: Float64Array, v: number, orEqual: boolean): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < v || (orEqual && a[mid] === v)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Smallest count c with c / n ≥ 0.95, i.e. 20c ≥ 19n, in integer arithmetic (0.95 is not
 * exact in binary floating point, and ceil(0.95 · n) can be off by one); at least 1.
 */
export const count95 = (n: number) => Math.max(Math.floor((19 * n + 19) / 20), 1);

/** FPR@95, 95% of ID kept, from ascending arrays (definition in the module doc). */
export function fpr95IdKeptSorted(id: Float64Array, ood: Float64Array): number {
  const threshold = id[count95(id.length) - 1]!;
  return countBelow(ood, threshold, true) / ood.length;
}

/** FPR@95, 95% of OOD caught (OpenOOD), from ascending arrays (definition in the module doc). */
export function fpr95OpenOodSorted(id: Float64Array, ood: Float64Array): number {
  // The count95-th largest OOD score: the largest t with #(OOD ≥ t) ≥ 0.95·#OOD.
  const threshold = ood[ood.length - count95(ood.length)]!;
  return (id.length - countBelow(id, threshold, false)) / id.length;
}

/** Every {@link OodMetrics} from ascending arrays. */
export function metricsSorted(id: Float64Array, ood: Float64Array): OodMetrics {
  return {
    auroc: aurocSorted(id, ood),
    auprIn: averagePrecisionSorted(negatedAscending(id), negatedAscending(ood)),
    auprOut: averagePrecisionSorted(ood, id),
    fpr95IdKept: fpr95IdKeptSorted(id, ood),
    fpr95OpenOod: fpr95OpenOodSorted(id, ood),
  };
}
