/**
 * Property-based tests (fast-check, seeded, modest run counts): each library routine against
 * an independent brute-force or autograd definition on random inputs, and the edges that read
 * untrusted bytes or JSON on random and damaged input (a typed failure, never a crash).
 */
import assert from "node:assert/strict";
import type * as tfType from "@tensorflow/tfjs";
import { Cause, Effect, Exit } from "effect";
import fc from "fast-check";
import { startCompute } from "../lib/compute/compute.ts";
import { CorruptDataset, decodeIdx, encodeIdx } from "../lib/io/idx.ts";
import { InvalidInput } from "../lib/decode.ts";
import { matrix } from "../lib/matrix.ts";
import { decodeAblation, decodePipeline } from "../lib/pipeline/spec.ts";
import { CorruptNpy, decodeNpy, encodeNpy } from "../lib/io/npy.ts";
import { evaluateOod } from "../lib/stages/evaluate.ts";
import { groodDescriptors } from "../lib/stages/gradient.ts";
import { exactIndex } from "../lib/knn/mod.ts";

const { tf } = await Effect.runPromise(startCompute("wasm"));

/** Fixed seeds: a failure reproduces, and the suite costs the same every run. */
const params = (seed: number, numRuns = 200) => ({ seed, numRuns });

// ───────────────────────────── metrics ─────────────────────────────

/** AUROC by its definition: P(OOD > ID) + ½ P(OOD = ID) over all pairs. */
function bruteAuroc(id: ReadonlyArray<number>, ood: ReadonlyArray<number>): number {
  let wins = 0;
  for (const o of ood) for (const i of id) wins += o > i ? 1 : o === i ? 0.5 : 0;
  return wins / (id.length * ood.length);
}

/**
 * Average precision by its definition: over the distinct thresholds t, high to low, where
 * every sample with score ≥ t is called positive, Σ (Rₙ − Rₙ₋₁)·Pₙ.
 */
function bruteAp(positive: ReadonlyArray<number>, negative: ReadonlyArray<number>): number {
  const thresholds = [...new Set([...positive, ...negative])].sort((a, b) => b - a);
  let previousRecall = 0;
  let sum = 0;
  for (const t of thresholds) {
    const tp = positive.filter((s) => s >= t).length;
    const fp = negative.filter((s) => s >= t).length;
    const recall = tp / positive.length;
    sum += (recall - previousRecall) * (tp / (tp + fp));
    previousRecall = recall;
  }
  return sum;
}

/** FPR@95 by its definition: t* = the smallest ID score keeping ≥ 95% of ID at or below it. */
function bruteFpr95(id: ReadonlyArray<number>, ood: ReadonlyArray<number>): number {
  const candidates = [...new Set(id)].sort((a, b) => a - b);
  const threshold = candidates.find((t) => 20 * id.filter((s) => s <= t).length >= 19 * id.length)!;
  return ood.filter((s) => s <= threshold).length / ood.length;
}

/** Scores from a few values only, so ties within and across the sets are frequent. */
const tiedScores = fc.array(fc.integer({ min: 0, max: 6 }).map((v) => v / 2), {
  minLength: 1,
  maxLength: 40,
});

Deno.test("AUROC, AUPR-In/Out and FPR@95 equal their brute-force definitions, ties included", () => {
  fc.assert(
    fc.property(tiedScores, tiedScores, (id, ood) => {
      const m = Effect.runSync(evaluateOod({ id, ood }));
      const close = (a: number, b: number, what: string) =>
        assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} vs brute force ${b}`);
      close(m.auroc, bruteAuroc(id, ood), "AUROC");
      close(m.auprOut, bruteAp(ood, id), "AUPR-Out");
      close(m.auprIn, bruteAp(id.map((s) => -s), ood.map((s) => -s)), "AUPR-In");
      close(m.fpr95IdKept, bruteFpr95(id, ood), "FPR@95");
    }),
    params(1, 300),
  );
});

// ───────────────────────────── exact k-NN ─────────────────────────────

Deno.test("exact k-NN returns the k smallest distances a naive loop finds", () => {
  const problem = fc.integer({ min: 1, max: 6 }).chain((dim) =>
    fc.record({
      dim: fc.constant(dim),
      points: fc.array(
        fc.array(fc.float({ min: -10, max: 10, noNaN: true }), {
          minLength: dim,
          maxLength: dim,
        }),
        { minLength: 1, maxLength: 30 },
      ),
      queries: fc.array(
        fc.array(fc.float({ min: -10, max: 10, noNaN: true }), {
          minLength: dim,
          maxLength: dim,
        }),
        { minLength: 1, maxLength: 5 },
      ),
      kShare: fc.double({ min: 0, max: 1, noNaN: true }),
    })
  );
  fc.assert(
    fc.property(problem, ({ dim, points, queries, kShare }) => {
      const k = 1 + Math.floor(kShare * (points.length - 1));
      const index = Effect.runSync(exactIndex(matrix(points.length, dim, points.flat())));
      const found = Effect.runSync(index.search(matrix(queries.length, dim, queries.flat()), k));
      index.dispose();
      queries.forEach((q, r) => {
        const f32 = (v: number) => Math.fround(v);
        const naive = points
          .map((p) => Math.sqrt(p.reduce((s, v, j) => s + (f32(v) - f32(q[j]!)) ** 2, 0)))
          .sort((a, b) => a - b)
          .slice(0, k);
        for (let j = 0; j < k; j++) {
          const distance = found.distances[r * k + j]!;
          const tolerance = 1e-4 * Math.max(1, naive[j]!);
          assert.ok(
            Math.abs(distance - naive[j]!) <= tolerance,
            `rank ${j}: ${distance} vs ${naive[j]}`,
          );
          // The neighbour named is really at that distance.
          const p = points[found.indices[r * k + j]!]!;
          const own = Math.sqrt(p.reduce((s, v, i) => s + (f32(v) - f32(q[i]!)) ** 2, 0));
          assert.ok(Math.abs(own - distance) <= tolerance, `index ${found.indices[r * k + j]}`);
        }
      });
    }),
    params(2, 150),
  );
});

// ───────────────────────────── GROOD's closed form ─────────────────────────────

/** ∂/∂p_ood of the cross-entropy over −distances/T to [classes…, p_ood], by tf.grad. */
function autogradDescriptor(
  h: ReadonlyArray<number>,
  classes: ReadonlyArray<ReadonlyArray<number>>,
  ood: ReadonlyArray<number>,
  label: number,
  temperature: number,
): Float32Array {
  return tf.tidy(() => {
    const x = tf.tensor1d(h as number[]);
    const protos = tf.tensor2d(classes as number[][]);
    const grad = tf.grad((q: tfType.Tensor) => {
      const all = tf.concat([protos, tf.reshape(q, [1, -1])], 0);
      const distances = tf.sqrt(tf.sum(tf.square(tf.sub(all, x)), 1));
      const logits = tf.div(tf.neg(distances), temperature);
      const target = tf.oneHot(tf.tensor1d([label], "int32"), classes.length + 1);
      return tf.neg(tf.sum(tf.mul(tf.reshape(target, [-1]), tf.logSoftmax(logits))));
    });
    return grad(tf.tensor1d(ood as number[])).dataSync() as Float32Array;
  });
}

Deno.test("GROOD's closed-form descriptor equals tf autograd on random prototypes", () => {
  const problem = fc.record({
    classes: fc.integer({ min: 1, max: 5 }),
    dim: fc.integer({ min: 1, max: 6 }),
    temperature: fc.double({ min: 0.25, max: 4, noNaN: true }),
  }).chain(({ classes, dim, temperature }) => {
    const vector = fc.array(fc.double({ min: -3, max: 3, noNaN: true }), {
      minLength: dim,
      maxLength: dim,
    });
    return fc.record({
      temperature: fc.constant(temperature),
      dim: fc.constant(dim),
      prototypes: fc.array(vector, { minLength: classes, maxLength: classes }),
      ood: vector,
      rows: fc.array(vector, { minLength: 1, maxLength: 4 }),
      label: fc.integer({ min: 0, max: classes - 1 }),
    });
  });
  fc.assert(
    fc.property(problem, ({ temperature, dim, prototypes, ood, rows, label }) => {
      const f32 = (v: ReadonlyArray<number>) => Array.from(Float32Array.from(v));
      // Far enough from every prototype that the distance is differentiable in float32.
      fc.pre(rows.every((h) => [...prototypes, ood].every((p) => dist(h, p) > 1e-2)));
      const closed = Effect.runSync(groodDescriptors(
        matrix(rows.length, dim, rows.flat()),
        { classes: matrix(prototypes.length, dim, prototypes.flat()), ood: Float32Array.from(ood) },
        temperature,
      ));
      rows.forEach((h, r) => {
        const expected = autogradDescriptor(
          f32(h),
          prototypes.map(f32),
          f32(ood),
          label,
          temperature,
        );
        for (let j = 0; j < dim; j++) {
          const got = closed.data[r * dim + j]!;
          assert.ok(
            Math.abs(got - expected[j]!) <= 1e-4 * Math.max(1, Math.abs(expected[j]!)),
            `row ${r} coordinate ${j}: closed form ${got}, autograd ${expected[j]}`,
          );
        }
      });
    }),
    params(3, 100),
  );
});

function dist(a: ReadonlyArray<number>, b: ReadonlyArray<number>): number {
  return Math.sqrt(a.reduce((s, v, j) => s + (v - b[j]!) ** 2, 0));
}

// ───────────────────────────── spec files ─────────────────────────────

/** The exit is a success or a failure with the expected typed error: never a defect. */
function assertTypedOutcome<A, E>(
  exit: Exit.Exit<A, E>,
  isExpected: (error: unknown) => boolean,
  input: unknown,
) {
  if (Exit.isSuccess(exit)) return;
  const failure = exit.cause.reasons.find(Cause.isFailReason);
  assert.ok(
    failure !== undefined,
    `defect on ${JSON.stringify(input)}: ${Cause.pretty(exit.cause)}`,
  );
  assert.ok(isExpected(failure.error), `untyped failure ${String(failure.error)}`);
  const message = (failure.error as Error).message;
  assert.ok(message.length > 0 && !message.includes("[object Object]"), message);
}

const PAPER = JSON.parse(
  Deno.readTextFileSync(new URL("../ablations/paper.json", import.meta.url)),
) as Record<string, unknown>;

/** A JSON value with one random change at a random path: a key renamed, removed or replaced. */
const mutated = (base: unknown) =>
  fc.tuple(
    fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
    fc.jsonValue(),
    fc.string(),
    fc.nat(2),
  )
    .map(([steps, replacement, newKey, action]) => {
      const copy = structuredClone(base) as unknown;
      let node: unknown = copy;
      for (const step of steps) {
        if (node === null || typeof node !== "object") break;
        const keys = Object.keys(node);
        if (keys.length === 0) break;
        const key = keys[step % keys.length]!;
        const child = (node as Record<string, unknown>)[key];
        if (child !== null && typeof child === "object" && step % 3 !== 0) {
          node = child;
          continue;
        }
        const record = node as Record<string, unknown>;
        if (action === 0) delete record[key];
        else if (action === 1) {
          record[newKey] = record[key];
          delete record[key];
        } else record[key] = replacement;
        break;
      }
      return copy;
    });

Deno.test("random and mutated spec files decode or fail with InvalidInput, never crash", () => {
  const valid = {
    benchmark: "mnist",
    detectors: [
      { kind: "grood", k: 5, oodPrototype: { kind: "mixup", lambda: 0.3, samples: 100, seed: 0 } },
      { kind: "msp", name: "MSP" },
    ],
  };
  fc.assert(
    fc.property(fc.oneof(fc.jsonValue(), mutated(PAPER)), (input) => {
      assertTypedOutcome(
        Effect.runSyncExit(decodeAblation(input, "x.json")),
        (e) => e instanceof InvalidInput,
        input,
      );
    }),
    params(4, 300),
  );
  fc.assert(
    fc.property(fc.oneof(fc.jsonValue(), mutated(valid)), (input) => {
      assertTypedOutcome(
        Effect.runSyncExit(decodePipeline(input, "p.json")),
        (e) => e instanceof InvalidInput,
        input,
      );
    }),
    params(5, 300),
  );
});

Deno.test("a key renamed by one typo is reported with the original as suggestion", () => {
  const keys = ["lambda", "earlyBoundary", "samples", "temperature", "descriptor"] as const;
  fc.assert(
    fc.property(fc.constantFrom(...keys), fc.nat(), fc.nat(25), (key, at, letter) => {
      const position = at % key.length;
      const typo = key.slice(0, position) + String.fromCharCode(97 + letter) +
        key.slice(position + 1);
      fc.pre(typo !== key);
      const input = { name: "x", benchmark: "mnist", grids: [{ [typo]: [1] }] };
      const exit = Effect.runSyncExit(decodeAblation(input, "x.json"));
      assert.ok(Exit.isFailure(exit));
      const error = exit.cause.reasons.find(Cause.isFailReason)!.error;
      assert.ok(error instanceof InvalidInput);
      assert.ok(
        error.message.includes(`unknown key ${typo} in x.json at grids[0]; did you mean ${key}?`),
        error.message,
      );
    }),
    params(6, 100),
  );
});

// ───────────────────────────── binary readers ─────────────────────────────

Deno.test("the IDX reader gives CorruptDataset on random and truncated bytes, never a crash", async () => {
  const valid = fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 3 }).chain((
    dims,
  ) =>
    fc.uint8Array({
      minLength: dims.reduce((a, b) => a * b, 1),
      maxLength: dims.reduce((a, b) => a * b, 1),
    }).map((data) => encodeIdx(dims, data))
  );
  const damaged = fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc.tuple(valid, fc.nat()).map(([bytes, cut]) => bytes.subarray(0, cut % bytes.length)),
  );
  // Random bytes may start with gzip's magic, which inflates asynchronously.
  await fc.assert(
    fc.asyncProperty(damaged, async (bytes) => {
      assertTypedOutcome(
        await Effect.runPromiseExit(decodeIdx(bytes, "x.idx")),
        (e) => e instanceof CorruptDataset,
        Array.from(bytes),
      );
    }),
    params(7, 400),
  );
});

Deno.test("the .npy reader gives CorruptNpy on random and truncated bytes, never a crash", () => {
  const valid = fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 3 }).chain(
    (shape) =>
      fc.float32Array({
        minLength: shape.reduce((a, b) => a * b, 1),
        maxLength: shape.reduce((a, b) => a * b, 1),
      }).map((data) => Effect.runSync(encodeNpy(data, shape))),
  );
  const damaged = fc.oneof(
    fc.uint8Array({ maxLength: 200 }),
    fc.tuple(valid, fc.nat()).map(([bytes, cut]) => bytes.subarray(0, cut % bytes.length)),
    fc.tuple(valid, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([bytes, at, value]) => {
      const copy = bytes.slice();
      copy[8 + (at % Math.max(1, copy.length - 8))] = value; // damage the header or data
      return copy;
    }),
  );
  fc.assert(
    fc.property(damaged, (bytes) => {
      assertTypedOutcome(
        Effect.runSyncExit(decodeNpy(bytes, "x.npy")),
        (e) => e instanceof CorruptNpy,
        Array.from(bytes.subarray(0, 80)),
      );
    }),
    params(8, 400),
  );
});
