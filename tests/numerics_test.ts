/**
 * Numerics of the scores: no result decided by float32 rounding or underflow. Scores stay in
 * float64 from the detector to the metrics; GEN is computed in log space; the tie report and
 * the tuner's tie rule; the detector variants named as they run (ASH-S/B/P, ReAct's threshold
 * source, NNGuide's seeded bank); the activation-ratio analysis.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { Effect } from "effect";
import { ash, ashBinaryEntry, ashPruneEntry } from "../lib/detectors/ash.ts";
import type { Detector, ExtractedSet } from "../lib/detectors/detector.ts";
import { energy } from "../lib/detectors/energy.ts";
import { gen, GEN_GAMMA_GRID, logGeneralizedEntropy } from "../lib/detectors/gen.ts";
import { maxLogit } from "../lib/detectors/maxlogit.ts";
import { msp } from "../lib/detectors/msp.ts";
import { nnGuide } from "../lib/detectors/nnguide.ts";
import { react } from "../lib/detectors/react.ts";
import { buildDetector } from "../lib/detectors/registry.ts";
import { chooseByValidation, tuneParameter } from "../lib/detectors/tune.ts";
import { matrix } from "../lib/matrix.ts";
import { permutation } from "../lib/random.ts";
import { activationRatioRows, activationRatios } from "../apps/results/activation_ratio.ts";
import { scoreTies, tiedShare } from "../lib/stages/evaluate.ts";
import { fitAndScore, fitInputs, handSet, headOnlyModel } from "./hand_sets.ts";
import { runPromise } from "./with_compute.ts";

const { exp, log } = Math;

/** A ladder of ever more confident logit rows: class 0 leads by `margin + i·step`. */
const ladder = (margin: number, step: number, count: number, classes: number) =>
  handSet(
    "ladder",
    [],
    Array.from(
      { length: count },
      (_, i) => Array.from({ length: classes }, (_, j) => (j === 0 ? margin + i * step : 0)),
    ),
  );

/** True when every score is strictly below the one before. */
const strictlyDecreasing = (scores: ArrayLike<number>) =>
  Array.from(scores).every((s, i, all) => i === 0 || s < all[i - 1]!);

/**
 * True when each score is below the one before wherever float64 distinguishes the exact
 * values, else equal or below: `resolvable(i)` says whether rung i and rung i − 1 differ.
 */
const decreasingWhereResolvable = (
  scores: ArrayLike<number>,
  resolvable: (i: number) => boolean,
) =>
  Array.from(scores).every((s, i, all) =>
    i === 0 || (resolvable(i) ? s < all[i - 1]! : s <= all[i - 1]!)
  );

/**
 * Whether the exact MSP scores of rungs i − 1 and i differ by more than a few float64 ulps of
 * 1: p = 1/(1 + t), t = (C − 1)·e^(−margin), so the gap is about t(i − 1) − t(i).
 */
const mspResolvable = (margin: number, step: number, classes: number) => (i: number) => {
  const t = (r: number) => (classes - 1) * exp(-(margin + r * step));
  return Math.abs(t(i - 1) / (1 + t(i - 1)) - t(i) / (1 + t(i))) > 8 * 2 ** -53;
};

Deno.test("logit detectors rank a confident ladder strictly where float32 scores tie", async () => {
  // Each rung is more confident than the last, so each scores lower (more ID). The margins
  // are exact in float32 (the logits are stored as float32), the scores differ by less than
  // float32 resolves: with float32 scores the rungs tied.
  const detectors: ReadonlyArray<Detector> = [
    msp(),
    maxLogit(),
    energy(),
    ...GEN_GAMMA_GRID.map((gamma) => gen({ gamma })),
  ];
  const samples: Array<[number, number, number, number]> = [];
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 8, max: 60 }),
      fc.integer({ min: 1, max: 64 }),
      fc.integer({ min: 3, max: 12 }),
      fc.integer({ min: 2, max: 20 }),
      async (margin, stepUnits, count, classes) => {
        const step = stepUnits / 1024; // exact in float32 at these margins
        samples.push([margin, step, count, classes]);
        const set = ladder(margin, step, count, classes);
        for (const detector of detectors) {
          const { scores } = await fitAndScore(detector, fitInputs(set), set);
          assert.ok(scores instanceof Float64Array, detector.name);
          // Only MSP's exact values can be closer than float64 resolves (1 − p below 1e-16).
          const resolvable = detector.name === "MSP"
            ? mspResolvable(margin, step, classes)
            : () => true;
          assert.ok(
            decreasingWhereResolvable(scores, resolvable),
            `${detector.name}, margin ${margin}, step ${step}, ${classes} classes: ${scores}`,
          );
        }
      },
    ),
    { numRuns: 25, seed: 28 },
  );
  // The property is not vacuous: on such a ladder, float32 scores tie: MSP's −p rounds to −1,
  // GEN's G_γ = exp(log G_γ) underflows to 0 (γ = 10: G ≈ e^-178, below 1.4e-45).
  const set = ladder(20, 1 / 64, 8, 10);
  const mspScores = (await fitAndScore(msp(), fitInputs(set), set)).scores;
  assert.ok(strictlyDecreasing(mspScores));
  assert.equal(tiedShare(Float32Array.from(mspScores)), 1, "MSP in float32");
  const genScores = (await fitAndScore(gen({ gamma: 10 }), fitInputs(set), set)).scores;
  assert.ok(strictlyDecreasing(genScores));
  assert.equal(tiedShare(Float32Array.from(genScores, Math.exp)), 1, "GEN's G in float32");
  assert.ok(samples.length === 25);
});

Deno.test("GEN in log space equals the direct formula where that does not underflow", () => {
  const random = fc.sample(
    fc.array(fc.double({ min: -8, max: 8, noNaN: true }), { minLength: 5, maxLength: 5 }),
    { numRuns: 50, seed: 3 },
  );
  for (const z32 of random) {
    const z = Array.from(Float32Array.from(z32));
    const lse = log(z.reduce((s, v) => s + exp(v), 0));
    const p = z.map((v) => exp(v - lse)).sort((a, b) => b - a);
    for (const gamma of GEN_GAMMA_GRID) {
      for (const topM of [1, 3, 100]) {
        const direct = p.slice(0, topM).reduce((s, q) => s + q ** gamma * (1 - q) ** gamma, 0);
        const [logG] = logGeneralizedEntropy(matrix(1, 5, z), gamma, topM);
        assert.ok(
          Math.abs(logG! - log(direct)) <= 1e-9 * Math.max(1, Math.abs(log(direct))),
          `γ ${gamma}, M ${topM}, z ${z}: ${logG} vs ${log(direct)}`,
        );
      }
    }
  }
  // Where float64 itself underflows (logit gap 200, γ = 10: G ≈ e^-2000), log space does not.
  const [a, b] = logGeneralizedEntropy(matrix(2, 2, [200, 0, 201, 0]), 10, 100);
  assert.ok(Number.isFinite(a!) && Number.isFinite(b!) && b! < a!, `${a} ${b}`);
  assert.ok(Math.abs(a! - (log(2) + 10 * -200)) < 1e-9, `${a}`);
});

Deno.test("scoreTies() counts ties within and across ID and OOD, as a brute force", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.integer({ min: 0, max: 8 }), { minLength: 1, maxLength: 30 }),
      fc.array(fc.integer({ min: 0, max: 8 }), { minLength: 1, maxLength: 30 }),
      async (id, ood) => {
        const ties = await Effect.runPromise(scoreTies({ id, ood }));
        const all = [...id, ...ood];
        const tiedWithAnother = (v: number) => all.filter((w) => w === v).length >= 2;
        assert.equal(ties.tiedId, id.filter(tiedWithAnother).length / id.length);
        assert.equal(ties.tiedOod, ood.filter(tiedWithAnother).length / ood.length);
        const across = id.filter((v) => ood.includes(v)).length +
          ood.filter((v) => id.includes(v)).length;
        assert.equal(ties.tiedAcross, across / all.length);
        assert.equal(tiedShare(all), all.filter(tiedWithAnother).length / all.length);
      },
    ),
    { numRuns: 200, seed: 5 },
  );
});

Deno.test("tuning never chooses a value by a tie block, and prefers fewer ties among equals", async () => {
  const id = handSet("val-id", [], [[0], [0], [0], [0]]);
  const ood = handSet("val-ood", [], [[0], [0], [0], [0]]);
  // Value 1 ranks honestly: AUROC 0.75 without a tie. Value 2 scores every image 0 except one
  // ID image at 5: its AUROC 0.75·... comes from ties only: 3 ID tied with 4 OOD.
  const scores = (value: number) => (set: ExtractedSet) =>
    Effect.succeed(
      value === 1
        ? (set === id ? Float64Array.of(0, 1, 2, 5) : Float64Array.of(1.5, 2.5, 6, 7))
        : (set === id ? Float64Array.of(-1, 0, 0, 0) : Float64Array.of(0, 0, 0, 0)),
    );
  const tuned = await runPromise(tuneParameter({
    detector: "toy",
    parameter: "v",
    grid: [1, 2],
    validation: { id, ood: [ood] },
    candidate: (value) => Effect.succeed({ score: scores(value) }),
  }));
  // AUROC of value 2 = (1 + 3·½)·4 / 16 = 0.625 + … the tie block alone lifts it to 0.625.
  assert.ok(tuned.validationTiedAcross[1]! > 0.5);
  assert.equal(tuned.validationTiedAcross[0], 0);
  assert.equal(tuned.chosen, 1);
  // Even when the tie block's AUROC is higher, it is passed over.
  assert.equal(chooseByValidation([0.6, 0.9], [0, 0.3]), 0);
  // When every value ties beyond the limit, the best AUROC is chosen; equal AUROCs → fewer ties.
  assert.equal(chooseByValidation([0.6, 0.9], [0.2, 0.3]), 1);
  assert.equal(chooseByValidation([0.9, 0.9], [0.3, 0.2]), 1);
  assert.equal(chooseByValidation([0.9, 0.9], [0, 0]), 0);
});

Deno.test("ASH-B sets the kept activations to s1/k and ASH-P keeps them as they are", async () => {
  const kernel = Array.from({ length: 10 }, (_, i) => [i === 1 ? 0.1 : 0, i === 5 ? 0.2 : 0]);
  const model = headOnlyModel(kernel, [0, 0.5]);
  // p = 70 on D = 10 keeps the top 3 (features 1, 4, 5: values 5, 4, 3); s1 = 18.
  const h = [1, 5, 2, 0, 4, 3, 0, 0, 1, 2];
  const set = handSet("q", [h], [[0, 0]]);
  const binary = await fitAndScore(
    ash({ variant: "b", percentile: 70 }),
    fitInputs(set, undefined, model),
    set,
  );
  // ASH-B: features 1, 4, 5 become 18/3 = 6: z0 = 0.1·6, z1 = 0.2·6 + 0.5.
  assert.ok(Math.abs(binary.scores[0]! - -log(exp(0.6) + exp(1.7))) < 1e-6);
  assert.equal(binary.fitted.settings.variant, "ASH-B");
  const pruned = await fitAndScore(
    ash({ variant: "p", percentile: 70 }),
    fitInputs(set, undefined, model),
    set,
  );
  // ASH-P: z0 = 0.1·5, z1 = 0.2·3 + 0.5.
  assert.ok(Math.abs(pruned.scores[0]! - -log(exp(0.5) + exp(1.1))) < 1e-6);
  // The registered ASH-B tunes p over OpenOOD's grid; ASH-P runs at p = 90.
  const tuned = await runPromise(
    Effect.flatMap(
      buildDetector({ kind: ashBinaryEntry.kind }),
      (d) => d.fit(fitInputs(set, { id: set, ood: [set] }, model)),
    ),
  );
  assert.deepEqual(tuned.tuned[0]!.grid, [65, 70, 75, 80, 85, 90, 95]);
  const p90 = await runPromise(
    Effect.flatMap(
      buildDetector({ kind: ashPruneEntry.kind }),
      (d) => d.fit(fitInputs(set, undefined, model)),
    ),
  );
  assert.equal(p90.settings.percentile, 90);
});

Deno.test("ReAct takes its threshold from training or ID validation activations, as asked", async () => {
  const kernel = [[0.1, 0], [0, 0.2]];
  const model = headOnlyModel(kernel, [0, 1]);
  const train = handSet("train", [[0, 1], [2, 3]], [[0, 0], [0, 0]], [0, 1]);
  const validation = handSet("val-id", [[10, 20], [30, 40]], [[0, 0], [0, 0]]);
  const fit = (from: "train" | "validation") =>
    runPromise(
      react({ thresholdFrom: from }).fit(fitInputs(train, { id: validation, ood: [] }, model)),
    );
  // 90th percentile of 0..3 → 2.7; of 10..40 → 37.
  const fromTrain = await fit("train");
  const fromValidation = await fit("validation");
  assert.ok(Math.abs((fromTrain.settings.threshold as number) - 2.7) < 1e-12);
  assert.ok(Math.abs((fromValidation.settings.threshold as number) - 37) < 1e-12);
  assert.equal(fromValidation.settings.thresholdFrom, "validation");
  const named = await runPromise(buildDetector({ kind: "react-val" }));
  assert.equal(named.name, "ReAct (ID val)");
});

Deno.test("NNGuide's bank is a seeded random draw of ⌈α·N⌉ training images", async () => {
  const n = 40;
  const rows = Array.from({ length: n }, (_, i) => [1 + i, 1]);
  const logits = Array.from({ length: n }, (_, i) => [i / 10, 0]);
  const train = handSet("train", rows, logits);
  const query = handSet("q", [[1, 0.5]], [[0.3, 0]]);
  const alpha = 0.1; // bank of 4
  const scoreWith = async (seed: number) =>
    (await fitAndScore(nnGuide({ k: 1, alpha, seed }), fitInputs(train), query)).scores[0]!;
  // The reference: the bank is rows permutation(n, seed)[0..4).
  const reference = (seed: number) => {
    const bank = Array.from(permutation(n, seed).slice(0, 4));
    const normalise = (v: ReadonlyArray<number>) => {
      const norm = Math.hypot(...v);
      return v.map((x) => x / norm + 1e-10);
    };
    const lse = (z: ReadonlyArray<number>) => log(z.reduce((s, v) => s + exp(v), 0));
    const q = normalise([1, 0.5]);
    const best = Math.max(
      ...bank.map((b) => {
        const g = normalise(rows[b]!).map((x) => x * lse(logits[b]!));
        return q[0]! * g[0]! + q[1]! * g[1]!;
      }),
    );
    return -best * lse([0.3, 0]);
  };
  for (const seed of [0, 1, 7]) {
    const score = await scoreWith(seed);
    assert.ok(
      Math.abs(score - reference(seed)) < 1e-5,
      `seed ${seed}: ${score} vs ${reference(seed)}`,
    );
  }
  assert.equal(await scoreWith(3), await scoreWith(3), "same seed, same score");
});

Deno.test("activation ratios s1/s2 per set, against a direct computation", () => {
  // D = 10, p = 80 keeps k = 2.
  const h = [[5, 3, 1, 1, 0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1, 1, 1, 1], [
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
  ]];
  const ratios = activationRatios(matrix(3, 10, h.flat()), 80);
  assert.deepEqual([...ratios], [10 / 8, 10 / 2, 0]);
  const rows = activationRatioRows([
    { name: "id", group: "id", penultimate: matrix(2, 10, [...h[0]!, ...h[0]!]) },
    { name: "flat", group: "far", penultimate: matrix(1, 10, h[1]!) },
  ], 80);
  assert.equal(rows[0]!.median, 1.25);
  assert.equal(rows[0]!.aboveIdMedian, 0);
  assert.equal(rows[1]!.median, 5);
  assert.equal(rows[1]!.aboveIdMedian, 1);
});
