import assert from "node:assert/strict";
import { Effect } from "effect";
import { type Matrix, matrix, row } from "../lib/matrix.ts";
import { mulberry32 } from "../lib/random.ts";
import {
  autogradDescriptors,
  type GradientPrototypes,
  groodDescriptors,
  ShapeMismatch,
} from "../lib/stages/gradient.ts";
import { runPromise, tf } from "./with_compute.ts";

function randomMatrix(rows: number, cols: number, seed: number, scale = 3): Matrix {
  const random = mulberry32(seed);
  return matrix(
    rows,
    cols,
    Float32Array.from({ length: rows * cols }, () => (random() - 0.5) * scale),
  );
}

/** max |a − b| / max |b| over all entries. */
function relativeError(a: Matrix, b: Matrix): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.data.length; i++) {
    diff = Math.max(diff, Math.abs(a.data[i]! - b.data[i]!));
    scale = Math.max(scale, Math.abs(b.data[i]!));
  }
  return diff / scale;
}

function argminDistance(features: Matrix, classes: Matrix): Uint8Array {
  return Uint8Array.from({ length: features.rows }, (_, i) => {
    let best = 0;
    let bestDistance = Infinity;
    for (let c = 0; c < classes.rows; c++) {
      const d = row(features, i).reduce((s, v, j) => s + (v - row(classes, c)[j]!) ** 2, 0);
      if (d < bestDistance) [best, bestDistance] = [c, d];
    }
    return best;
  });
}

Deno.test("groodDescriptors() equals tf.grad of the NCP loss on random features", async () => {
  const features = randomMatrix(64, 16, 1);
  const prototypes: GradientPrototypes = {
    classes: randomMatrix(5, 16, 2),
    ood: randomMatrix(1, 16, 3).data,
  };
  const predicted = argminDistance(features, prototypes.classes);
  const closed = await runPromise(groodDescriptors(features, prototypes));
  for (const mode of ["batched", "per-sample"] as const) {
    const auto = await runPromise(
      autogradDescriptors(features, prototypes, predicted, mode),
    );
    const error = relativeError(closed, auto);
    assert.ok(error < 1e-5, `${mode}: relative error ${error}`);
  }
});

Deno.test("groodDescriptors() with a temperature equals tf.grad of the tempered loss", async () => {
  const features = randomMatrix(32, 8, 21, 30);
  const prototypes = { classes: randomMatrix(4, 8, 22, 30), ood: randomMatrix(1, 8, 23, 30).data };
  const predicted = argminDistance(features, prototypes.classes);
  for (const temperature of [0.5, 3, 20]) {
    const closed = await runPromise(groodDescriptors(features, prototypes, temperature));
    const auto = await runPromise(
      autogradDescriptors(features, prototypes, predicted, "batched", 1000, temperature),
    );
    const error = relativeError(closed, auto);
    assert.ok(error < 1e-5, `τ = ${temperature}: relative error ${error}`);
  }
  const bad = await runPromise(Effect.flip(groodDescriptors(features, prototypes, 0)));
  assert.match(bad.message, /temperature = 0/);
});

Deno.test("groodDescriptors() does not depend on the predicted class", async () => {
  const features = randomMatrix(20, 8, 4);
  const prototypes = { classes: randomMatrix(4, 8, 5), ood: randomMatrix(1, 8, 6).data };
  const closed = await runPromise(groodDescriptors(features, prototypes));
  const otherLabels = Uint8Array.from({ length: 20 }, (_, i) => i % 4);
  const auto = await runPromise(autogradDescriptors(features, prototypes, otherLabels));
  assert.ok(relativeError(closed, auto) < 1e-5);
});

Deno.test("groodDescriptors() is finite for a sample sitting on a prototype", async () => {
  const prototypes = { classes: randomMatrix(3, 6, 7), ood: randomMatrix(1, 6, 8).data };
  // Row 0 sits on class prototype 1, row 1 sits on the OOD prototype.
  const features = matrix(3, 6, [
    ...row(prototypes.classes, 1),
    ...prototypes.ood,
    ...randomMatrix(1, 6, 9).data,
  ]);
  const closed = await runPromise(groodDescriptors(features, prototypes));
  assert.ok(closed.data.every(Number.isFinite), "no NaN or infinity");
  // On a class prototype the descriptor is regular and autograd agrees.
  const onClass = matrix(1, 6, row(features, 0));
  const auto = await runPromise(
    autogradDescriptors(onClass, prototypes, new Uint8Array([1])),
  );
  assert.ok(relativeError(matrix(1, 6, row(closed, 0)), auto) < 1e-5);
  // On the OOD prototype the direction is undefined: we return the zero subgradient.
  assert.deepEqual(Array.from(row(closed, 1)), [0, 0, 0, 0, 0, 0]);
});

Deno.test("groodDescriptors() has norm π_ood and points away from p_ood", async () => {
  const features = randomMatrix(10, 4, 10);
  const prototypes = { classes: randomMatrix(3, 4, 11), ood: randomMatrix(1, 4, 12).data };
  const closed = await runPromise(groodDescriptors(features, prototypes));
  for (let i = 0; i < 10; i++) {
    const h = row(features, i);
    const distance = (p: ArrayLike<number>) =>
      Math.sqrt(h.reduce((s, v, j) => s + (v - p[j]!) ** 2, 0));
    const toOod = distance(prototypes.ood);
    const partition = [0, 1, 2].reduce((s, c) =>
      s + Math.exp(-distance(row(prototypes.classes, c))), 0) +
      Math.exp(-toOod);
    const piOod = Math.exp(-toOod) / partition;
    const H = row(closed, i);
    const norm = Math.sqrt(H.reduce((s, v) => s + v * v, 0));
    assert.ok(Math.abs(norm - piOod) < 1e-6, `row ${i}: norm ${norm} vs π_ood ${piOod}`);
    const cosine = H.reduce((s, v, j) => s + v * (h[j]! - prototypes.ood[j]!), 0) / (norm * toOod);
    assert.ok(cosine > 0.99999);
  }
});

Deno.test("groodDescriptors() rejects features of the wrong size with ShapeMismatch", async () => {
  const result = await runPromise(
    Effect.flip(groodDescriptors(randomMatrix(2, 5, 1), {
      classes: randomMatrix(3, 4, 2),
      ood: new Float32Array(4),
    })),
  );
  assert.ok(result instanceof ShapeMismatch);
  assert.match(result.message, /feature dimension has size 5, expected 4/);
});

Deno.test("autogradDescriptors() leaks no tensor", async () => {
  const features = randomMatrix(30, 8, 13);
  const prototypes = { classes: randomMatrix(3, 8, 14), ood: randomMatrix(1, 8, 15).data };
  const before = tf.memory().numTensors;
  await runPromise(
    autogradDescriptors(features, prototypes, new Uint8Array(30), "batched", 7),
  );
  assert.equal(tf.memory().numTensors, before);
});
