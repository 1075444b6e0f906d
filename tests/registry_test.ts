import assert from "node:assert/strict";
import { InvalidInput } from "../lib/decode.ts";
import { Effect } from "effect";
import { GROOD_DEFAULTS } from "../lib/detectors/grood.ts";
import { ODIN_EPSILON_GRID } from "../lib/detectors/odin.ts";
import {
  BASELINES,
  buildDetector,
  decodeDetector,
  DETECTOR_KINDS,
  DETECTORS,
  detectorTableMarkdown,
  REPRODUCE_DETECTORS,
} from "../lib/detectors/registry.ts";
import { decodePipeline } from "../lib/pipeline/spec.ts";

const decode = (input: unknown) => Effect.runSync(decodeDetector(input));

Deno.test("registry: kinds are unique and every one builds with its defaults", () => {
  assert.equal(new Set(DETECTOR_KINDS).size, DETECTOR_KINDS.length);
  for (const entry of DETECTORS) {
    const detector = Effect.runSync(buildDetector({ kind: entry.kind }));
    assert.equal(detector.name, entry.title, entry.kind);
  }
  assert.deepEqual(REPRODUCE_DETECTORS.map((s) => s.kind), DETECTOR_KINDS);
  assert.ok(BASELINES.includes("msp") && !BASELINES.includes("grood"));
});

Deno.test("registry: defaults decode to the detectors' documented defaults", () => {
  const groodSpec = decode({ kind: "grood" });
  assert.deepEqual(
    { ...groodSpec },
    {
      kind: "grood",
      oodPrototype: GROOD_DEFAULTS.oodPrototype,
      descriptor: GROOD_DEFAULTS.descriptor,
      index: GROOD_DEFAULTS.index,
      k: GROOD_DEFAULTS.k,
      temperature: GROOD_DEFAULTS.temperature,
      seed: GROOD_DEFAULTS.seed,
    },
  );
  assert.deepEqual({ ...decode({ kind: "knn" }) }, { kind: "knn", k: 50 });
  assert.deepEqual({ ...decode({ kind: "ash" }) }, { kind: "ash", percentile: 90 });
  assert.deepEqual({ ...decode({ kind: "ash-p" }) }, { kind: "ash-p", percentile: 90 });
  assert.deepEqual({ ...decode({ kind: "ash-b" }) }, {
    kind: "ash-b",
    percentileGrid: [65, 70, 75, 80, 85, 90, 95],
  });
  assert.deepEqual({ ...decode({ kind: "react" }) }, {
    kind: "react",
    percentile: 90,
    thresholdFrom: "train",
  });
  assert.deepEqual({ ...decode({ kind: "react-val" }) }, {
    kind: "react-val",
    percentile: 90,
    thresholdFrom: "validation",
  });
  // NNGuide's k stays absent: min(100, bank size), resolved at fit.
  assert.deepEqual({ ...decode({ kind: "nnguide" }) }, {
    kind: "nnguide",
    alpha: 0.01,
    seed: 0,
  });
  assert.deepEqual({ ...decode({ kind: "odin" }) }, {
    kind: "odin",
    temperature: 1000,
    epsilonGrid: ODIN_EPSILON_GRID,
    clipToInputRange: false,
    batchSize: 128,
  });
});

Deno.test("registry: every baseline option can be set from a spec", () => {
  const build = (spec: unknown) => Effect.runSync(buildDetector(spec));
  assert.match(build({ kind: "knn", k: 7 }).description, /k = 7/);
  assert.match(build({ kind: "knn", kGrid: [1, 5] }).description, /tuned on validation/);
  assert.match(build({ kind: "ash", percentile: 65 }).description, /ASH-S@65/);
  assert.equal(build({ kind: "ash", percentile: 65 }).name, "ASH-S@65");
  assert.equal(build({ kind: "ash-b", percentile: 80 }).name, "ASH-B@80");
  assert.match(build({ kind: "ash-b" }).description, /ASH-B: .*s1\/k.*tuned on validation/);
  assert.match(build({ kind: "react", percentile: 80 }).description, /80th percentile/);
  assert.equal(build({ kind: "react", thresholdFrom: "validation" }).name, "ReAct (ID val)");
  assert.match(build({ kind: "nnguide", seed: 3 }).description, /random 1% .*seed 3/);
  assert.match(
    build({ kind: "odin", temperature: 10, epsilon: 0.001 }).description,
    /T = 10 .*= 0\.001/,
  );
  assert.match(build({ kind: "energy", temperature: 2 }).description, /T = 2/);
  assert.equal(build({ kind: "msp", name: "my MSP" }).name, "my MSP");
});

Deno.test("registry: a bad option or kind fails decoding, naming it", async () => {
  for (
    const [input, field] of [
      [{ kind: "knn", k: 0 }, "k"],
      [{ kind: "ash", percentile: 120 }, "percentile"],
      [{ kind: "odin", epsilonGrid: [] }, "epsilonGrid"],
      [{ kind: "grood", oodPrototype: { kind: "validation", firstImages: -1 } }, "firstImages"],
      [{ kind: "react", thresholdFrom: "test" }, "thresholdFrom"],
      [{ kind: "ash-b", percentileGrid: [] }, "percentileGrid"],
      [{ kind: "ash-p", percentileGrid: [65] }, "percentileGrid"],
      [{ kind: "nnguide", seed: -1 }, "seed"],
    ] as const
  ) {
    const error = await Effect.runPromise(Effect.flip(decodeDetector(input)));
    assert.ok(error instanceof InvalidInput);
    assert.match(error.message, new RegExp(field), JSON.stringify(input));
  }
  const error = await Effect.runPromise(
    Effect.flip(decodePipeline({ benchmark: "mnist", detectors: [{ kind: "oracle" }] })),
  );
  // A pipeline spec is decoded strictly: every problem, with the nearest valid kind.
  assert.ok(error instanceof InvalidInput);
  assert.match(error.message, /unknown kind "oracle"/);
});

/** A Markdown table's cells, trimmed (deno fmt pads them). */
const cells = (table: string) =>
  table.trim().split("\n").filter((line) => !/^\|[\s|:-]+\|$/.test(line)).map((line) =>
    line.split(/(?<!\\)\|/).slice(1, -1).map((cell) => cell.trim())
  );

Deno.test("docs/architecture.md holds the registry's detector table", async () => {
  const doc = await Deno.readTextFile(new URL("../docs/architecture.md", import.meta.url));
  const start = doc.indexOf("<!-- detectors:start -->");
  const end = doc.indexOf("<!-- detectors:end -->");
  assert.ok(start >= 0 && end > start, "markers missing in docs/architecture.md");
  const generated = detectorTableMarkdown();
  assert.deepEqual(
    cells(doc.slice(start + "<!-- detectors:start -->".length, end)),
    cells(generated),
    `docs/architecture.md's detector table is stale; replace it with:\n${generated}`,
  );
});
