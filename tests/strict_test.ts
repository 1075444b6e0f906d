/**
 * Strict everywhere (issue 24, class 7): every JSON and command-line spec is decoded by Schema
 * with unknown keys refused by name (detector specs, GROOD's options, source specs on the
 * command line, model spec files); a value that cannot be honoured (`samples` or `k` beyond
 * the training images) is refused, not capped, and `detector.json` records what ran; a
 * benchmark with one group writes no NaN means and ranks by the group it has.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Effect, Exit } from "effect";
import fc from "fast-check";
import { InvalidInput } from "../lib/decode.ts";
import { decodeDetector, DETECTOR_KINDS, optionDefaults } from "../lib/detectors/registry.ts";
import { detectorEntry } from "../lib/detectors/registry.ts";
import { fitDetectorFolder } from "../lib/fitted/mod.ts";
import { fixtureDir } from "../lib/benchmarks/fixtures.ts";
import { readModelSpec } from "../lib/models/registry.ts";
import { summaryTable } from "../lib/pipeline/tables.ts";
import { writeResults } from "../apps/results/tables.ts";
import { pairedDifferences, seedSpread } from "../apps/results/seeds.ts";
import { parseSourceArgument } from "../lib/sources/argument.ts";
import { toyRuns } from "./toy_runs.ts";
import { runScoped, scopedFailure } from "./with_compute.ts";
import { writeDigitSet } from "./digit_sets.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const foreign = join(fixtureDir("foreign"), "foreign.onnx");
const dir = await Deno.makeTempDir({ prefix: "grood-strict-" });
await writeDigitSet(dir, "train", 0, 600);
await writeDigitSet(dir, "val", 600, 200);
/** A key as the errors write it: bare when it is a plain name, else quoted. */
const keyName = (key: string) => /^[A-Za-z_$][\w$-]*$/.test(key) ? key : JSON.stringify(key);
const source = (argument: string) =>
  Effect.runPromise(parseSourceArgument(argument, dir, { labelled: true }));

Deno.test('fit --detector \'{"kind":"grood","kk":5}\' is refused naming kk, before anything runs', async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "task",
      "--config",
      join(root, "deno.json"),
      "fit",
      "--model",
      foreign,
      "--train",
      "train.npy",
      "--detector",
      '{"kind":"grood","kk":5}',
      "--out",
      "out",
    ],
    cwd: dir,
    env: { NO_COLOR: "1", INIT_CWD: dir },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.notEqual(output.code, 0);
  assert.match(stderr, /unknown key kk in the detector spec; did you mean k\?/);
  assert.doesNotMatch(stderr, /\n\s+at /);
  await assert.rejects(Deno.stat(join(dir, "out")));
  // GROOD's nested options are strict too.
  const nested = await Effect.runPromise(Effect.flip(decodeDetector({
    kind: "grood",
    oodPrototype: { kind: "mixup", lamda: 0.3 },
  })));
  assert.ok(nested instanceof InvalidInput);
  assert.match(nested.message, /unknown key lamda .* at oodPrototype; did you mean lambda\?/);
});

Deno.test("a source spec on the command line and a model spec file refuse a misspelt key by name", async () => {
  await Deno.writeTextFile(
    join(dir, "train.json"),
    JSON.stringify({ kind: "npy", images: "train.npy", lables: "train.labels.npy" }),
  );
  const exit = await Effect.runPromiseExit(parseSourceArgument("train.json", dir));
  assert.ok(Exit.isFailure(exit));
  const error = await Effect.runPromise(Effect.flip(parseSourceArgument("train.json", dir)));
  assert.equal(error._tag, "SourceArgumentInvalid");
  assert.match(
    error.message,
    /"train\.json": unknown key lables in train\.json; did you mean labels\?/,
  );

  const spec = JSON.parse(await Deno.readTextFile(foreign.replace(/\.onnx$/, ".spec.json")));
  await Deno.writeTextFile(join(dir, "m.spec.json"), JSON.stringify({ ...spec, tap: {} }));
  const model = await Effect.runPromise(Effect.flip(readModelSpec(join(dir, "m.spec.json"))));
  assert.equal(model._tag, "ModelUnreadable");
  assert.match(model.message, /unknown key tap .*; did you mean taps\?/);
});

Deno.test("a built-in set on the command line is exactly dataset:NAME:SPLIT: anything after the split is refused", async () => {
  const ok = await Effect.runPromise(parseSourceArgument("dataset:mnist:test", dir));
  assert.deepEqual(ok.spec, { kind: "dataset", name: "mnist", split: "test" });
  for (const argument of ["dataset:mnist:test:extra", "dataset:mnist:test:"]) {
    const error = await Effect.runPromise(Effect.flip(parseSourceArgument(argument, dir)));
    assert.equal(error._tag, "SourceArgumentInvalid", argument);
    assert.match(error.message, /follows the split; a built-in set is written dataset:NAME:SPLIT/);
  }
});

Deno.test("samples or k beyond the training images are refused, not capped; the default is recorded as what ran", async () => {
  const train = await source("train.npy");
  const validation = await source("val.npy");
  const options = (detector: unknown, out: string) => ({
    model: foreign,
    train,
    validation,
    detector,
    out: join(dir, out),
  });
  for (const inMemory of [false, true]) {
    const samples = await scopedFailure(fitDetectorFolder({
      ...options({
        kind: "grood",
        oodPrototype: { kind: "mixup", lambda: 0.5, samples: 5000, seed: 0 },
      }, "too-many"),
      inMemory,
    }));
    assert.ok(samples instanceof InvalidInput, String(inMemory));
    assert.match(
      samples.message,
      /samples 5000 is more than the 600 training images .* at oodPrototype\.samples/,
    );
    await assert.rejects(Deno.stat(join(dir, "too-many")));
  }
  const k = await scopedFailure(fitDetectorFolder(options({ kind: "knn", k: 601 }, "k")));
  assert.match(k.message, /k 601 is more than the 600 training images .* at k/);
  // The fit sums class features at the model's early tap only: another boundary is refused.
  const early = await scopedFailure(
    fitDetectorFolder(options({ kind: "grood", earlyBoundary: "block1" }, "early")),
  );
  assert.ok(early instanceof InvalidInput);
  assert.match(
    early.message,
    /early tap "early", not "block1" \(make it the early tap: --taps early=block1\) .* at earlyBoundary/,
  );

  // Default samples (10,000) on 600 images: every image is mixed, and the manifest says 600.
  const fitted = await runScoped(fitDetectorFolder(options({ kind: "grood" }, "default")));
  const prototype = fitted.detector.spec.oodPrototype as { samples: number };
  assert.equal(prototype.samples, 600);
  const written = JSON.parse(await Deno.readTextFile(join(dir, "default/detector.json")));
  assert.equal(written.detector.spec.oodPrototype.samples, 600);
  assert.equal(written.detector.spec.earlyBoundary, "early");
  assert.equal(written.detector.settings.oodPrototype, "mixup(λ=0.5, n=600)");
});

Deno.test("a benchmark with one group writes no NaN means and ranks by the group it has", async () => {
  let state = 7;
  const random = () => (state = (state * 16807) % 2147483647) / 2147483647;
  const runs = toyRuns(random, [["a", "near", 0.8], ["b", "near", 0.4]], 200, 200);
  const summary = summaryTable(runs).objects() as Array<Record<string, unknown>>;
  for (const row of summary) {
    assert.equal(row.farAuroc, null);
    assert.equal(row.farFpr95IdKept, null);
    assert.equal(row.meanAuroc, row.nearAuroc);
    assert.equal(typeof row.nearAuroc, "number");
  }
  // GROOD's OOD sets are shifted twice as far as MSP's: it ranks first by near AUROC.
  assert.deepEqual(summary.map((r) => r.detector), ["GROOD", "MSP"]);
  const out = join(dir, "one-group");
  await Deno.mkdir(out);
  await writeResults(out, runs, { benchmark: "toy" });
  for (const file of ["summary.csv", "results.md", "results.csv", "results.json"]) {
    assert.doesNotMatch(await Deno.readTextFile(join(out, file)), /NaN/, file);
  }
  const perSeed = [0, 1].flatMap((seed) =>
    (summaryTable(runs).objects() as Array<Record<string, unknown>>).map((d) => ({ ...d, seed }))
  );
  // deno-lint-ignore no-explicit-any
  const spread = seedSpread(perSeed as any).objects() as Array<Record<string, unknown>>;
  for (const row of spread) assert.equal(row.meanAuroc, row.nearAurocMean);
  // deno-lint-ignore no-explicit-any
  const paired = pairedDifferences(perSeed as any, [{ first: "GROOD", second: "MSP" }]);
  assert.deepEqual(paired.map((p) => p.metric), ["nearAuroc"]);
  assert.ok(paired.every((p) => Number.isFinite(p.mean)));
});

Deno.test("property: a random detector spec decodes exactly or fails with InvalidInput naming the unknown key", () => {
  const kinds = DETECTOR_KINDS;
  const value = fc.oneof(fc.integer(), fc.double(), fc.string(), fc.boolean(), fc.constant(null));
  // Keys drawn from the kind's own options (random values: wrong types, out of range) and from
  // random strings (unknown keys).
  const spec = fc.constantFrom(...kinds).chain((kind) => {
    const options = Object.keys(detectorEntry(kind).options.fields);
    const key = options.length === 0
      ? fc.string({ minLength: 1, maxLength: 8 })
      : fc.oneof(fc.constantFrom(...options), fc.string({ minLength: 1, maxLength: 8 }));
    return fc.tuple(fc.constant(kind), fc.dictionary(key, value, { maxKeys: 3 }));
  });
  fc.assert(
    fc.property(
      spec,
      ([kind, extra]) => {
        const declared = new Set([
          "kind",
          "name",
          ...Object.keys(detectorEntry(kind).options.fields),
        ]);
        const input = { ...extra, kind };
        const exit = Effect.runSyncExit(decodeDetector(input));
        const unknown = Object.keys(extra).filter((k) => !declared.has(k));
        if (Exit.isSuccess(exit)) {
          // Only declared keys, with values the options accept; the defaults fill the rest.
          assert.equal(unknown.length, 0);
          assert.equal(exit.value.kind, kind);
          for (const [key, v] of Object.entries(optionDefaults(detectorEntry(kind)))) {
            if (!(key in extra)) assert.deepEqual((exit.value as Record<string, unknown>)[key], v);
          }
          return;
        }
        const reason = exit.cause.reasons[0]!;
        assert.equal(reason._tag, "Fail", "a defect, not a typed failure");
        const error = (reason as { error: unknown }).error;
        assert.ok(error instanceof InvalidInput);
        for (const key of unknown) {
          assert.ok(
            error.problems.some((p) => p.problem.startsWith(`unknown key ${keyName(key)}`)),
            `${key} not named in ${error.message}`,
          );
        }
      },
    ),
    { seed: 24, numRuns: 300 },
  );
});

Deno.test("property: a random source spec on the command line decodes exactly or fails naming the unknown key", async () => {
  const path = join(dir, "random.json");
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(
        { kind: "npy", images: "train.npy" },
        { kind: "idx", images: "x-idx3-ubyte" },
        { kind: "folder", path: "pngs", labelled: true },
        { kind: "dataset", name: "mnist", split: "test" },
      ),
      fc.dictionary(
        fc.string({ minLength: 1, maxLength: 8 }),
        fc.oneof(fc.integer(), fc.string(), fc.boolean()),
        { maxKeys: 2 },
      ),
      async (base, extra) => {
        await Deno.writeTextFile(path, JSON.stringify({ ...base, ...extra }));
        const exit = await Effect.runPromiseExit(parseSourceArgument("random.json", dir));
        const added = Object.keys(extra).filter((k) => !(k in base));
        if (Exit.isSuccess(exit)) {
          assert.deepEqual(added.filter((k) => !["labels", "classes", "labelled"].includes(k)), []);
          return;
        }
        const reason = exit.cause.reasons[0]!;
        assert.equal(reason._tag, "Fail", "a defect, not a typed failure");
        const error = (reason as { error: { _tag: string; message: string } }).error;
        assert.equal(error._tag, "SourceArgumentInvalid");
        const unknownKeys = added.filter((k) => !["labels", "classes", "labelled"].includes(k));
        for (const key of unknownKeys) {
          assert.ok(error.message.includes(`unknown key ${keyName(key)}`), error.message);
        }
      },
    ),
    { seed: 24, numRuns: 150 },
  );
});

Deno.test("cleanup", async () => {
  await Deno.remove(dir, { recursive: true });
});
