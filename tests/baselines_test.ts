/**
 * The baselines added from OpenOOD v1.5 (GEN, RMDS, SCALE, fDBD, NNGuide, SHE, KLM, DICE), each
 * against a hand computation or a second formulation.
 */
import assert from "node:assert/strict";
import { Effect } from "effect";
import { dice } from "../lib/detectors/dice.ts";
import { fdbd } from "../lib/detectors/fdbd.ts";
import { gen, GEN_GAMMA_GRID } from "../lib/detectors/gen.ts";
import { klm } from "../lib/detectors/klm.ts";
import { nnGuide } from "../lib/detectors/nnguide.ts";
import { rmds } from "../lib/detectors/rmds.ts";
import { scale, SCALE_PERCENTILE_GRID } from "../lib/detectors/scale.ts";
import { she } from "../lib/detectors/she.ts";
import { mulberry32 } from "../lib/random.ts";
import { runPromise } from "./with_compute.ts";
import { fitAndScore, fitInputs, handSet, headOnlyModel } from "./hand_sets.ts";

const run = runPromise;
const close = (actual: number, expected: number, what: string, tolerance = 1e-5) =>
  assert.ok(
    Math.abs(actual - expected) <= tolerance * Math.max(1, Math.abs(expected)),
    `${what}: ${actual} != ${expected}`,
  );
const { exp, log, sqrt } = Math;

const softmax = (z: ReadonlyArray<number>) => {
  const e = z.map((v) => exp(v));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
};

Deno.test("gen() scores log Σ p^γ(1−p)^γ and tunes γ on validation over OpenOOD's grid", async () => {
  const z = [1, 2, 3];
  const set = handSet("q", [], [z]);
  const { scores } = await fitAndScore(gen({ gamma: 0.5 }), fitInputs(set), set);
  const p = softmax(z);
  close(scores[0]!, log(p.reduce((s, pj) => s + sqrt(pj * (1 - pj)), 0)), "gen γ=0.5");
  // topM = 1 keeps only the largest probability.
  const top = await fitAndScore(gen({ gamma: 1, topM: 1 }), fitInputs(set), set);
  close(top.scores[0]!, log(p[2]! * (1 - p[2]!)), "gen top 1");
  // Tuning: confident ID logits vs flat OOD logits.
  const id = handSet("val-id", [], [[8, 0, 0], [0, 7, 0], [0, 0, 9]]);
  const ood = handSet("val-ood", [], [[1, 0.5, 0], [0.2, 0, 0.1], [0, 0, 0.3]]);
  const fitted = await run(gen().fit(fitInputs(id, { id, ood: [ood] })));
  const [tuned] = fitted.tuned;
  assert.deepEqual(tuned!.grid, GEN_GAMMA_GRID);
  assert.equal(fitted.settings.gamma, tuned!.chosen);
  assert.equal(tuned!.validationAuroc[GEN_GAMMA_GRID.indexOf(tuned!.chosen)], 1);
});

Deno.test("scale() scales the whole feature by exp(s1/s2) (unlike ASH, prunes nothing)", async () => {
  // Feature 0 is not among the top 3, so ASH would drop it; SCALE keeps it.
  const kernel = Array.from({ length: 10 }, (_, i) => [
    i === 1 ? 0.1 : i === 0 ? 0.3 : 0,
    i === 5 ? 0.2 : 0,
  ]);
  const model = headOnlyModel(kernel, [0, 0.5]);
  // p = 70 on D = 10 keeps k = 3: s1 = 18, top 3 (5, 4, 3) sum to s2 = 12 → factor e^1.5.
  const h = [1, 5, 2, 0, 4, 3, 0, 0, 1, 2];
  const set = handSet("q", [h], [[0, 0]]);
  const { scores, fitted } = await fitAndScore(
    scale({ percentile: 70 }),
    fitInputs(set, undefined, model),
    set,
  );
  const f = exp(1.5);
  close(scores[0]!, -log(exp((0.1 * 5 + 0.3 * 1) * f) + exp(0.2 * 3 * f + 0.5)), "scale");
  assert.equal(fitted.settings.kept, 3);
  const tunedFit = await run(scale().fit(fitInputs(set, { id: set, ood: [set] }, model)));
  assert.deepEqual(tunedFit.tuned[0]!.grid, SCALE_PERCENTILE_GRID);
});

/** Inverse of a small dense matrix by Gauss–Jordan with partial pivoting (a second route). */
function inverse(a: ReadonlyArray<ReadonlyArray<number>>): number[][] {
  const n = a.length;
  const m = a.map((row, i) => [...row, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < n; c++) {
    let pivot = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[pivot]![c]!)) pivot = r;
    [m[c], m[pivot]] = [m[pivot]!, m[c]!];
    const p = m[c]![c]!;
    for (let j = 0; j < 2 * n; j++) m[c]![j]! /= p;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const factor = m[r]![c]!;
      for (let j = 0; j < 2 * n; j++) m[r]![j]! -= factor * m[c]![j]!;
    }
  }
  return m.map((row) => row.slice(n));
}

Deno.test("rmds() equals min_c d_c − d_0 with Gauss–Jordan inverses", async () => {
  const random = mulberry32(4);
  const rows: number[][] = [];
  const labels: number[] = [];
  for (let i = 0; i < 60; i++) {
    const c = i % 3;
    labels.push(c);
    rows.push([c + random(), 2 * random() - c, random() * random() + 0.5 * c]);
  }
  const train = handSet("train", rows, rows.map(() => [0, 0, 0]), labels);
  const queries = [[0.3, 0.1, 0.2], [2.5, -1.5, 1.4], [5, 5, -3]];
  const set = handSet("q", queries, queries.map(() => [0, 0, 0]));
  const { scores } = await fitAndScore(rmds(), fitInputs(train), set);
  const mean = (members: number[][]) =>
    [0, 1, 2].map((k) => members.reduce((s, r) => s + r[k]!, 0) / members.length);
  const covariance = (centred: number[][]) =>
    [0, 1, 2].map((a) =>
      [0, 1, 2].map((b) => centred.reduce((s, r) => s + r[a]! * r[b]!, 0) / centred.length)
    );
  const classMeans = [0, 1, 2].map((c) => mean(rows.filter((_, i) => labels[i] === c)));
  const tied = inverse(
    covariance(rows.map((r, i) => r.map((v, k) => v - classMeans[labels[i]!]![k]!))),
  );
  const allMean = mean(rows);
  const whole = inverse(covariance(rows.map((r) => r.map((v, k) => v - allMean[k]!))));
  const quadratic = (h: number[], mu: number[], p: number[][]) => {
    const x = h.map((v, k) => v - mu[k]!);
    return x.reduce((s, xa, a) => s + xa * x.reduce((t, xb, b) => t + p[a]![b]! * xb, 0), 0);
  };
  queries.forEach((h, i) => {
    const expected = Math.min(...classMeans.map((mu) => quadratic(h, mu, tied))) -
      quadratic(h, allMean, whole);
    close(scores[i]!, expected, `rmds[${i}]`, 1e-4);
  });
});

Deno.test("fdbd() divides the logit gaps by weight distances and by ‖h − μ‖ or ‖h‖", async () => {
  // Classes: w0 = (1, 0), w1 = (0, 1), w2 = (0, 0); kernel rows are features.
  const model = headOnlyModel([[1, 0, 0], [0, 1, 0]], [0, 0, 0]);
  const train = handSet("train", [[1, 1], [3, 1]], [[1, 1, 0], [3, 1, 0]]); // mean (2, 1)
  const set = handSet("q", [[3, 1]], [[3, 1, 0]]);
  // ŷ = 0: |3 − 1|/‖w0 − w1‖ + |3 − 0|/‖w0 − w2‖ = 2/√2 + 3.
  const gaps = 2 / sqrt(2) + 3;
  const byDistance = await fitAndScore(
    fdbd({ distanceAsNormalizer: true }),
    fitInputs(train, undefined, model),
    set,
  );
  close(byDistance.scores[0]!, -gaps / 1, "fdbd ‖h − μ‖ = 1");
  const byNorm = await fitAndScore(
    fdbd({ distanceAsNormalizer: false }),
    fitInputs(train, undefined, model),
    set,
  );
  close(byNorm.scores[0]!, -gaps / sqrt(10), "fdbd ‖h‖ = √10");
  const tuned = await run(fdbd().fit(fitInputs(train, { id: train, ood: [set] }, model)));
  assert.deepEqual(tuned.tuned[0]!.grid, [1, 0]);
  assert.equal(tuned.settings.distanceAsNormalizer, tuned.tuned[0]!.chosen === 1);
});

Deno.test("nnGuide() averages the top-K inner products with an energy-weighted bank", async () => {
  // Bank (α = 1): h1 = (1, 0) with z = (0, 0), h2 = (0, 2) with z = (1, 1).
  const train = handSet("train", [[1, 0], [0, 2]], [[0, 0], [1, 1]]);
  const set = handSet("q", [[3, 4]], [[0, 0]]);
  const lse1 = log(2);
  const lse2 = 1 + log(2);
  // n(q) = (0.6, 0.8): ⟨n, g1⟩ = 0.6·lse1, ⟨n, g2⟩ = 0.8·lse2; the query's energy is log 2.
  const both = await fitAndScore(nnGuide({ k: 2, alpha: 1 }), fitInputs(train), set);
  close(both.scores[0]!, -((0.6 * lse1 + 0.8 * lse2) / 2) * log(2), "nnguide k=2");
  const one = await fitAndScore(nnGuide({ k: 1, alpha: 1 }), fitInputs(train), set);
  close(one.scores[0]!, -Math.max(0.6 * lse1, 0.8 * lse2) * log(2), "nnguide k=1");
  // α = 0.5 keeps only the first image; k = 2 then exceeds the bank.
  const error = await run(Effect.flip(nnGuide({ k: 2, alpha: 0.5 }).fit(fitInputs(train))));
  assert.match(String((error as Error).message), /k = 2.*\[1, 1\]/);
  // Without k, K = min(100, bank): the bank of one image here, recorded in the settings.
  const fitted = await run(nnGuide({ alpha: 0.5 }).fit(fitInputs(train)));
  assert.equal(fitted.settings.k, 1);
  assert.equal(fitted.settings.bank, 1);
});

Deno.test("she() uses the mean of correctly classified training features of ŷ", async () => {
  const train = handSet(
    "train",
    [[1, 0], [3, 0], [100, 100], [0, 2]],
    [[1, 0], [1, 0], [0, 1], [0, 1]], // the third is labelled 0 but predicted 1: left out
    [0, 0, 0, 1],
  );
  const set = handSet("q", [[1, 1], [2, 0.5]], [[0, 1], [1, 0]]);
  const { scores } = await fitAndScore(she(), fitInputs(train), set);
  close(scores[0]!, -2, "she ŷ=1: −⟨(1,1),(0,2)⟩");
  close(scores[1]!, -4, "she ŷ=0: −⟨(2,0.5),(2,0)⟩");
});

Deno.test("klm() takes the smallest KL to the validation templates (one-hot when unused)", async () => {
  const validationId = handSet("val-id", [], [[2, 0, 0], [0, 1, 0], [3, 0, 0]]);
  const set = handSet("q", [], [[1, 0, 0], [0, 0, 5]]);
  const { scores } = await fitAndScore(
    klm(),
    fitInputs(validationId, { id: validationId, ood: [] }),
    set,
  );
  const q0 = softmax([2, 0, 0]).map((v, j) => (v + softmax([3, 0, 0])[j]!) / 2);
  const q1 = softmax([0, 1, 0]);
  // Second formulation: KL(p‖q) = cross-entropy − entropy.
  const kl = (p: number[], q: number[]) =>
    -p.reduce((s, pj, j) => s + pj * log(q[j]!), 0) + p.reduce((s, pj) => s + pj * log(pj), 0);
  for (const [i, z] of [[1, 0, 0], [0, 0, 5]].entries()) {
    const p = softmax(z);
    close(scores[i]!, Math.min(kl(p, q0), kl(p, q1)), `klm[${i}]`); // e₂ gives +∞
  }
});

Deno.test("dice() keeps head weights whose mean contribution is above the percentile", async () => {
  // W (C × D): w0 = (1, −1), w1 = (2, 0.5); kernel rows are features: d0 = [1, 2], d1 = [−1, 0.5].
  const model = headOnlyModel([[1, 2], [-1, 0.5]], [0, 0.5]);
  const train = handSet("train", [[0, 1], [2, 3]], [[0, 0], [0, 0]]); // h̄ = (1, 2)
  // Contributions h̄_d·W_cd: c0 (1, −2), c1 (2, 1); 50th percentile of [−2, 1, 1, 2] = 1, so
  // only W_10 = 2 (contribution 2 > 1) survives.
  const set = handSet("q", [[1, 1]], [[0, 0]]);
  const { scores, fitted } = await fitAndScore(
    dice({ percentile: 50 }),
    fitInputs(train, undefined, model),
    set,
  );
  close(scores[0]!, -log(exp(0) + exp(2 + 0.5)), "dice");
  assert.equal(fitted.settings.keptWeights, 1);
});
