import assert from "node:assert/strict";
import { benchmarks, splitIdTest } from "../lib/data/benchmarks.ts";
import { oodSets } from "../lib/data/ood/mod.ts";
import type { LabelledSet } from "../lib/data/images.ts";

Deno.test("benchmarks fit only on validation-OOD sets, never on a test set", () => {
  for (const benchmark of Object.values(benchmarks)) {
    const testNames = new Set(benchmark.oodTest.map((s) => s.name));
    for (const name of benchmark.oodValidation) {
      assert.equal(oodSets[name].role, "validation", `${benchmark.name}: ${name}`);
      assert.ok(!testNames.has(name));
    }
    assert.ok(benchmark.oodTest.some((s) => s.group === "near"));
    assert.ok(benchmark.oodTest.some((s) => s.group === "far"));
    // The ID dataset is never its own OOD set.
    assert.ok(
      !benchmark.oodTest.some((s) =>
        s.source.kind === "dataset" && s.source.dataset === benchmark.id
      ),
    );
  }
});

Deno.test("splitIdTest() divides the ID test split into disjoint validation and test parts", () => {
  const count = 50;
  const test: LabelledSet = {
    name: "toy/test",
    count,
    pixels: Uint8Array.from({ length: count * 784 }, (_, i) => Math.floor(i / 784)),
    labels: Uint8Array.from({ length: count }, (_, i) => i % 10),
    classNames: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
  };
  const { idValidation, idTest } = splitIdTest(test, { count: 10, seed: 0 });
  assert.equal(idValidation.count, 10);
  assert.equal(idTest.count, 40);
  const ids = (set: LabelledSet) =>
    Array.from({ length: set.count }, (_, i) => set.pixels[i * 784]!);
  const all = [...ids(idValidation), ...ids(idTest)].sort((a, b) => a - b);
  assert.deepEqual(all, Array.from({ length: count }, (_, i) => i));
  assert.deepEqual(ids(splitIdTest(test, { count: 10, seed: 0 }).idValidation), ids(idValidation));
  assert.equal(idTest.labels[0], ids(idTest)[0]! % 10, "labels follow their images");
});
