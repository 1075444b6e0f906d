import assert from "node:assert/strict";
import { Effect } from "effect";
import { join } from "node:path";
import { startCompute } from "../lib/compute/compute.ts";
import { loadSplit } from "../lib/data/datasets.ts";
import { subset } from "../lib/data/images.ts";
import { grood } from "../lib/detectors/grood.ts";
import { matrix } from "../lib/matrix.ts";
import { defaultSpec, initialWeights, makeClassifier } from "../lib/model/classifier.ts";
import {
  type Codec,
  makeStageCache,
  type StageCacheShape,
  stageKey,
} from "../lib/pipeline/cache.ts";
import { extractCached } from "../lib/pipeline/extract.ts";

const { tf } = await Effect.runPromise(startCompute("wasm"));

const vectorCodec: Codec<Float32Array> = {
  encode: (v) => ({ arrays: { v: { data: v, shape: [v.length] } }, meta: { length: v.length } }),
  decode: (arrays) => arrays.get("v")!.data as Float32Array,
};

/** Wrap a cache to record which stages were hits and which were computed. */
function recording(inner: StageCacheShape) {
  const events: Array<string> = [];
  const cache: StageCacheShape = {
    root: inner.root,
    cached: (stage, parts, codec, compute) =>
      Effect.map(inner.cached(stage, parts, codec, compute), (r) => {
        events.push(`${stage}:${r.hit ? "hit" : "computed"}`);
        return r;
      }),
  };
  return { cache, events };
}

Deno.test("cached() computes once, then serves the stored value", async () => {
  const root = await Deno.makeTempDir();
  const cache = makeStageCache(root);
  let computed = 0;
  const compute = Effect.sync(() => {
    computed++;
    return new Float32Array([1, 2, 3]);
  });
  const first = await Effect.runPromise(cache.cached("scores", { a: 1 }, vectorCodec, compute));
  const second = await Effect.runPromise(cache.cached("scores", { a: 1 }, vectorCodec, compute));
  assert.equal(computed, 1);
  assert.equal(first.hit, false);
  assert.equal(second.hit, true);
  assert.deepEqual(Array.from(second.value), [1, 2, 3]);
  assert.equal(second.key, stageKey("scores", { a: 1 }));
  assert.notEqual(stageKey("scores", { a: 1 }), stageKey("scores", { a: 2 }));
  assert.equal(stageKey("scores", { a: 1, b: 2 }), stageKey("scores", { b: 2, a: 1 }));
});

Deno.test("cached() ignores an interrupted write and a damaged entry", async () => {
  const root = await Deno.makeTempDir();
  const cache = makeStageCache(root);
  const key = stageKey("scores", { run: 1 });
  // A run killed mid-write leaves a temporary folder with a partial file and no entry.json.
  const tmp = join(root, "scores", `${key}.tmp-999-deadbeef`);
  await Deno.mkdir(tmp, { recursive: true });
  await Deno.writeFile(join(tmp, "v.npy"), new Uint8Array([0x93, 0x4e]));
  let computed = 0;
  const compute = Effect.sync(() => {
    computed++;
    return new Float32Array([4, 5]);
  });
  const first = await Effect.runPromise(cache.cached("scores", { run: 1 }, vectorCodec, compute));
  assert.equal(first.hit, false, "the partial write is not trusted");
  // Damage the stored array: the checksum in entry.json no longer matches, so it is recomputed.
  const stored = join(root, "scores", key, "v.npy");
  const bytes = await Deno.readFile(stored);
  bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
  await Deno.writeFile(stored, bytes);
  const second = await Effect.runPromise(cache.cached("scores", { run: 1 }, vectorCodec, compute));
  assert.equal(second.hit, false, "a damaged entry is recomputed");
  assert.equal(computed, 2);
  assert.deepEqual(Array.from(second.value), [4, 5]);
  const third = await Effect.runPromise(cache.cached("scores", { run: 1 }, vectorCodec, compute));
  assert.equal(third.hit, true, "the rewritten entry is served");
});

Deno.test("changing λ recomputes the mix-up and what follows it, not the features", async () => {
  const root = await Deno.makeTempDir();
  const { cache, events } = recording(makeStageCache(root));
  const spec = defaultSpec(10);
  const net = makeClassifier(tf, spec, initialWeights(spec, 0));
  const test = await Effect.runPromise(loadSplit("mnist", "test"));
  const train = subset(test, Array.from({ length: 300 }, (_, i) => i), "mnist/tiny");
  const validation = subset(test, Array.from({ length: 50 }, (_, i) => 300 + i), "val");
  const fitOnce = async (lambda: number) => {
    events.length = 0;
    const { extraction, key } = await Effect.runPromise(
      extractCached(cache, tf, net, "random-init", train, { classSumsAt: ["block1"] }),
    );
    const detector = grood(
      { oodPrototype: { kind: "mixup", lambda, samples: 100, seed: 0 } },
      "GROOD",
      cache,
    );
    const extracted = { images: validation, features: extraction.features };
    const fitted = await Effect.runPromise(detector.fit({
      tf,
      modelKey: "random-init",
      trainKey: key,
      net,
      train,
      trainFeatures: extraction.features,
      trainClassSums: extraction.classSums,
      validation: { id: extracted, ood: [] },
    }));
    const scores = await Effect.runPromise(
      fitted.score({ images: train, features: extraction.features }),
    );
    fitted.dispose();
    return { events: [...events], scores };
  };
  const first = await fitOnce(0.5);
  assert.deepEqual(first.events, [
    "features:computed",
    "prototypes:computed",
    "ood-prototype:computed",
    "descriptors:computed",
  ]);
  const again = await fitOnce(0.5);
  assert.deepEqual(again.events, [
    "features:hit",
    "prototypes:hit",
    "ood-prototype:hit",
    "descriptors:hit",
  ]);
  assert.deepEqual(again.scores, first.scores, "a cache hit gives the same numbers");
  const other = await fitOnce(0.3);
  assert.deepEqual(other.events, [
    "features:hit",
    "prototypes:hit",
    "ood-prototype:computed",
    "descriptors:computed",
  ]);
  net.dispose();
});

Deno.test("a cache without a root computes every time", async () => {
  const cache = makeStageCache(undefined);
  let computed = 0;
  const compute = Effect.sync(() => {
    computed++;
    return matrix(1, 1, [computed]);
  });
  const codec: Codec<ReturnType<typeof matrix>> = {
    encode: (m) => ({ arrays: { m: { data: m.data, shape: [1, 1] } }, meta: null }),
    decode: (a) => matrix(1, 1, a.get("m")!.data as Float32Array),
  };
  await Effect.runPromise(cache.cached("x", {}, codec, compute));
  await Effect.runPromise(cache.cached("x", {}, codec, compute));
  assert.equal(computed, 2);
});
