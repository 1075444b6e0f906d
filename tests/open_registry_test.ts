/**
 * The open registry: a user's detector, defined here as a notebook would (`defineDetector`),
 * named by its kind in a pipeline spec next to grood's own, run on the tiny benchmark
 * (`tiny_benchmark.ts`), with its own tagged error in the pipeline's error channel.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Data, Effect, Schema } from "effect";
import { InvalidInput } from "../lib/decode.ts";
import { defineDetector } from "../lib/detectors/entry.ts";
import { DETECTORS } from "../lib/detectors/registry.ts";
import type { Matrix } from "../lib/matrix.ts";
import {
  GroodLive,
  type PipelineError,
  runPipeline,
  runPipelineJson,
} from "../lib/pipeline/pipeline.ts";
import { expectTypeOf } from "./expect_type.ts";
import { TINY, tinyBenchmark } from "./tiny_benchmark.ts";

/** The user's own failure: a shift that is not a finite number. */
class BadShift extends Data.TaggedError("BadShift")<{ readonly shift: number }> {}

/** −max logit + shift, per row (the user's method, written without grood's helpers). */
function shiftedMaxLogit(logits: Matrix, shift: number): Float64Array {
  const out = new Float64Array(logits.rows);
  for (let i = 0; i < logits.rows; i++) {
    let max = -Infinity;
    for (let j = 0; j < logits.cols; j++) max = Math.max(max, logits.data[i * logits.cols + j]!);
    out[i] = -max + shift;
  }
  return out;
}

const shifted = defineDetector({
  kind: "shifted-max-logit",
  title: "MaxLogit + 1",
  family: "baseline",
  source: "this test",
  reproduce: false,
  options: Schema.Struct({ shift: Schema.optionalKey(Schema.Number) }),
  make: (options, name) => {
    const shift = options.shift ?? 1;
    return {
      name,
      description: "the negative max logit, plus a shift",
      fit: () =>
        Number.isFinite(shift)
          ? Effect.succeed({
            score: (set) => Effect.sync(() => shiftedMaxLogit(set.features.logits, shift)),
            settings: { shift },
            tuned: [],
            dispose: () => {},
          })
          : Effect.fail(new BadShift({ shift })),
    };
  },
});

const entries = [...DETECTORS, shifted] as const;
const services = GroodLive({ backend: "wasm", cacheDir: null });
const { dir, path } = await tinyBenchmark();

/** AUROC as the share of (ID, OOD) pairs the OOD image wins, ties counted half: no sorting. */
function pairAuroc(id: Float64Array, ood: Float64Array): number {
  let wins = 0;
  for (const o of ood) for (const i of id) wins += o > i ? 1 : o === i ? 0.5 : 0;
  return wins / (id.length * ood.length);
}

Deno.test("a user's detector runs in a pipeline spec next to built-ins, with the AUROC computed by hand", async () => {
  const program = runPipeline({
    benchmark: path,
    detectors: [{ kind: "msp" }, { kind: "shifted-max-logit" }, { kind: "maxlogit" }],
  }, { detectors: entries });
  // The user's error is in the run's error channel, next to grood's closed union.
  expectTypeOf<Effect.Error<typeof program>>().toEqualTypeOf<PipelineError | BadShift>();
  const result = await Effect.runPromise(program.pipe(Effect.provide(services)));
  assert.deepEqual(result.runs.map((r) => r.detector), ["MSP", "MaxLogit + 1", "MaxLogit"]);
  const [, mine, maxLogit] = result.runs;
  assert.deepEqual(mine!.settings, { shift: 1 });
  const id = shiftedMaxLogit(result.prepared.idTest.features.logits, 1);
  assert.deepEqual([...mine!.scores.get("id")!], [...id]);
  assert.deepEqual(result.prepared.oodTest.map((s) => s.images.name), ["copy", "blank"]);
  for (const set of result.prepared.oodTest) {
    const name = set.images.name;
    const ood = shiftedMaxLogit(set.features.logits, 1);
    const row = mine!.rows.find((r) => r.set === name)!;
    assert.ok(Math.abs(row.auroc - pairAuroc(id, ood)) < 1e-12, `${name}: ${row.auroc}`);
    // A shift changes no ranking: the built-in MaxLogit's AUROC is the same.
    assert.equal(row.auroc, maxLogit!.rows.find((r) => r.set === name)!.auroc);
  }
  // Not vacuous: the copy of the ID set scores exactly ½, the blank set something else.
  assert.equal(mine!.rows.find((r) => r.set === "copy")!.auroc, 0.5);
  const blank = mine!.rows.find((r) => r.set === "blank")!.auroc;
  assert.ok(Math.abs(blank - 0.5) > 0.01, `blank ${blank}`);
  assert.equal(result.prepared.idTest.images.count, TINY.TEST);
});

Deno.test("a user's detector fails with its own tagged error, which catchTag handles by name", async () => {
  const program = runPipeline({
    benchmark: path,
    detectors: [{ kind: "shifted-max-logit", shift: Number.NaN }],
  }, { detectors: entries }).pipe(
    Effect.provide(services),
    Effect.catchTag("BadShift", (error) => Effect.succeed(`bad shift ${error.shift}`)),
  );
  assert.equal(await Effect.runPromise(program), "bad shift NaN");
});

Deno.test("an unknown kind is refused by name, with or without the user's entries", async () => {
  // @ts-expect-error: "shifted-max-logt" is registered by no entry
  runPipeline({ benchmark: path, detectors: [{ kind: "shifted-max-logt" }] }, {
    detectors: entries,
  });
  // @ts-expect-error: without the user's entries their kind is unknown
  runPipeline({ benchmark: path, detectors: [{ kind: "shifted-max-logit" }] });
  const refused = (input: unknown, withEntries: boolean) =>
    Effect.runPromise(Effect.flip(
      (withEntries ? runPipelineJson(input, { detectors: entries }) : runPipelineJson(input))
        .pipe(Effect.provide(services)),
    ));
  const misspelt = await refused(
    { benchmark: path, detectors: [{ kind: "shifted-max-logt" }] },
    true,
  );
  assert.ok(misspelt instanceof InvalidInput, String(misspelt));
  assert.match(misspelt.message, /shifted-max-logt/);
  assert.match(misspelt.message, /detectors\[0\]/);
  const unregistered = await refused(
    { benchmark: path, detectors: [{ kind: "shifted-max-logit" }] },
    false,
  );
  assert.ok(unregistered instanceof InvalidInput, String(unregistered));
  assert.match(unregistered.message, /shifted-max-logit/);
  // An option the user's entry does not declare is refused by name too.
  const extra = await refused(
    { benchmark: path, detectors: [{ kind: "shifted-max-logit", shfit: 2 }] },
    true,
  );
  assert.ok(extra instanceof InvalidInput, String(extra));
  assert.match(extra.message, /shfit/);
});

Deno.test("a user's entry that reuses a built-in kind is refused by name", async () => {
  const clash = { ...shifted, kind: "msp" as const };
  const error = await Effect.runPromise(Effect.flip(
    runPipelineJson({ benchmark: path, detectors: [{ kind: "msp" }] }, {
      detectors: [...DETECTORS, clash],
    }).pipe(Effect.provide(services)),
  ));
  assert.ok(error instanceof InvalidInput, String(error));
  assert.match(error.message, /"msp" is registered by more than one entry/);
});

Deno.test("cleanup", async () => {
  await Deno.remove(dir, { recursive: true });
});
