import assert from "node:assert/strict";
import type * as tfType from "@tensorflow/tfjs";
import { Effect } from "effect";
import { IMAGE_SIZE, type ImageSet } from "../lib/data/images.ts";
import type { Detector, ExtractedSet, FitInputs } from "../lib/detectors/detector.ts";
import { msp } from "../lib/detectors/msp.ts";
import { maxLogit } from "../lib/detectors/maxlogit.ts";
import { energy } from "../lib/detectors/energy.ts";
import {
  type DifferentiableModel,
  odin,
  ODIN_EPSILON_GRID,
  odinGradientSigns,
  type OdinPass,
  odinPerturbedScores,
} from "../lib/detectors/odin.ts";
import { mahalanobis } from "../lib/detectors/mahalanobis.ts";
import { knn } from "../lib/detectors/knn.ts";
import { vim } from "../lib/detectors/vim.ts";
import { react } from "../lib/detectors/react.ts";
import { gradNorm, gradNorms } from "../lib/detectors/gradnorm.ts";
import { ash, ashKeptCount } from "../lib/detectors/ash.ts";
import { tuneParameter } from "../lib/detectors/tune.ts";
import { percentile } from "../lib/detectors/logits.ts";
import { symmetricEigen } from "../lib/detectors/linalg.ts";
import {
  type Classifier,
  type ClassifierSpec,
  defaultSpec,
  initialWeights,
  makeClassifier,
} from "../lib/model/classifier.ts";
import { extractFeatures } from "../lib/stages/features.ts";
import { matrix } from "../lib/matrix.ts";
import { mulberry32 } from "../lib/random.ts";
import { groodModel, runPromise, tf } from "./with_compute.ts";
import { fitAndScore, fitInputs, handSet, headOnlyNet } from "./hand_sets.ts";
import type { Compute } from "../lib/compute/compute.ts";

const run = runPromise;
const failure = <A, E>(effect: Effect.Effect<A, E, Compute>): Promise<E> =>
  runPromise(Effect.flip(effect));
const close = (actual: number, expected: number, what: string, tolerance = 1e-6) =>
  assert.ok(
    Math.abs(actual - expected) <= tolerance * Math.max(1, Math.abs(expected)),
    `${what}: ${actual} != ${expected}`,
  );
const closeAll = (
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  what: string,
  tolerance = 1e-6,
) => {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    close(actual[i]!, expected[i]!, `${what}[${i}]`, tolerance);
  }
};

// ───────────────────────────── fixtures ─────────────────────────────

const exp = Math.exp;
const log = Math.log;

// ───────────────────────────── logit detectors ─────────────────────────────

const LOGITS = [[1, 2, 3], [0, 0, 0], [-1, 4, 0.5]];

Deno.test("msp() scores −max softmax, computed by explicit exp and sum", async () => {
  const set = handSet("id", [], LOGITS);
  const { scores } = await fitAndScore(msp(), fitInputs(set), set);
  const expected = LOGITS.map((z) => {
    const e = z.map(exp);
    return -Math.max(...e) / e.reduce((a, b) => a + b, 0);
  });
  closeAll(scores, expected, "msp");
  close(scores[1]!, -1 / 3, "uniform logits");
});

Deno.test("maxLogit() scores −max logit", async () => {
  const set = handSet("id", [], LOGITS);
  const { scores } = await fitAndScore(maxLogit(), fitInputs(set), set);
  closeAll(scores, [-3, -0, -4], "maxLogit");
});

Deno.test("energy() scores −T·logsumexp(z/T), stably for large logits", async () => {
  const set = handSet("id", [], [...LOGITS, [1000, 1000, -1000]]);
  const { scores, fitted } = await fitAndScore(energy(), fitInputs(set), set);
  closeAll(
    scores.subarray(0, 3),
    LOGITS.map((z) => -log(z.map(exp).reduce((a, b) => a + b, 0))),
    "energy T=1",
  );
  close(scores[3]!, -(1000 + log(2)), "no overflow"); // exp(1000) overflows a naive sum
  assert.equal(fitted.settings.temperature, 1);
  const hot = await fitAndScore(energy({ temperature: 2 }), fitInputs(set), set);
  // −2·log(e^0.5 + e^1 + e^1.5)
  close(hot.scores[0]!, -2 * log(exp(0.5) + exp(1) + exp(1.5)), "energy T=2");
});

Deno.test("msp() fails on NaN logits with an error naming the detector and the set", async () => {
  const train = handSet("train", [], LOGITS);
  const fitted = await run(msp().fit(fitInputs(train)));
  const error = await failure(fitted.score(handSet("broken-set", [], [[0, NaN, 1]])));
  assert.equal((error as { _tag: string })._tag, "NonFiniteFeatures");
  assert.match(String((error as Error).message), /MSP.*broken-set|broken-set.*MSP/);
});

// ───────────────────────────── ODIN ─────────────────────────────

/**
 * ODIN's toy network: pool over a 28×28 image (D = 1, the mean pixel m), then z = m·W + b.
 * Every pixel's input gradient is (1/784)·Σⱼ (pⱼ − δⱼŷ)·Wⱼ / T, so x̃ = x − ε·s shifts the
 * mean by −ε·s with s = sign of that sum (the same for every pixel).
 */
const ODIN_W = [2, -1, 0];
const ODIN_B = [0, 0.5, 0.2];

function odinNet(): Classifier {
  const spec: ClassifierSpec = {
    inputShape: [28, 28, 1],
    blocks: [{ name: "pool", kind: "globalAvgPool" }, { name: "head", kind: "dense", units: 3 }],
  };
  return makeClassifier(
    tf,
    spec,
    new Map([["head/kernel", Float32Array.from(ODIN_W)], [
      "head/bias",
      Float32Array.from(ODIN_B),
    ]]),
  );
}

function constantImages(name: string, values: ReadonlyArray<number>): ImageSet {
  const pixels = new Uint8Array(values.length * IMAGE_SIZE);
  values.forEach((v, i) => pixels.fill(v, i * IMAGE_SIZE, (i + 1) * IMAGE_SIZE));
  return { name, count: values.length, pixels };
}

/** Independent float64 ODIN score of a constant image of mean m. */
function odinByHand(m: number, epsilon: number, temperature: number): number {
  const logitsAt = (mean: number) => ODIN_W.map((w, j) => mean * w + ODIN_B[j]!);
  const z = logitsAt(m);
  const predicted = z.indexOf(Math.max(...z));
  const e = z.map((v) => exp(v / temperature));
  const p = e.map((v) => v / e.reduce((a, b) => a + b, 0));
  const gradient = p.reduce((s, pj, j) => s + (pj - (j === predicted ? 1 : 0)) * ODIN_W[j]!, 0);
  const sign = gradient >= 0 ? 1 : -1;
  const moved = logitsAt(m - epsilon * sign).map((v) => exp(v / temperature));
  return -Math.max(...moved) / moved.reduce((a, b) => a + b, 0);
}

const PASS: OdinPass = { temperature: 1000, batchSize: 2, clipToInputRange: false };

/** `net` on tfjs as the model ODIN runs on (its input gradient by tfjs's autograd). */
const differentiable = async (net: Classifier): Promise<DifferentiableModel> => {
  const model = await groodModel(net);
  return { ...model, inputGradient: model.inputGradient! };
};

Deno.test("odin: ε = 0 through the network is temperature-scaled MSP", async () => {
  const net = odinNet();
  try {
    const images = constantImages("val", [200, 20, 128]);
    const { features } = await run(extractFeatures(await groodModel(net), images));
    const signs = await run(odinGradientSigns(await differentiable(net), images, PASS));
    const scores = await run(odinPerturbedScores(await groodModel(net), images, signs, 0, PASS));
    const expected = Array.from({ length: 3 }, (_, i) => {
      const z = Array.from(features.logits.data.subarray(i * 3, i * 3 + 3));
      const e = z.map((v) => exp(v / 1000));
      return -Math.max(...e) / e.reduce((a, b) => a + b, 0);
    });
    closeAll(scores, expected, "odin ε=0", 1e-7);
    // The fitted detector with ε = 0 reads the extracted logits and agrees.
    const set = { images, features };
    const { scores: fromLogits } = await fitAndScore(
      odin({ epsilon: 0 }),
      {
        ...fitInputs({ ...set, features: { ...features, labels: new Uint8Array(3) } }),
        model: await groodModel(net),
      },
      set,
    );
    closeAll(fromLogits, expected, "odin detector ε=0", 1e-7);
  } finally {
    net.dispose();
  }
});

Deno.test("odin: ε > 0 raises the max softmax (lowers the score) as computed by hand", async () => {
  const net = odinNet();
  try {
    const values = [200, 20, 128];
    const images = constantImages("val", values);
    const before = tf.memory().numTensors;
    const signs = await run(odinGradientSigns(await differentiable(net), images, PASS));
    // Constant images: every pixel of an image gets the same sign.
    for (let i = 0; i < values.length; i++) {
      const first = signs[i * IMAGE_SIZE]!;
      assert.ok(signs.subarray(i * IMAGE_SIZE, (i + 1) * IMAGE_SIZE).every((s) => s === first));
    }
    const plain = await run(odinPerturbedScores(await groodModel(net), images, signs, 0, PASS));
    const perturbed = await run(
      odinPerturbedScores(await groodModel(net), images, signs, 0.004, PASS),
    );
    assert.equal(tf.memory().numTensors, before, "ODIN passes leak no tensor");
    values.forEach((v, i) => {
      assert.ok(perturbed[i]! < plain[i]!, `image ${i}: ${perturbed[i]} !< ${plain[i]}`);
      close(perturbed[i]!, odinByHand(v / 255, 0.004, 1000), `odin image ${i}`, 1e-7);
    });
    // At T = 1 the effect is large enough to check a big step by hand too (ε = 0.05 moves the
    // score by ~1e-2; 1e-5 allows for float32 summation of 784 pixels in the mean pooling).
    const coolPass = { ...PASS, temperature: 1 };
    const coolSigns = await run(odinGradientSigns(await differentiable(net), images, coolPass));
    const cool = await run(
      odinPerturbedScores(await groodModel(net), images, coolSigns, 0.05, coolPass),
    );
    values.forEach((v, i) =>
      close(cool[i]!, odinByHand(v / 255, 0.05, 1), `odin image ${i} at T = 1`, 1e-5)
    );
  } finally {
    net.dispose();
  }
});

Deno.test("odin() tunes ε on the validation data over its grid", async () => {
  const net = odinNet();
  try {
    const extracted = async (name: string, values: ReadonlyArray<number>) => {
      const images = constantImages(name, values);
      return {
        images,
        features: (await run(extractFeatures(await groodModel(net), images))).features,
      };
    };
    const id = await extracted("val-id", [200, 220, 240]);
    const ood = await extracted("val-ood", [60, 90, 110]);
    const train = { ...id, features: { ...id.features, labels: new Uint8Array(3) } };
    const fitted = await run(
      odin().fit({ ...fitInputs(train, { id, ood: [ood] }), model: await groodModel(net) }),
    );
    const [tuned] = fitted.tuned;
    assert.equal(tuned?.name, "epsilon");
    assert.deepEqual(tuned?.grid, ODIN_EPSILON_GRID);
    assert.equal(tuned?.validationAuroc.length, ODIN_EPSILON_GRID.length);
    assert.equal(fitted.settings.epsilon, tuned?.chosen);
    assert.equal(fitted.settings.temperature, 1000);
  } finally {
    net.dispose();
  }
});

Deno.test("odinGradientSigns() runs through the default residual CNN without leaking", async () => {
  const net = makeClassifier(tf, defaultSpec(10), initialWeights(defaultSpec(10), 3));
  try {
    const random = mulberry32(5);
    const images: ImageSet = {
      name: "noise",
      count: 2,
      pixels: Uint8Array.from({ length: 2 * IMAGE_SIZE }, () => Math.floor(random() * 256)),
    };
    const before = tf.memory().numTensors;
    const signs = await run(odinGradientSigns(await differentiable(net), images, PASS));
    assert.equal(tf.memory().numTensors, before);
    assert.ok(signs.every((s) => s === 1 || s === -1));
    assert.ok(signs.some((s) => s === 1) && signs.some((s) => s === -1));
  } finally {
    net.dispose();
  }
});

// ───────────────────────────── Mahalanobis ─────────────────────────────

Deno.test("mahalanobis() matches an explicit 2×2 covariance inverse", async () => {
  const class0 = [[0, 0], [2, 1], [1, 2], [3, 3]];
  const class1 = [[10, 0], [12, 2], [11, -1], [13, 1]];
  const train = handSet("train", [...class0, ...class1], class0.concat(class1).map(() => [0, 0]), [
    0,
    0,
    0,
    0,
    1,
    1,
    1,
    1,
  ]);
  // Second formulation: per-class means, tied covariance by explicit sums, adjugate inverse.
  const mean = (points: number[][]) =>
    [0, 1].map((k) => points.reduce((s, p) => s + p[k]!, 0) / points.length);
  const means = [mean(class0), mean(class1)];
  let [a, b, d] = [0, 0, 0];
  for (const [c, points] of [class0, class1].entries()) {
    for (const p of points) {
      const [x, y] = [p[0]! - means[c]![0]!, p[1]! - means[c]![1]!];
      a += x * x;
      b += x * y;
      d += y * y;
    }
  }
  [a, b, d] = [a / 8, b / 8, d / 8];
  const det = a * d - b * b;
  const inverse = [[d / det, -b / det], [-b / det, a / det]];
  const squared = (q: number[], mu: number[]) => {
    const [x, y] = [q[0]! - mu[0]!, q[1]! - mu[1]!];
    return x * (inverse[0]![0]! * x + inverse[0]![1]! * y) +
      y * (inverse[1]![0]! * x + inverse[1]![1]! * y);
  };
  const queries = [[1, 1], [20, 20], [11, 0.5], [6, 1]];
  const test = handSet("queries", queries, queries.map(() => [0, 0]));
  const { scores } = await fitAndScore(mahalanobis(), fitInputs(train), test);
  closeAll(
    scores,
    queries.map((q) => Math.min(squared(q, means[0]!), squared(q, means[1]!))),
    "mahalanobis",
  );

  // A dead third feature (always 0 in training) has no variance: the pseudo-inverse ignores
  // it instead of exploding.
  const pad = (rows: number[][], v = 0) => rows.map((r) => [...r, v]);
  const deadTrain = handSet(
    "train-dead",
    pad([...class0, ...class1]),
    class0.concat(class1).map(() => [0, 0]),
    [0, 0, 0, 0, 1, 1, 1, 1],
  );
  const dead = await fitAndScore(
    mahalanobis(),
    fitInputs(deadTrain),
    handSet("queries-dead", pad(queries, 5), queries.map(() => [0, 0])),
  );
  closeAll(dead.scores, scores, "mahalanobis with a dead feature", 1e-5);
  assert.equal(dead.fitted.settings.precisionRank, 2);
});

Deno.test("mahalanobis() scores a far feature in float64, where float32 scores overflowed", async () => {
  const train = handSet("train", [[0, 0], [1, 1], [0, 1], [5, 5], [6, 5], [5, 6]], [
    [0, 0],
    [0, 0],
    [0, 0],
    [0, 0],
    [0, 0],
    [0, 0],
  ], [0, 0, 0, 1, 1, 1]);
  const fitted = await run(mahalanobis().fit(fitInputs(train)));
  // The squared whitened distance is about 4.5e50: past float32's 3.4e38, within float64.
  const [score] = await run(fitted.score(handSet("far-away", [[1e25, 0]], [[0, 0]])));
  assert.ok(Number.isFinite(score!) && score! > 1e50, `score ${score}`);
});

// ───────────────────────────── KNN ─────────────────────────────

Deno.test("knn() equals a brute-force k-th neighbour distance on normalised features", async () => {
  const random = mulberry32(11);
  const rows = (n: number) =>
    Array.from({ length: n }, () => Array.from({ length: 4 }, () => random() * 2 - 0.5));
  const trainRows = rows(200);
  const queryRows = rows(12);
  const normalise = (v: number[]) => {
    const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    return v.map((x) => x / (norm + 1e-10));
  };
  const k = 5;
  const expected = queryRows.map((q) => {
    const nq = normalise(q);
    const distances = trainRows.map((t) =>
      Math.sqrt(normalise(t).reduce((s, x, j) => s + (x - nq[j]!) ** 2, 0))
    ).sort((x, y) => x - y);
    return distances[k - 1]!;
  });
  const train = handSet("train", trainRows, trainRows.map(() => [0]));
  const { scores, fitted } = await fitAndScore(
    knn({ k }),
    fitInputs(train),
    handSet("q", queryRows, queryRows.map(() => [0])),
  );
  closeAll(scores, expected, "knn", 1e-5);
  assert.equal(fitted.settings.k, 5);
  fitted.dispose();
  const defaults = await run(knn().fit(fitInputs(train)));
  assert.equal(defaults.settings.k, 50);
  defaults.dispose();
});

// ───────────────────────────── ViM ─────────────────────────────

Deno.test("vim() matches a 3-d toy with a known principal subspace", async () => {
  // Head: z = h·K + b with K = [e1 e2] (3 × 2) and b = (1, −2): u = −K(KᵀK)⁻¹b = (−1, 2, 0).
  const net = headOnlyNet([[1, 0], [0, 1], [0, 0]], [1, -2]);
  try {
    const u = [-1, 2, 0];
    // Offsets from u with second moments diag(4.5, 2, 1) and no cross terms: the principal
    // 2-d subspace is span(e1, e2), the residual is the 3rd coordinate (|o₃| = 1 for all).
    const offsets = [[3, 0, 1], [-3, 0, 1], [0, 2, -1], [0, -2, -1]];
    const features = offsets.map((o) => o.map((v, k) => v + u[k]!));
    // z = (h1 + 1, h2 − 2) = (o1, o2): max logits 3, 0, 2, 0 → mean 5/4; mean residual 1.
    const logits = offsets.map((o) => [o[0]!, o[1]!]);
    const train = handSet("train", features, logits, [0, 1, 0, 1]);
    const query = [0.5, 1, 4]; // o = (1.5, −1, 4): residual 4, z = (1.5, −1)
    const { scores, fitted } = await fitAndScore(
      vim({ principalDim: 2 }),
      fitInputs(train, undefined, net),
      handSet("q", [query], [[1.5, -1]]),
    );
    close(fitted.settings.alpha as number, 1.25, "alpha");
    // score = α·‖residual‖ − logsumexp(z) = 1.25·4 − log(e^1.5 + e^−1)
    close(scores[0]!, 1.25 * 4 - log(exp(1.5) + exp(-1)), "vim score");
    const origin = fitted.artefacts?.find((a) => a.name === "vim-origin");
    closeAll(origin!.data, u, "origin");
  } finally {
    net.dispose();
  }
});

Deno.test("symmetricEigen() reconstructs a symmetric matrix", () => {
  const random = mulberry32(2);
  const n = 6;
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) a[i * n + j] = a[j * n + i] = random() - 0.5;
  }
  const { values, vectors } = symmetricEigen(a, n);
  for (let k = 1; k < n; k++) assert.ok(values[k - 1]! >= values[k]!, "descending");
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let k = 0; k < n; k++) sum += vectors[i * n + k]! * values[k]! * vectors[j * n + k]!;
      close(sum, a[i * n + j]!, `A[${i},${j}]`, 1e-12);
    }
  }
});

// ───────────────────────────── ReAct, ASH ─────────────────────────────

// Head for ReAct/ASH: D × 2.
Deno.test("react() clips at the 90th percentile of training activations, then Energy", async () => {
  const kernel = [[0.1, 0], [0, 0.2], [0.1, 0], [0, 0], [0, 0.1]];
  const net = headOnlyNet(kernel, [0, 1]);
  try {
    // Training values 0..9: 90th percentile at position 0.9·9 = 8.1 → 8 + 0.1·(9 − 8) = 8.1.
    const train = handSet("train", [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]], [[0, 0], [0, 0]], [0, 1]);
    // h = (9, 1, 10, 0, 3) → clipped (8.1, 1, 8.1, 0, 3):
    // z0 = 0.1·8.1 + 0.1·8.1 = 1.62;  z1 = 0.2·1 + 0.1·3 + 1 = 1.5.
    const { scores, fitted } = await fitAndScore(
      react(),
      fitInputs(train, undefined, net),
      handSet("q", [[9, 1, 10, 0, 3]], [[0, 0]]),
    );
    close(fitted.settings.threshold as number, 8.1, "threshold");
    close(scores[0]!, -log(exp(1.62) + exp(1.5)), "react");
    close(percentile([3, 1, 2], 50), 2, "median");
  } finally {
    net.dispose();
  }
});

Deno.test("ash() keeps the top activations, scales by exp(s1/s2), then Energy", async () => {
  const kernel = Array.from({ length: 10 }, (_, i) => [i === 1 ? 0.1 : 0, i === 5 ? 0.2 : 0]);
  const net = headOnlyNet(kernel, [0, 0.5]);
  try {
    // p = 70 on D = 10: keep 10 − round(7) = 3. h sums to s1 = 18; top 3 are 5, 4, 3 (features
    // 1, 4, 5), s2 = 12, scale e^1.5. z0 = 0.1·5e^1.5, z1 = 0.2·3e^1.5 + 0.5.
    const h = [1, 5, 2, 0, 4, 3, 0, 0, 1, 2];
    const set = handSet("q", [h], [[0, 0]]);
    const { scores, fitted } = await fitAndScore(
      ash({ percentile: 70 }),
      fitInputs(set, undefined, net),
      set,
    );
    const s = exp(1.5);
    close(scores[0]!, -log(exp(0.5 * s) + exp(0.6 * s + 0.5)), "ash");
    assert.equal(fitted.settings.kept, 3);
    assert.equal(ashKeptCount(64, 90), 6); // the default on our 64-d features
    assert.equal(ashKeptCount(10, 25), 8); // 2.5 rounds to even (numpy), keeping 8
  } finally {
    net.dispose();
  }
});

// ───────────────────────────── GradNorm ─────────────────────────────

Deno.test("gradNorm(): the closed form equals ‖∂KL(u‖softmax)/∂W‖₁ from tf.grad", async () => {
  const random = mulberry32(9);
  const [n, d, c] = [4, 5, 3];
  const h = Float32Array.from({ length: n * d }, () => random() * 2);
  const w = Float32Array.from({ length: d * c }, () => random() - 0.5);
  const b = Float32Array.from({ length: c }, () => random() - 0.5);
  for (const temperature of [1, 2]) {
    const reference = tf.tidy(() =>
      Array.from({ length: n }, (_, i) => {
        const hi = tf.tensor2d(h.subarray(i * d, (i + 1) * d), [1, d]);
        // KL(u ‖ p) = Σ_c (1/C)·(log(1/C) − log p_c)
        const kl = (weights: tfType.Tensor) =>
          tf.sum(
            tf.mul(
              1 / c,
              tf.sub(
                Math.log(1 / c),
                tf.logSoftmax(
                  tf.div(tf.add(tf.matMul(hi, weights as tfType.Tensor2D), b), temperature),
                ),
              ),
            ),
          ) as tfType.Scalar;
        return tf.sum(tf.abs(tf.grad(kl)(tf.tensor2d(w, [d, c])))).dataSync()[0]!;
      })
    );
    const logits = tf.tidy(() =>
      tf.add(tf.matMul(tf.tensor2d(h, [n, d]), tf.tensor2d(w, [d, c])), b)
        .dataSync() as Float32Array
    );
    const closed = gradNorms(matrix(n, d, h), matrix(n, c, logits), temperature);
    closeAll(closed, reference, `gradNorm T=${temperature}`, 1e-5);
    if (temperature === 1) {
      const set: ExtractedSet = {
        images: { name: "q", count: n, pixels: new Uint8Array(n * IMAGE_SIZE) },
        features: {
          name: "q",
          count: n,
          penultimate: matrix(n, d, h),
          logits: matrix(n, c, logits),
        },
      };
      const { scores } = await fitAndScore(gradNorm(), fitInputs(set), set);
      closeAll(scores, reference.map((r) => -r), "gradNorm detector", 1e-5);
    }
  }
});

// ───────────────────────────── tuning, fit isolation ─────────────────────────────

Deno.test("tuneParameter() picks the grid value that separates validation best", async () => {
  const id = handSet("val-id", [], [[0], [0], [0], [0]]);
  const oodA = handSet("val-ood-a", [], [[0], [0]]);
  const oodB = handSet("val-ood-b", [], [[0], [0]]);
  const idScores = Float64Array.of(0, 1, 2, 3);
  const disposed: Array<number> = [];
  // Value 2 puts both OOD sets above every ID score (AUROC 1); 1 and 3 mix them.
  const oodScores = (value: number) =>
    value === 2 ? Float64Array.of(10, 11) : Float64Array.of(1.5, 0.5);
  const tuned = await run(tuneParameter({
    detector: "toy",
    parameter: "v",
    grid: [1, 2, 3],
    validation: { id, ood: [oodA, oodB] },
    candidate: (value) =>
      Effect.succeed({
        score: (set: ExtractedSet) => Effect.succeed(set === id ? idScores : oodScores(value)),
        dispose: () => disposed.push(value),
      }),
  }));
  assert.equal(tuned.chosen, 2);
  // AUROC of (1.5, 0.5) vs (0, 1, 2, 3): (2 + 1) / 8 = 3/8 on both OOD sets.
  assert.deepEqual(tuned.validationAuroc, [3 / 8, 1, 3 / 8]);
  assert.deepEqual(disposed, [1, 2, 3]);

  const tie = await run(tuneParameter({
    detector: "toy",
    parameter: "v",
    grid: [5, 7],
    validation: { id, ood: [oodA] },
    candidate: () =>
      Effect.succeed({
        score: (set: ExtractedSet) => Effect.succeed(set === id ? idScores : Float64Array.of(9, 9)),
      }),
  }));
  assert.equal(tie.chosen, 5, "ties go to the first grid value");

  const none = await failure(tuneParameter({
    detector: "toy",
    parameter: "v",
    grid: [1],
    validation: { id, ood: [] },
    candidate: () => Effect.succeed({ score: () => Effect.succeed(idScores) }),
  }));
  assert.equal(none._tag, "NoValidationOod");
});

Deno.test("fit sees only FitInputs: no test OOD set reaches a detector before scoring", async () => {
  // A fake detector records what fit received.
  let received: FitInputs | undefined;
  const recorder: Detector = {
    name: "recorder",
    description: "records its fit inputs",
    fit: (inputs) =>
      Effect.sync(() => {
        received = inputs;
        return {
          score: () => Effect.succeed(new Float64Array()),
          settings: {},
          tuned: [],
          dispose: () => {},
        };
      }),
  };
  const random = mulberry32(4);
  const cluster = (name: string, n: number, centre: number) => {
    const rows = Array.from({ length: n }, () => [centre + random(), centre + random(), random()]);
    return handSet(name, rows, rows.map(() => [0, 0]), rows.map(() => 0));
  };
  const train = cluster("train", 60, 0);
  const validation = { id: cluster("val-id", 10, 0), ood: [cluster("val-ood", 10, 3)] };
  const testOod = cluster("test-ood", 10, -3);
  const inputs = fitInputs(train, validation);
  await run(recorder.fit(inputs));
  assert.deepEqual(
    Object.keys(received!).sort(),
    ["modelKey", "net", "train", "trainClassSums", "trainFeatures", "trainKey", "validation"],
  );
  assert.deepEqual(received!.validation.ood.map((s) => s.features.name), ["val-ood"]);

  // A real tuning detector: record which sets' features it reads, during fit and after.
  const read: Array<string> = [];
  const watched = (set: ExtractedSet): ExtractedSet =>
    new Proxy(set, {
      get: (target, key, receiver) => {
        if (key === "features") read.push(target.features.name);
        return Reflect.get(target, key, receiver);
      },
    });
  const fitted = await run(
    knn({ kGrid: [1, 5] }).fit(
      fitInputs(train, { id: watched(validation.id), ood: validation.ood.map(watched) }),
    ),
  );
  assert.deepEqual([...new Set(read)].sort(), ["val-id", "val-ood"]);
  assert.equal(fitted.tuned[0]?.name, "k");
  assert.deepEqual(fitted.tuned[0]?.grid, [1, 5]);
  const tuned = fitted.tuned[0]!;
  const chosen = fitted.settings.k;
  await run(fitted.score(watched(testOod)));
  assert.ok(read.includes("test-ood"), "scored only after fitting");
  assert.equal(fitted.settings.k, chosen, "scoring a test set changes no setting");
  assert.equal(fitted.tuned[0], tuned);
  fitted.dispose();
});
