/**
 * Type tests of the public API, compiled by `deno check` (`deno task test:unit` runs it on
 * `tests/`): what must compile is written plainly, what must not is under `// @ts-expect-error`
 * (which itself fails to compile when the line below it compiles). The few runtime tests check
 * that the JSON entry refuses at run time what the typed entry refuses at compile time.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Data, Effect, type Layer, Schema } from "effect";
import type { BackendUnavailable, Compute } from "../lib/compute/compute.ts";
import { type Expect, InvalidInput, type SameFields } from "../lib/decode.ts";
import { type Detector, type DetectorError, NeedsClassifier } from "../lib/detectors/detector.ts";
import { InvalidGrid } from "../lib/detectors/tune.ts";
import {
  GroodLive,
  type PipelineError,
  runAblation,
  runAblationJson,
  runPipeline,
  runPipelineJson,
} from "../lib/pipeline/pipeline.ts";
import type { PipelineSpecInput } from "../lib/pipeline/spec.ts";
import { expectTypeOf } from "./expect_type.ts";

/** Built, never run: the types of a program, before and after the services are provided. */
const program = runPipeline({
  benchmark: "mnist",
  detectors: [{ kind: "grood" }, { kind: "msp" }],
});
const provided = program.pipe(Effect.provide(GroodLive()));

Deno.test("types: GroodLive's layer fails only with BackendUnavailable", () => {
  expectTypeOf(GroodLive()).toEqualTypeOf<
    Layer.Layer<Compute, BackendUnavailable>
  >();
  // The old type, `Layer<…, unknown>`, is not what it is.
  expectTypeOf(GroodLive()).notToExtend<Layer.Layer<Compute, never>>();
});

Deno.test("types: after provide(GroodLive()) a program keeps its own errors, and needs nothing", () => {
  expectTypeOf<Effect.Error<typeof program>>().toEqualTypeOf<PipelineError>();
  // The stage cache and progress are references with defaults: not requirements.
  expectTypeOf<Effect.Services<typeof program>>().toEqualTypeOf<Compute>();
  expectTypeOf<Effect.Error<typeof provided>>().toEqualTypeOf<
    PipelineError | BackendUnavailable
  >();
  expectTypeOf<Effect.Services<typeof provided>>().toEqualTypeOf<never>();
});

Deno.test("types: catchTag compiles after provide(GroodLive()) and removes the tag it handles", () => {
  const handled = provided.pipe(
    Effect.catchTag("InvalidInput", (error) => Effect.succeed(error.problems.length)),
  );
  expectTypeOf<Effect.Error<typeof handled>>().toEqualTypeOf<
    Exclude<PipelineError | BackendUnavailable, InvalidInput>
  >();
  const backend = provided.pipe(
    Effect.catchTag("BackendUnavailable", (error) => Effect.succeed(error.backend)),
  );
  expectTypeOf<Effect.Error<typeof backend>>().toEqualTypeOf<PipelineError>();
  // A tag the program cannot fail with is refused.
  // @ts-expect-error: "InvalidInptu" is no error of the program
  provided.pipe(Effect.catchTag("InvalidInptu", () => Effect.succeed(0)));
});

Deno.test("types: the typed entry refuses a misspelt kind or option at compile time", () => {
  const ok: PipelineSpecInput = {
    benchmark: "mnist",
    detectors: [{ kind: "knn", k: 5 }, { kind: "grood", name: "GROOD λ 0.3" }],
  };
  expectTypeOf(ok).toExtend<PipelineSpecInput>();
  // @ts-expect-error: "gorod" is not a registered kind
  runPipeline({ benchmark: "mnist", detectors: [{ kind: "gorod" }] });
  // @ts-expect-error: `kk` is no option of kNN
  runPipeline({ benchmark: "mnist", detectors: [{ kind: "knn", kk: 5 }] });
  // @ts-expect-error: k is a number
  runPipeline({ benchmark: "mnist", detectors: [{ kind: "knn", k: "5" }] });
  // @ts-expect-error: no benchmark
  runPipeline({ detectors: [{ kind: "msp" }] });
  // The JSON entry takes anything and decodes it at run time.
  runPipelineJson({ benchmark: "mnist", detectors: [{ kind: "gorod" }] });
  // The same for ablations: a misspelt grid parameter does not compile.
  runAblation({ name: "lambda", benchmark: "mnist", grids: [{ lambda: [0.3, 0.7] }] });
  // @ts-expect-error: "lamda" is no ablation parameter
  runAblation({ name: "lambda", benchmark: "mnist", grids: [{ lamda: [0.3, 0.7] }] });
  runAblationJson({ name: "lambda", benchmark: "mnist", grids: [{ lamda: [0.3, 0.7] }] });
});

Deno.test("runPipelineJson() and runPipeline() refuse a misspelt kind at run time, naming it", async () => {
  const run = (effect: ReturnType<typeof runPipelineJson>) =>
    Effect.runPromise(
      Effect.flip(effect.pipe(Effect.provide(GroodLive({ backend: "cpu", cacheDir: null })))),
    );
  const spec = { benchmark: "mnist", detectors: [{ kind: "gorod" }] };
  for (const error of [await run(runPipelineJson(spec)), await run(runPipeline(spec as never))]) {
    assert.ok(error instanceof InvalidInput, String(error));
    assert.match(error.message, /gorod/);
    assert.match(error.message, /detectors\[0\]/);
  }
});

/** A reader's grouping of every detector error: compiles only while the switch is exhaustive. */
function family(error: DetectorError): "input" | "model" | "tuning" | "statistics" | "index" {
  switch (error._tag) {
    case "NonFiniteDetectorScore":
    case "NonFiniteFeatures":
    case "FeatureSizeMismatch":
    case "InvalidSetting":
    case "InconsistentFitInputs":
    case "InvalidParameter":
    case "NonFiniteInput":
    case "ShapeMismatch":
    case "TrainingStreamInvalid":
      return "input";
    case "NeedsClassifier":
    case "MissingHead":
    case "ModelUnreadable":
    case "MissingTap":
    case "InputShapeMismatch":
    case "TapDoesNotCut":
    case "ModelRunFailed":
    case "OnnxExportMismatch":
    case "OnnxGradientMismatch":
    case "NonFiniteOutput":
      return "model";
    case "InvalidGrid":
    case "NoValidationOod":
    case "NonFiniteScore":
    case "EmptyScores":
      return "tuning";
    case "EmptyClass":
    case "BadLabels":
    case "MissingFeatures":
    case "DegenerateResidual":
      return "statistics";
    case "NonFiniteVector":
    case "IndexTooLarge":
    case "HnswUnavailable":
    case "IndexTooSmall":
    case "InvalidNeighbourCount":
    case "DimensionMismatch":
    case "SearchWorkerError":
      return "index";
    default: {
      // Reached only if a tag above is missing: `error` is then not `never`.
      const unreachable: never = error;
      return unreachable;
    }
  }
}

/** One case short: must not compile. */
function partial(error: DetectorError): string {
  switch (error._tag) {
    case "NeedsClassifier":
      return "needs grood's network";
    default: {
      // @ts-expect-error: every other tag of the union still reaches here
      const unreachable: never = error;
      return unreachable;
    }
  }
}

class NotADetectorError extends Data.TaggedError("NotADetectorError")<{ readonly why: string }> {}

Deno.test("types: DetectorError is a closed union: exhaustive switches, foreign errors refused", () => {
  // @ts-expect-error: a tag outside the union is not comparable to DetectorError's tags
  const foreign = (error: DetectorError) => error._tag === "NotADetectorError";
  expectTypeOf<NotADetectorError>().notToExtend<DetectorError>();
  const bad: Detector = {
    name: "bad",
    description: "fails with an error outside the union",
    // @ts-expect-error: a detector failing with a foreign error is not a Detector
    fit: () => Effect.fail(new NotADetectorError({ why: "test" })),
  };
  assert.equal(typeof foreign, "function");
  assert.equal(bad.name, "bad");
  assert.equal(typeof partial, "function");
});

Deno.test("family() groups a detector error by its tag", () => {
  const needs = new NeedsClassifier({
    detector: "ODIN",
    need: "its input gradient",
    modelKind: "onnx",
  });
  assert.equal(family(needs), "model");
  assert.equal(family(new InvalidGrid({ detector: "ReAct", parameter: "p", grid: [] })), "tuning");
});

Deno.test("a documented options interface that drifts from its Schema does not compile", () => {
  const Spec = Schema.Struct({
    temperature: Schema.Number,
    grid: Schema.optionalKey(Schema.Array(Schema.Number)),
  });
  interface Same {
    readonly temperature: number;
    readonly grid?: ReadonlyArray<number>;
  }
  interface MissingField {
    readonly temperature: number;
  }
  interface ExtraField {
    readonly temperature: number;
    readonly grid?: ReadonlyArray<number>;
    readonly seed?: number;
  }
  type _Same = Expect<SameFields<Same, typeof Spec.Type>>;
  // @ts-expect-error: `grid` is missing from the interface
  type _Missing = Expect<SameFields<MissingField, typeof Spec.Type>>;
  // @ts-expect-error: `seed` is not in the Schema
  type _Extra = Expect<SameFields<ExtraField, typeof Spec.Type>>;
  assert.ok(true);
});
