import assert from "node:assert/strict";
import { Cause, Effect, Exit } from "effect";
import { join } from "node:path";
import { ModelLoadError } from "../lib/model/store.ts";
import { forwardPool, ForwardWorkerError, startForwardPool } from "../lib/stages/features_pool.ts";
import { IMAGE_SIZE, type LabelledSet } from "../lib/data/images.ts";
import { defaultSpec, initialWeights, makeClassifier } from "../lib/model/classifier.ts";
import { saveUntrainedClassifier } from "../lib/model/store.ts";
import { mulberry32 } from "../lib/random.ts";
import { extractFeatures } from "../lib/stages/features.ts";
import { runPromise, runPromiseExit, tf } from "./with_compute.ts";

/** A random-init classifier saved to a fresh temp folder (the workers load it from there). */
async function savedRandomModel(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "grood-workers-" });
  await runPromise(saveUntrainedClassifier(tf, dir));
  return dir;
}

/** Seeded random images with labels (content does not matter, only that it is fixed). */
function randomSet(count: number, seed: number): LabelledSet {
  const random = mulberry32(seed);
  return {
    name: "random",
    count,
    pixels: Uint8Array.from({ length: count * IMAGE_SIZE }, () => Math.floor(random() * 256)),
    labels: Uint8Array.from({ length: count }, () => Math.floor(random() * 10)),
    classNames: Array.from({ length: 10 }, (_, i) => String(i)),
  };
}

function assertClose(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const scale = Math.max(1, Math.abs(expected[i]!));
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!) / scale);
  }
  assert.ok(worst <= 1e-6, `${what}: largest relative difference ${worst}`);
}

Deno.test("forwardPool() gives the features and logits of single-threaded extractFeatures", async () => {
  const dir = await savedRandomModel();
  try {
    // 1,130 images, batches of 100, shards of 300: several shards per worker, a partial last
    // shard and a partial last batch.
    const set = randomSet(1130, 1);
    const pixelsBefore = set.pixels.slice();
    const spec = defaultSpec(10);
    const net = makeClassifier(tf, spec, initialWeights(spec, 0));
    const single = await runPromise(extractFeatures(net, set, { batchSize: 100 }));
    net.dispose();
    const pooled = await runPromise(Effect.scoped(Effect.gen(function* () {
      const pool = yield* forwardPool({ modelDir: dir, workers: 2 });
      assert.equal(pool.size, 2);
      return yield* pool.extract(set, { batchSize: 100, shardSize: 300 });
    })));
    assert.equal(pooled.count, set.count);
    assert.deepEqual([pooled.penultimate.rows, pooled.penultimate.cols], [1130, 64]);
    assert.deepEqual([pooled.logits.rows, pooled.logits.cols], [1130, 10]);
    assertClose(pooled.penultimate.data, single.features.penultimate.data, "penultimate");
    assertClose(pooled.logits.data, single.features.logits.data, "logits");
    assert.equal(pooled.labels, set.labels);
    assert.deepEqual(set.pixels, pixelsBefore, "the caller's pixels are untouched");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ForwardPool.dispose() terminates the workers; later passes fail as closed", async () => {
  const dir = await savedRandomModel();
  try {
    const pool = await runPromise(startForwardPool({ modelDir: dir, workers: 2 }));
    const set = randomSet(40, 2);
    const features = await runPromise(pool.extract(set, { batchSize: 20 }));
    assert.equal(features.count, 40);
    assert.equal(pool.lastTimings().length, 2, "one shard per worker by default");
    await pool.dispose();
    await pool.dispose(); // idempotent
    const exit = await runPromiseExit(pool.extract(set));
    assert.ok(Exit.isFailure(exit));
    const error = exit.cause.reasons.find(Cause.isFailReason)?.error;
    assert.ok(error instanceof ForwardWorkerError);
    assert.equal(error.stage, "closed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("startForwardPool() on a missing model fails with a ForwardWorkerError naming it", async () => {
  const missing = join(await Deno.makeTempDir({ prefix: "grood-workers-" }), "nowhere");
  try {
    const exit = await runPromiseExit(startForwardPool({ modelDir: missing, workers: 1 }));
    assert.ok(Exit.isFailure(exit));
    const error = exit.cause.reasons.find(Cause.isFailReason)?.error;
    assert.ok(error instanceof ForwardWorkerError);
    assert.equal(error.stage, "start");
    assert.match(error.message, /nowhere/);
    // The worker's own typed error comes back typed, naming the folder and the OS reason.
    assert.ok(error.error instanceof ModelLoadError, `${error.error}`);
    assert.equal(error.error.path, missing);
    assert.match(error.error.problem, /NotFound|No such file/);
  } finally {
    await Deno.remove(join(missing, ".."), { recursive: true });
  }
});
