import assert from "node:assert/strict";
import { Effect, Schema } from "effect";
import {
  ABLATION_DEFAULTS,
  decodeAblation,
  decodePipeline,
  expandGrids,
  readSpecFile,
  SpecFileError,
  variantSpec,
} from "../lib/pipeline/spec.ts";

Deno.test("decodePipeline() accepts a pipeline of GROOD and baselines", async () => {
  const spec = await Effect.runPromise(decodePipeline({
    benchmark: "mnist",
    detectors: [
      { kind: "grood", oodPrototype: { kind: "mixup", lambda: 0.7, samples: "all", seed: 1 } },
      { kind: "msp" },
      { kind: "grood-no-mixup", name: "no mix" },
    ],
  }));
  assert.equal(spec.detectors.length, 3);
});

Deno.test("decodePipeline() rejects a bad λ, naming the field", async () => {
  const error = await Effect.runPromise(Effect.flip(decodePipeline({
    benchmark: "mnist",
    detectors: [{
      kind: "grood",
      oodPrototype: { kind: "mixup", lambda: 1.5, samples: 10, seed: 0 },
    }],
  })));
  assert.ok(Schema.isSchemaError(error));
  assert.match(error.message, /lambda/);
});

Deno.test("decodePipeline() rejects an unknown detector, an empty benchmark and no detectors", async () => {
  for (
    const input of [
      { benchmark: "mnist", detectors: [{ kind: "oracle" }] },
      { benchmark: "", detectors: [{ kind: "msp" }] },
      { benchmark: "mnist", detectors: [] },
    ]
  ) {
    const error = await Effect.runPromise(Effect.flip(decodePipeline(input)));
    assert.ok(Schema.isSchemaError(error), JSON.stringify(input));
  }
});

Deno.test("expandGrids() takes the product within a grid and the union across grids", () => {
  const variants = expandGrids([
    { lambda: [0.1, 0.9], earlyBoundary: ["block1", "block2"] },
    { k: [1, 5] },
    { lambda: [0.5] }, // the defaults again: already present, dropped
  ]);
  assert.equal(variants.length, 4 + 2);
  assert.deepEqual(variants[0], { ...ABLATION_DEFAULTS, lambda: 0.1, earlyBoundary: "block1" });
  assert.deepEqual(variants[5], { ...ABLATION_DEFAULTS, k: 5 });
});

Deno.test("variantSpec() names a variant by what differs from the defaults", () => {
  assert.equal(
    variantSpec({ ...ABLATION_DEFAULTS, lambda: 0.9, k: 5 }).name,
    "GROOD[lambda=0.9,k=5]",
  );
  assert.equal(variantSpec(ABLATION_DEFAULTS).name, "GROOD[]");
  assert.deepEqual(variantSpec({ ...ABLATION_DEFAULTS, oodPrototype: "mean" }).oodPrototype, {
    kind: "mean",
  });
});

Deno.test("the shipped ablation spec decodes", async () => {
  const spec = await Effect.runPromise(
    readSpecFile(new URL("../ablations/paper.json", import.meta.url).pathname, decodeAblation),
  );
  assert.equal(spec.benchmark, "mnist");
  assert.ok(expandGrids(spec.grids).length >= 20);
});

Deno.test("readSpecFile() names a missing file", async () => {
  const error = await Effect.runPromise(
    Effect.flip(readSpecFile("/nonexistent.json", decodeAblation)),
  );
  assert.ok(error instanceof SpecFileError);
  assert.match(error.message, /"\/nonexistent.json"/);
});
