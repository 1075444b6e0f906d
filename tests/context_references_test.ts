/**
 * `Progress` and `StageCache` are context references: a stage runs without either (quiet,
 * uncached), and uses the ones provided (progress events received, cache hits on a second run).
 * The command line's logs are JSON lines on a piped stderr.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Effect } from "effect";
import { makeStageCache, StageCache } from "../lib/cache/cache.ts";
import { loadSplit } from "../lib/data/datasets.ts";
import { type ImageSet, subset } from "../lib/data/images.ts";
import type { FitInputs } from "../lib/detectors/detector.ts";
import { grood } from "../lib/detectors/grood.ts";
import { groodLogger } from "../lib/logger.ts";
import { defaultSpec, initialWeights, makeClassifier } from "../lib/model/classifier.ts";
import { extractCached } from "../lib/pipeline/extract.ts";
import { tfjsExtractor } from "../lib/pipeline/model.ts";
import { currentProgress, Progress, quietProgress } from "../lib/progress.ts";
import { smoothedNoiseImages } from "../lib/stages/mixup.ts";
import { groodModel, runPromise, tf } from "./with_compute.ts";

const spec = defaultSpec(10);
const net = makeClassifier(tf, spec, initialWeights(spec, 3));
const groodFeatures = await groodModel(net);
const test = await runPromise(loadSplit("mnist", "test"));
const train = subset(test, Array.from({ length: 300 }, (_, i) => i), "train-300");
const queries = subset(test, Array.from({ length: 40 }, (_, i) => 1000 + i), "queries-40");
const noise = smoothedNoiseImages(40, 5);

/** GROOD with its temperature tuned on a validation-OOD set (a stage that reports progress). */
const detector = grood({ oodPrototype: { kind: "mean" }, temperatureGrid: [1, 10] });

/** Extract the sets (reporting progress) and fit GROOD on them; the scores of the queries. */
const fitAndScore = Effect.gen(function* () {
  const model = yield* tfjsExtractor(net, "random-init-3");
  const cache = yield* StageCache;
  const extract = (set: ImageSet, classSumsAt?: ReadonlyArray<string>) =>
    extractCached(model, set, classSumsAt === undefined ? {} : { classSumsAt });
  const trained = yield* extract(train, ["block1"]);
  const id = { images: queries, features: (yield* extract(queries)).extraction.features };
  const ood = { images: noise, features: (yield* extract(noise)).extraction.features };
  const inputs: FitInputs = {
    model: groodFeatures,
    train: {
      images: train,
      features: trained.extraction.features,
      classSums: trained.extraction.classSums,
      key: trained.key,
    },
    validation: { id, ood: [ood] },
  };
  const fitted = yield* detector.fit(inputs);
  const scores = yield* fitted.score(id);
  fitted.dispose();
  return { scores, cacheRoot: cache.root };
});

Deno.test("a stage runs with neither Progress nor StageCache provided: quiet and uncached", async () => {
  const report = await runPromise(currentProgress);
  assert.equal(report, quietProgress, "the default Progress is the quiet one");
  const { scores, cacheRoot } = await runPromise(fitAndScore);
  assert.equal(cacheRoot, undefined, "the default StageCache is off (no folder)");
  assert.equal(scores.length, queries.count);
  assert.ok(scores.every(Number.isFinite));
});

Deno.test("a provided Progress receives the stages' reports, a provided StageCache serves the second run", async () => {
  const root = await Deno.makeTempDir();
  try {
    const cache = makeStageCache(root);
    const events: Array<{ stage: string; done: number; total: number }> = [];
    const provided = fitAndScore.pipe(
      Effect.provideService(StageCache, cache),
      Effect.provideService(Progress, {
        report: (stage, done, total) => events.push({ stage, done, total }),
      }),
    );
    const first = await runPromise(provided);
    const afterFirst = cache.stats();
    assert.equal(first.cacheRoot, root);
    // (GROOD's fit may read back within a run what its tuning stored: hits are not zero.)
    assert.ok(afterFirst.computed >= 4, "features of 3 sets and GROOD's stages were computed");
    const stages = new Set(events.map((e) => e.stage));
    for (
      const name of ["features of train-300", "features of queries-40", "GROOD: tuning temperature"]
    ) {
      assert.ok(stages.has(name), `a report of "${name}" (got ${[...stages].join(", ")})`);
    }
    const tuning = events.filter((e) => e.stage === "GROOD: tuning temperature");
    assert.deepEqual(tuning.map((e) => [e.done, e.total]), [[1, 2], [2, 2]]);

    const second = await runPromise(provided);
    const afterSecond = cache.stats();
    assert.equal(
      afterSecond.computed,
      afterFirst.computed,
      "the second run computed nothing again",
    );
    assert.ok(
      afterSecond.hits - afterFirst.hits >= afterFirst.computed,
      "every stage computed by the first run was served from the cache",
    );
    assert.deepEqual(Array.from(second.scores), Array.from(first.scores));

    // The same detector with nothing provided gives the same scores, without caching.
    const bare = await runPromise(fitAndScore);
    assert.deepEqual(Array.from(bare.scores), Array.from(first.scores));
    assert.equal(cache.stats().hits, afterSecond.hits, "the provided cache was not read");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("groodLogger: JSON lines when asked (stderr piped), Effect's pretty format otherwise, both on stderr", () => {
  const stderr: Array<string> = [];
  const stdout: Array<string> = [];
  const { error, log } = console;
  console.error = (...parts: Array<unknown>) => stderr.push(parts.map(String).join(" "));
  console.log = (...parts: Array<unknown>) => stdout.push(parts.map(String).join(" "));
  try {
    Effect.runSync(Effect.logInfo("as json").pipe(Effect.provide(groodLogger(true))));
    Effect.runSync(Effect.logWarning("as pretty").pipe(Effect.provide(groodLogger(false))));
  } finally {
    console.error = error;
    console.log = log;
  }
  assert.deepEqual(stdout, [], "nothing on stdout");
  assert.equal(stderr.length, 2);
  const entry = JSON.parse(stderr[0]!) as Record<string, unknown>;
  assert.equal(entry.message, "as json");
  assert.equal(entry.level, "INFO");
  assert.throws(() => JSON.parse(stderr[1]!), "the pretty line is not JSON");
  assert.match(stderr[1]!, /WARN .*as pretty/);
});

const ROOT = fileURLToPath(new URL("..", import.meta.url));

Deno.test("a command's log lines are JSON objects on a piped stderr", async () => {
  // The OOD sets are built (set-up): `data` only checks them, logging a line per set.
  const output = await new Deno.Command(join(ROOT, "grood"), {
    args: ["data", "--only", "letters"],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  const lines = stderr.split("\n").filter((line) => line.trim() !== "");
  assert.ok(lines.length > 0, "a log line was written");
  const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  const letters = entries.find((entry) => JSON.stringify(entry.message).includes("letters"));
  assert.ok(letters !== undefined, `a line about the letters set: ${stderr}`);
  assert.equal(letters.level, "DEBUG", "a set that is up to date is a detail");
  assert.ok(!Number.isNaN(Date.parse(String(letters.timestamp))), "a JSON log entry has its time");
  // stdout holds the command's output only (its summary), no log line.
  const stdout = new TextDecoder().decode(output.stdout);
  assert.ok(!stdout.includes("letters"), stdout);
});
