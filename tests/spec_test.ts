import assert from "node:assert/strict";
import { Effect } from "effect";
import { InvalidInput } from "../lib/decode.ts";
import { GROOD_SPEC_DEFAULTS } from "../lib/detectors/grood_options.ts";
import { MIXUP_DEFAULTS } from "../lib/stages/mixup.ts";
import {
  ABLATION_DEFAULTS,
  type AblationGrid,
  checkAblation,
  checkPipeline,
  decodeAblation,
  decodePipeline,
  expandGrids,
  gridSize,
  GridTooLarge,
  MAX_GRID_VARIANTS,
  readSpecFile,
  SpecFileError,
  variantColumns,
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
  assert.ok(error instanceof InvalidInput);
  assert.match(error.message, /detectors\[0\]\.oodPrototype\.lambda/);
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
    assert.ok(error instanceof InvalidInput, JSON.stringify(input));
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
  // An index spec: named by its kind and options; equal to the default's, not named at all.
  const ivf = variantSpec({ ...ABLATION_DEFAULTS, index: { kind: "ivf", nprobe: 4 } });
  assert.equal(ivf.name, "GROOD[index=ivf(nprobe=4)]");
  assert.deepEqual(ivf.index, { kind: "ivf", nprobe: 4 });
  assert.equal(
    variantSpec({ ...ABLATION_DEFAULTS, index: { kind: "hnsw" } }).name,
    "GROOD[index=hnsw]",
  );
  assert.equal(variantSpec({ ...ABLATION_DEFAULTS, index: { kind: "exact" } }).name, "GROOD[]");
  assert.deepEqual(variantSpec({ ...ABLATION_DEFAULTS, oodPrototype: "mean" }).oodPrototype, {
    kind: "mean",
  });
});

Deno.test("the ablation's defaults are GROOD's: the variant at the defaults decodes to the spec's defaults", async () => {
  // GROOD's defaults are written once, in its Schema; `{ "kind": "grood" }` decodes to them.
  const decoded = await Effect.runPromise(
    decodePipeline({ benchmark: "mnist", detectors: [{ kind: "grood" }] }),
  );
  const { kind: _kind, ...fromSchema } = decoded.detectors[0] as Record<string, unknown>;
  assert.deepEqual(fromSchema, GROOD_SPEC_DEFAULTS);
  // The variant at the ablation's defaults is that detector, with the two values a run adapts
  // to its model and data written out (the early tap, the mix-up count).
  const { kind: _variantKind, name: _name, ...variant } = variantSpec(ABLATION_DEFAULTS);
  assert.deepEqual(variant, {
    ...GROOD_SPEC_DEFAULTS,
    earlyBoundary: "block1",
    oodPrototype: { ...GROOD_SPEC_DEFAULTS.oodPrototype, samples: MIXUP_DEFAULTS.samples },
  });
});

Deno.test("variantColumns() gives the results tables a number or a string per parameter", () => {
  const columns = variantColumns({ ...ABLATION_DEFAULTS, index: { kind: "ivf", nprobe: 4 } });
  assert.equal(columns.index, "ivf(nprobe=4)");
  assert.equal(columns.k, ABLATION_DEFAULTS.k);
  for (const value of Object.values(columns)) {
    assert.ok(typeof value === "string" || typeof value === "number");
  }
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

// issue 10, "What went wrong" 3: `{"lamda": [0.3]}` ran the default GROOD and exited 0.
Deno.test("readSpecFile() names an unknown key, the file, where, and the nearest valid key", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/x.json`;
  await Deno.writeTextFile(
    path,
    JSON.stringify({ name: "x", benchmark: "mnist", grids: [{ lamda: [0.3] }] }),
  );
  const error = await Effect.runPromise(Effect.flip(readSpecFile(path, decodeAblation)));
  assert.ok(error instanceof InvalidInput);
  assert.equal(
    error.message,
    `unknown key lamda in ${path} at grids[0]; did you mean lambda?`,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("every problem of a spec is reported at once", async () => {
  const error = await Effect.runPromise(Effect.flip(decodeAblation({
    name: "x",
    benchmark: 7,
    extra: true,
    grids: [{ lamda: [0.3], k: [0] }, { index: [{ kind: "hnws" }] }],
  }, "bad.json")));
  assert.ok(error instanceof InvalidInput);
  assert.deepEqual(error.problems.map((p) => p.path).sort(), [
    "",
    "benchmark",
    "grids[0]",
    "grids[0].k[0]",
    "grids[1].index[0].kind",
  ]);
  assert.match(error.message, /unknown kind "hnws" in bad\.json at .*; did you mean hnsw\?/);
  assert.match(error.message, /^bad\.json has 5 problems:/);
});

Deno.test("an unknown detector kind suggests the nearest", async () => {
  const error = await Effect.runPromise(Effect.flip(decodePipeline({
    benchmark: "mnist",
    detectors: [{ kind: "grod" }, { kind: "grood", oodPrototype: { kind: "mixpu" } }],
  })));
  assert.ok(error instanceof InvalidInput);
  assert.match(error.message, /unknown kind "grod".*did you mean grood\?/);
  assert.match(error.message, /unknown kind "mixpu".*detectors\[1\]\.oodPrototype\.kind.*mixup/);
});

const context = {
  trainCount: 60_000,
  earlyBoundaries: ["stem", "block1", "block2", "block3"],
  earlyTap: "block1",
};

// issue 10, 3: `samples: 100000000` was capped at 60,000 while the table said 100000000.
Deno.test("checkAblation() rejects more samples than images and a layer the model lacks", async () => {
  const spec = await Effect.runPromise(decodeAblation({
    name: "x",
    benchmark: "mnist",
    grids: [{ samples: [100, 100_000_000] }, { earlyBoundary: ["block1", "block9"] }],
  }));
  const error = await Effect.runPromise(Effect.flip(checkAblation(spec, context, "x.json")));
  assert.deepEqual(error.problems.map((p) => p.path), [
    "grids[0].samples[1]",
    "grids[1].earlyBoundary[1]",
  ]);
  assert.match(error.message, /samples 100000000 is more than the 60000 training images/);
  assert.match(error.message, /no layer block9 \(it has stem, block1, block2, block3\)/);
  await Effect.runPromise(checkAblation(
    await Effect.runPromise(decodeAblation({ name: "y", benchmark: "mnist", grids: [{ k: [5] }] })),
    context,
  ));
});

Deno.test("checkPipeline() checks GROOD detectors' samples, layer and k", async () => {
  const spec = await Effect.runPromise(decodePipeline({
    benchmark: "mnist",
    detectors: [
      { kind: "msp" },
      {
        kind: "grood",
        earlyBoundary: "block4",
        k: 70_000,
        oodPrototype: { kind: "mixup", lambda: 0.5, samples: 60_001, seed: 0 },
      },
    ],
  }));
  const error = await Effect.runPromise(Effect.flip(checkPipeline(spec, context)));
  assert.deepEqual(error.problems.map((p) => p.path).sort(), [
    "detectors[1].earlyBoundary",
    "detectors[1].k",
    "detectors[1].oodPrototype.samples",
  ]);
});

// issue 10, 3: a 270,000-variant grid was accepted without a word.
Deno.test("gridSize() counts variants without expanding; the limit is 1,000", () => {
  const grid = {
    lambda: Array.from({ length: 99 }, (_, i) => (i + 1) / 100),
    k: Array.from({ length: 30 }, (_, i) => i + 1),
    seed: Array.from({ length: 10 }, (_, i) => i),
    temperature: [1, 2, 3, 4, 5, 6, 7, 8, 9],
  };
  assert.equal(gridSize([grid as unknown as AblationGrid, { k: [1, 2] }]), 99 * 30 * 10 * 9 + 2);
  assert.equal(MAX_GRID_VARIANTS, 1000);
  assert.match(
    new GridTooLarge({ source: "g.json", variants: 267_300, limit: 1000 }).message,
    /g\.json has 267,300 variants.*--allow-large-grid/,
  );
});
