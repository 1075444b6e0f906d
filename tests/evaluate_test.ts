import assert from "node:assert/strict";
import { Effect } from "effect";
import {
  accuracy,
  auprIn,
  auprOut,
  auroc,
  evaluateOod,
  fpr95IdKept,
  fpr95OpenOod,
} from "../lib/stages/evaluate.ts";
import { mulberry32 } from "../lib/random.ts";

const run = <A, E>(effect: Effect.Effect<A, E>): A => Effect.runSync(effect);
const failure = <A, E>(effect: Effect.Effect<A, E>): E => Effect.runSync(Effect.flip(effect));
const close = (actual: number, expected: number, what: string) =>
  assert.ok(Math.abs(actual - expected) < 1e-12, `${what}: ${actual} != ${expected}`);

Deno.test("evaluateOod() matches a hand-computed case with ties", () => {
  const id = [0.1, 0.4, 0.35, 0.8];
  const ood = [0.9, 0.4, 0.8, 0.05];
  const m = run(evaluateOod({ id, ood }));
  // AUROC: per OOD score, #ID below + ½ #ID tied:
  //   0.9 -> 4;  0.4 -> 2 (0.1, 0.35) + ½ (0.4) = 2.5;  0.8 -> 3 + ½ = 3.5;  0.05 -> 0.
  //   (4 + 2.5 + 3.5 + 0) / (4·4) = 10/16.
  close(m.auroc, 10 / 16, "auroc");
  // AUPR-Out (OOD positive, P = 4), thresholds from high to low, "≥ t" is positive:
  //   0.9: tp 1 fp 0 -> ΔR ¼ · P 1;  0.8 (OOD+ID tie): tp 2 fp 1 -> ¼ · 2/3;
  //   0.4 (tie): tp 3 fp 2 -> ¼ · 3/5;  0.35, 0.1: ID only, no recall step;
  //   0.05: tp 4 fp 4 -> ¼ · 4/8.   AP = ¼ + 1/6 + 3/20 + 1/8 = 83/120.
  close(m.auprOut, 83 / 120, "auprOut");
  // AUPR-In (ID positive, low score first, "≤ t" is positive):
  //   0.05: OOD only (fp 1);  0.1: tp 1 fp 1 -> ¼ · 1/2;  0.35: tp 2 fp 1 -> ¼ · 2/3;
  //   0.4 (tie): tp 3 fp 2 -> ¼ · 3/5;  0.8 (tie): tp 4 fp 3 -> ¼ · 4/7.
  //   AP = 1/8 + 1/6 + 3/20 + 1/7 = 491/840.
  close(m.auprIn, 491 / 840, "auprIn");
  // FPR@95: need #(ID ≤ t) ≥ 0.95·4 = 3.8, so all 4 -> t* = 0.8. OOD ≤ 0.8: 0.4, 0.8 (tie
  // counts as ID), 0.05 -> 3/4.
  close(m.fpr95IdKept, 3 / 4, "fpr95IdKept");
  // FPR@95 (OpenOOD): need #(OOD ≥ t) ≥ 3.8, so all 4 -> t° = 0.05; every ID is ≥ 0.05 -> 1.
  close(m.fpr95OpenOod, 1, "fpr95OpenOod");
  // The single-metric functions agree with evaluateOod.
  assert.equal(run(auroc(id, ood)), m.auroc);
  assert.equal(run(auprOut(id, ood)), m.auprOut);
  assert.equal(run(auprIn(id, ood)), m.auprIn);
  assert.equal(run(fpr95IdKept(id, ood)), m.fpr95IdKept);
  assert.equal(run(fpr95OpenOod(id, ood)), m.fpr95OpenOod);
});

Deno.test("evaluateOod() gives the extreme values on separated and constant scores", () => {
  const perfect = run(evaluateOod({ id: [0, 1, 2], ood: [3, 4] }));
  assert.deepEqual(perfect, {
    auroc: 1,
    auprIn: 1,
    auprOut: 1,
    fpr95IdKept: 0,
    fpr95OpenOod: 0,
  });

  const reversed = run(evaluateOod({ id: [3, 4], ood: [0, 1, 2] }));
  assert.equal(reversed.auroc, 0);
  assert.equal(reversed.fpr95IdKept, 1);
  assert.equal(reversed.fpr95OpenOod, 1);
  // OOD positive, all OOD ranked last: precisions at the OOD steps are 1/3, 2/4, 3/5.
  close(reversed.auprOut, (1 / 3 + 2 / 4 + 3 / 5) / 3, "reversed auprOut");

  // One threshold holds everything: precision = share of the positive class.
  const flat = run(evaluateOod({ id: [1, 1, 1], ood: [1, 1] }));
  assert.equal(flat.auroc, 0.5);
  close(flat.auprOut, 2 / 5, "flat auprOut");
  close(flat.auprIn, 3 / 5, "flat auprIn");
  assert.equal(flat.fpr95IdKept, 1);
  assert.equal(flat.fpr95OpenOod, 1);
});

Deno.test("fpr95IdKept() uses the smallest threshold keeping 95% of ID, ties included", () => {
  // 20 ID scores: 0..17, 18, 18. 19 of 20 (95%) must be ≤ t -> t* = 18, which keeps all 20.
  const id = [...Array.from({ length: 18 }, (_, i) => i), 18, 18];
  assert.equal(run(fpr95IdKept(id, [18, 19])), 0.5); // 18 accepted as ID (tie), 19 rejected
  // 21 ID scores 0..20: need 19.95 -> 20 -> t* = 19.
  const id21 = Array.from({ length: 21 }, (_, i) => i);
  assert.equal(run(fpr95IdKept(id21, [19, 19.5, 20])), 1 / 3);
});

Deno.test("fpr95OpenOod() uses the largest threshold catching 95% of OOD, ties included", () => {
  // 20 OOD scores 10..29: 19 of 20 must be ≥ t -> t° = 11. ID 11 (tie) and 12 are flagged.
  const ood = Array.from({ length: 20 }, (_, i) => 10 + i);
  assert.equal(run(fpr95OpenOod([0, 10.5, 11, 12], ood)), 0.5);
  // OOD with a tie at the threshold: 10, 10, 11..28; t° = 10 would catch all 20, but t = 11
  // catches only 18 < 19, so t° = 10 and ID 10 counts as flagged.
  const tied = [10, 10, ...Array.from({ length: 18 }, (_, i) => 11 + i)];
  assert.equal(run(fpr95OpenOod([9.9, 10, 30, 5], tied)), 0.5);
  // The conventions differ when the OOD scores spread wider than the ID scores.
  const narrow = Array.from({ length: 100 }, (_, i) => i); // ID 0..99
  const wide = Array.from({ length: 100 }, (_, i) => 10 * i); // OOD 0, 10, …, 990
  // 95% of ID kept: t* = 94; OOD ≤ 94 are 0, 10, …, 90 -> 10 of 100.
  assert.equal(run(fpr95IdKept(narrow, wide)), 0.1);
  // 95% of OOD caught: t° = 50 (95 of 100 OOD ≥ 50); ID ≥ 50 are 50..99 -> 50 of 100.
  assert.equal(run(fpr95OpenOod(narrow, wide)), 0.5);
});

/** Brute force AP: mean over positives of precision at "score ≥ that positive's score". */
function bruteAveragePrecision(positive: number[], negative: number[]): number {
  let sum = 0;
  for (const s of positive) {
    const tp = positive.filter((v) => v >= s).length;
    const fp = negative.filter((v) => v >= s).length;
    sum += tp / (tp + fp);
  }
  return sum / positive.length;
}

/** Brute force FPR@95: sweep every candidate threshold upward, stop at the first ≥ 95%. */
function bruteFpr95(id: number[], ood: number[]): number {
  const candidates = [...new Set([...id, ...ood])].sort((a, b) => a - b);
  for (const t of candidates) {
    const kept = id.filter((v) => v <= t).length;
    if (kept * 100 >= 95 * id.length) return ood.filter((v) => v <= t).length / ood.length;
  }
  throw new Error("unreachable: the largest candidate keeps all ID");
}

/**
 * Brute force FPR@95 as OpenOOD's metrics.py: scikit-learn's ROC with OOD positive (thresholds
 * = distinct scores from high to low, "≥ t" flagged), the FPR of the first point with
 * TPR ≥ 0.95 (a float comparison, as numpy's).
 */
function bruteFpr95OpenOod(id: number[], ood: number[]): number {
  const thresholds = [...new Set([...id, ...ood])].sort((a, b) => b - a);
  for (const t of thresholds) {
    const tpr = ood.filter((v) => v >= t).length / ood.length;
    if (tpr >= 0.95) return id.filter((v) => v >= t).length / id.length;
  }
  throw new Error("unreachable: the smallest threshold catches all OOD");
}

/** Brute force AUROC over all pairs. */
function bruteAuroc(id: number[], ood: number[]): number {
  let wins = 0;
  for (const o of ood) for (const i of id) wins += o > i ? 1 : o === i ? 0.5 : 0;
  return wins / (id.length * ood.length);
}

Deno.test("metrics match brute-force formulations on random data with many ties", () => {
  for (let seed = 1; seed <= 20; seed++) {
    const random = mulberry32(seed);
    const nId = 50 + Math.floor(random() * 250);
    const nOod = 30 + Math.floor(random() * 200);
    // Coarse rounding creates many ties, inside and across the sets.
    const levels = 3 + Math.floor(random() * 20);
    const id = Array.from({ length: nId }, () => Math.round(random() * levels) / levels);
    const ood = Array.from({ length: nOod }, () => Math.round((random() + 0.3) * levels) / levels);
    const m = run(evaluateOod({ id, ood }));
    close(m.auroc, bruteAuroc(id, ood), `auroc seed ${seed}`);
    close(m.auprOut, bruteAveragePrecision(ood, id), `auprOut seed ${seed}`);
    close(
      m.auprIn,
      bruteAveragePrecision(id.map((v) => -v), ood.map((v) => -v)),
      `auprIn seed ${seed}`,
    );
    close(m.fpr95IdKept, bruteFpr95(id, ood), `fpr95IdKept seed ${seed}`);
    close(m.fpr95OpenOod, bruteFpr95OpenOod(id, ood), `fpr95OpenOod seed ${seed}`);
    // Second formulation: catching 95% of OOD is keeping 95% of "ID" with the roles swapped
    // and the scores negated.
    const swapped = run(fpr95IdKept(ood.map((v) => -v), id.map((v) => -v)));
    close(m.fpr95OpenOod, swapped, `swapped seed ${seed}`);
  }
});

Deno.test("evaluateOod() rejects non-finite scores naming the set and index", () => {
  const nan = failure(evaluateOod({ id: [0.1, 0.2, NaN, Number.NaN], ood: [1] }));
  assert.equal(nan._tag, "NonFiniteScore");
  assert.ok(nan._tag === "NonFiniteScore" && nan.index === 2 && nan.set === "id");
  assert.match(nan.message, /"id".*index 2 is NaN/);

  const inf = failure(
    auroc(Float32Array.of(1), Float32Array.of(0, -Infinity), { id: "mnist", ood: "noise" }),
  );
  assert.match(inf.message, /"noise".*index 1 is -Infinity/);
});

Deno.test("metrics reject empty score sets", () => {
  const empty = failure(evaluateOod({ id: [1, 2], ood: [] }));
  assert.equal(empty._tag, "EmptyScores");
  assert.match(empty.message, /"ood".*empty/);
  assert.equal(failure(fpr95IdKept([], [1]))._tag, "EmptyScores");
  assert.equal(failure(fpr95OpenOod([1], []))._tag, "EmptyScores");
});

Deno.test("accuracy() counts matches and rejects mismatched lengths", () => {
  assert.equal(run(accuracy(Int32Array.of(1, 2, 3, 4), [1, 2, 0, 4])), 0.75);
  const mismatch = failure(accuracy([1, 2], [1]));
  assert.equal(mismatch._tag, "LengthMismatch");
  assert.match(mismatch.message, /2 predictions but 1 labels/);
  assert.equal(failure(accuracy([], []))._tag, "EmptyScores");
});
