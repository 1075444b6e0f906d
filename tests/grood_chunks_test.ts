/**
 * The reduce of GROOD's chunked fit refuses a part that breaks its contract (a part is read from
 * a runner's file): kept rows outside the chunk's range, a mix-up rank outside the choice or
 * given twice. Each is a typed `TrainingStreamInvalid`, never a RangeError or a zero image mixed.
 * And the class sums the extraction adds as batches pass have the bits of the reduce's chunk
 * sums, whatever the batches.
 */
import assert from "node:assert/strict";
import { Effect } from "effect";
import type { FeatureChunk } from "../lib/detectors/grood_chunks.ts";
import { featureReducer } from "../lib/detectors/grood_reduce.ts";
import { mulberry32 } from "../lib/random.ts";
import { addInto, addRowsByClass, chunkedSums } from "../lib/stages/class_sums.ts";
import type { FeatureModel } from "../lib/models/model.ts";

// Only the shapes are read by the reduce.
const model = {
  name: "toy",
  taps: { early: "early", penultimate: "penultimate", logits: "logits" },
  shapes: { input: [1, 1, 1], early: [1], penultimate: [2], logits: [2] },
} as unknown as FeatureModel;
const train = { description: "toy-train", count: 4, perImage: 1 };

const chunk = (over: Partial<FeatureChunk> = {}): FeatureChunk => ({
  start: 0,
  size: 4,
  earlySums: new Float64Array(2),
  penultimateSums: new Float64Array(4),
  counts: Float64Array.of(2, 2),
  kept: new Float32Array(2 * 2),
  keptImages: Int32Array.of(0, 3),
  mixRanks: Uint32Array.of(0, 1),
  mixPixels: Uint8Array.of(7, 9),
  mixTargets: Uint8Array.of(1, 0),
  ...over,
});

const reduce = (part: FeatureChunk) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const reducer = featureReducer(model, train, 2);
      yield* reducer.add(part);
      return yield* reducer.finish();
    }).pipe(Effect.flip, Effect.map((e) => e), Effect.orElseSucceed(() => undefined)),
  );

Deno.test("a well-formed part reduces", async () => {
  const reducer = featureReducer(model, train, 2);
  await Effect.runPromise(reducer.add(chunk()));
  const reduced = await Effect.runPromise(reducer.finish());
  assert.ok(reduced !== undefined);
});

Deno.test("a part keeping an image outside its range is refused by name", async () => {
  const error = await reduce(chunk({ keptImages: Int32Array.of(0, 4) }));
  assert.equal(error?._tag, "TrainingStreamInvalid");
  assert.match(String(error?.message), /keeps image 4/);
});

Deno.test("a part keeping images out of order is refused", async () => {
  const error = await reduce(chunk({ keptImages: Int32Array.of(3, 0) }));
  assert.equal(error?._tag, "TrainingStreamInvalid");
});

Deno.test("a mix-up rank beyond the choice is refused, not a RangeError", async () => {
  const error = await reduce(chunk({ mixRanks: Uint32Array.of(0, 5) }));
  assert.equal(error?._tag, "TrainingStreamInvalid");
  assert.match(String(error?.message), /rank 5 of 2/);
});

Deno.test("a mix-up rank given twice is refused (it would leave a zero image in the mix)", async () => {
  const error = await reduce(chunk({ mixRanks: Uint32Array.of(1, 1) }));
  assert.equal(error?._tag, "TrainingStreamInvalid");
  assert.match(String(error?.message), /a second time/);
});

Deno.test("class sums fed in any batches have the bits of chunk sums reduced in chunk order", () => {
  // Values of very different sizes, so float64 addition order shows in the last bits.
  const count = 1037;
  const width = 3;
  const classes = 4;
  const random = mulberry32(11);
  const labels = Uint8Array.from({ length: count }, () => Math.floor(random() * classes));
  const rows = Float32Array.from(
    { length: count * width },
    () => (random() - 0.5) * 10 ** Math.floor(random() * 12 - 4),
  );
  for (const chunk of [1, 100, 256, 1037, 5000]) {
    // The reduce's way: each chunk summed on its own, the chunks added in order.
    const sums = new Float64Array(classes * width);
    const counts = new Float64Array(classes);
    for (let start = 0; start < count; start += chunk) {
      const end = Math.min(count, start + chunk);
      const partSums = new Float64Array(classes * width);
      const partCounts = new Float64Array(classes);
      addRowsByClass(
        partSums,
        partCounts,
        labels.subarray(start, end),
        rows.subarray(start * width, end * width),
        width,
      );
      addInto(sums, partSums);
      addInto(counts, partCounts);
    }
    // The extraction's way: batches of any size (here 97, then 3), the chunks kept by count.
    for (const batch of [97, 3]) {
      const fed = chunkedSums(classes, width, chunk);
      for (let start = 0; start < count; start += batch) {
        const end = Math.min(count, start + batch);
        fed.add(labels.subarray(start, end), rows.subarray(start * width, end * width));
      }
      const total = fed.finish();
      assert.deepEqual(total.sums, sums, `chunk ${chunk}, batch ${batch}`);
      assert.deepEqual(total.counts, counts, `chunk ${chunk}, batch ${batch}`);
    }
  }
  // The data shows the order (so the equalities above are not vacuous): one chunk and chunks of
  // 100 differ in some last bit of these values' sums.
  const one = chunkedSums(classes, width, count);
  const hundreds = chunkedSums(classes, width, 100);
  one.add(labels, rows);
  hundreds.add(labels, rows);
  assert.notDeepEqual(one.finish().sums, hundreds.finish().sums);
});
