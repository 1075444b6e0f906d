/**
 * Run declarative pipelines and ablations: decode the spec, prepare the benchmark once, build
 * the detectors from the registry, run them, and return arquero tables.
 *
 * @example Run GROOD and MSP on the MNIST benchmark (needs the setup's data)
 * ```ts ignore
 * import { Effect } from "effect";
 * import { GroodLive, Pipeline } from "../../mod.ts";
 * const spec = { benchmark: "mnist", detectors: [{ kind: "grood" }, { kind: "msp" }] } as const;
 * const result = await Effect.runPromise(
 *   Pipeline.runPipeline(spec).pipe(
 *     Effect.provide(GroodLive()),
 *     // The program's errors keep their tags after `provide`: handle one by name.
 *     Effect.catchTag("BenchmarkNotFound", (error) => Effect.die(error.message)),
 *   ),
 * );
 * console.log(result.summary.toMarkdown());
 * ```
 *
 * @example Run a spec read from a JSON file (decoded strictly: unknown keys are refused)
 * ```ts ignore
 * import { Effect } from "effect";
 * import { GroodLive, Pipeline } from "../../mod.ts";
 * const spec: unknown = JSON.parse(await Deno.readTextFile("my-pipeline.json"));
 * const result = await Effect.runPromise(
 *   Pipeline.runPipelineJson(spec, { source: "my-pipeline.json" })
 *     .pipe(Effect.provide(GroodLive())),
 * );
 * ```
 *
 * @module
 */
import * as aq from "arquero";
import { Effect, Layer, type Scope } from "effect";
import { type BackendName, type BackendUnavailable, Compute } from "../compute/compute.ts";
import { InvalidInput } from "../decode.ts";
import type { DetectorError } from "../detectors/detector.ts";
import type { EntryError } from "../detectors/entry.ts";
import {
  type DetectorEntries,
  DETECTORS,
  makeDetector,
  makeDetectorIn,
} from "../detectors/registry.ts";
import type { ScoreError } from "../stages/evaluate.ts";
import { mixupSamples } from "../stages/mixup.ts";
import { resultsTable, summaryTable, type Table } from "./tables.ts";
import { DEFAULT_CACHE_DIR, StageCache } from "../cache/cache.ts";
import type { Engine } from "./model.ts";
import {
  type DetectorRun,
  prepareBenchmark,
  type PreparedBenchmark,
  type PrepareError,
  type PrepareOptions,
  runDetectors,
  withModelDefaults,
} from "./run.ts";
import {
  ABLATION_DEFAULTS,
  type AblationParams,
  type AblationSpec,
  type AblationSpecInput,
  checkAblation,
  checkPipeline,
  decodeAblation,
  expandGrids,
  gridSize,
  GridTooLarge,
  MAX_GRID_VARIANTS,
  type PipelineSpec,
  variantColumns,
  variantSpec,
} from "./spec.ts";
import { decodePipelineWith, type PipelineSpecInputOf } from "./spec_entries.ts";

/**
 * The services a pipeline needs: tfjs (`Compute`), and the stage cache (`StageCache`, at
 * `cacheDir`, default `cache/`; `null` turns caching off, as does not providing one). Building it fails only when the backend cannot start
 * (`BackendUnavailable`), so a program provided with it keeps its own errors plus that one.
 */
export function GroodLive(
  options: { readonly backend?: BackendName | "auto"; readonly cacheDir?: string | null } = {},
): Layer.Layer<Compute, BackendUnavailable> {
  return Layer.mergeAll(
    Compute.layer(options.backend),
    StageCache.layer(
      options.cacheDir === null ? undefined : options.cacheDir ?? DEFAULT_CACHE_DIR,
    ),
  );
}

/** What a pipeline run returns. */
export interface PipelineResult {
  /** The benchmark's data and model with every set's features. */
  readonly prepared: PreparedBenchmark;
  /** One run per detector of the spec, in spec order. */
  readonly runs: ReadonlyArray<DetectorRun>;
  /** One row per (detector, OOD set). */
  readonly results: Table;
  /** One row per detector, ranked. */
  readonly summary: Table;
}

/**
 * How to name a run's spec in errors. Its log lines go through `Effect.log`, its progress to the
 * context's `Progress`.
 */
export interface RunHooks {
  /** What the spec came from (a file name), for error messages. */
  readonly source?: string;
}

/**
 * Options of `runPipeline`: its hooks, and the detector entries its spec may name (default
 * `DETECTORS`; `[...DETECTORS, mine]` adds a user's own, made with `defineDetector`).
 */
export interface PipelineOptions<Es extends DetectorEntries = typeof DETECTORS> extends RunHooks {
  /** The detector entries the spec may name (default `DETECTORS`). */
  readonly detectors?: Es;
}

/** Options of `runAblation`. */
export interface AblationHooks extends RunHooks {
  /** Run a grid of more than `MAX_GRID_VARIANTS` variants (`--allow-large-grid`). */
  readonly allowLargeGrid?: boolean;
}

/** What `prepareBenchmark` takes from a decoded spec (benchmark, model, engine). */
const prepareOptions = (
  spec: {
    readonly benchmark: string;
    readonly model?: string | undefined;
    readonly engine?: Engine | undefined;
  },
  check: NonNullable<PrepareOptions["check"]>,
): PrepareOptions => ({
  benchmark: spec.benchmark,
  ...(spec.model === undefined ? {} : { modelDir: spec.model }),
  ...(spec.engine === undefined ? {} : { engine: spec.engine }),
  check,
});

/**
 * What a pipeline run may fail with: the spec, the benchmark's data and model, or the feature
 * pass (`PrepareError`), a detector's fit or score (`DetectorError`), the evaluation of its
 * scores (`ScoreError`).
 */
export type PipelineError = PrepareError | DetectorError | ScoreError;

/**
 * What a pipeline run needs from the context (`GroodLive` provides it). It also reads the
 * `StageCache` and `Progress` references, whose defaults are off and quiet.
 */
export type PipelineServices = Compute;

/** What a pipeline over the detector entries `Es` may fail with: `PipelineError` and theirs. */
export type PipelineErrorOf<Es extends DetectorEntries> = PipelineError | EntryError<Es[number]>;

/**
 * Run a pipeline spec written in code: its shape is checked by the compiler (`kind: "gorod"`
 * does not compile) and its values here, strictly (an `InvalidInput` listing every problem),
 * then against the data and the model before any feature is extracted. The model is released
 * when the run returns (its features, scores and tables stay); `runPipelineScoped` keeps it
 * open for the caller's scope. A spec of unknown shape (parsed JSON) goes to `runPipelineJson`.
 *
 * `options.detectors` lists the detectors the spec may name: a user's entry
 * (`defineDetector`) passed as `[...DETECTORS, mine]` is named by its kind and runs like a
 * built-in one; the spec's type and the run's errors follow the list.
 */
export const runPipeline = <const Es extends DetectorEntries = typeof DETECTORS>(
  spec: PipelineSpecInputOf<Es>,
  options: PipelineOptions<Es> = {},
): Effect.Effect<PipelineResult, PipelineErrorOf<Es>, PipelineServices> =>
  Effect.scoped(runPipelineIn(spec, options));

/**
 * `runPipeline` for a spec of unknown shape (parsed JSON, a notebook value): decoded strictly,
 * so an unknown key, a misspelt kind or a bad value fails with an `InvalidInput` naming each.
 */
export const runPipelineJson = <const Es extends DetectorEntries = typeof DETECTORS>(
  input: unknown,
  options: PipelineOptions<Es> = {},
): Effect.Effect<PipelineResult, PipelineErrorOf<Es>, PipelineServices> =>
  Effect.scoped(runPipelineIn(input, options));

/** `runPipeline` with the model open in the caller's scope (e.g. to export early features). */
export const runPipelineScoped = <const Es extends DetectorEntries = typeof DETECTORS>(
  spec: PipelineSpecInputOf<Es>,
  options: PipelineOptions<Es> = {},
): Effect.Effect<PipelineResult, PipelineErrorOf<Es>, PipelineServices | Scope.Scope> =>
  runPipelineIn(spec, options);

const runPipelineIn = <Es extends DetectorEntries>(
  input: unknown,
  options: PipelineOptions<Es>,
): Effect.Effect<PipelineResult, PipelineErrorOf<Es>, PipelineServices | Scope.Scope> =>
  runAnyPipeline(input, options) as never;

// Effect.fn does not keep a generic signature: the body runs on any entries and the entries'
// error types are restored by `runPipelineIn`.
const runAnyPipeline = Effect.fn("runPipeline")(function* (
  input: unknown,
  options: PipelineOptions<DetectorEntries>,
) {
  const source = options.source ?? "pipeline spec";
  const entries: DetectorEntries = options.detectors ?? DETECTORS;
  const spec = yield* decodePipelineWith(entries, input, source);
  // A detector's name is its spec's `name`, else its kind's title (`makeDetectorIn`): two alike
  // are refused before anything is computed.
  yield* distinctNames(
    spec.detectors.map((d) => {
      const { kind, name } = d as { readonly kind: string; readonly name?: string };
      return name ?? entries.find((e) => e.kind === kind)!.title;
    }),
    source,
  );
  // GROOD's settings are checked against the data and model; a user's kinds have none to check.
  const prepared = yield* prepareBenchmark(
    prepareOptions(spec, (context) => checkPipeline(spec as PipelineSpec, context, source)),
  );
  // The model's defaults (GROOD's early boundary) go to grood's own kinds only: a user's entry
  // gets exactly the options its spec decoded to, whatever its kind is called.
  const builtIn = new Set<string>(DETECTORS.map((e) => e.kind));
  const detectors = spec.detectors.map((d) => {
    const detectorSpec = d as { readonly kind: string };
    return makeDetectorIn(
      entries,
      builtIn.has(detectorSpec.kind)
        ? withModelDefaults(detectorSpec, prepared.model)
        : detectorSpec,
    );
  });
  const runs = yield* runDetectors(prepared, detectors);
  const result: PipelineResult = {
    prepared,
    runs,
    results: resultsTable(runs),
    summary: summaryTable(runs),
  };
  return result;
});

/**
 * Two detectors of a spec with one name (`{ "kind": "knn", "k": 5 }` and `{ "kind": "knn",
 * "k": 50 }` are both "KNN") are refused before any computing: the tables name rows by the
 * detector, and could not tell them apart.
 */
const distinctNames = (names: ReadonlyArray<string>, source: string) => {
  const problems = names.flatMap((name, i) => {
    const first = names.indexOf(name);
    return first === i ? [] : [{
      path: `detectors[${i}]`,
      problem: `it is named "${name}", as detectors[${first}] is: the tables could not tell ` +
        `them apart; give one a "name"`,
    }];
  });
  return problems.length === 0 ? Effect.void : Effect.fail(new InvalidInput({ source, problems }));
};

/** What an ablation returns: one row per (variant, OOD set), with a column per parameter. */
export interface AblationResult {
  /** The decoded ablation spec. */
  readonly spec: AblationSpec;
  /** Every variant run: one value per varied parameter. */
  readonly variants: ReadonlyArray<AblationParams>;
  /** One run per variant, in `variants` order. */
  readonly runs: ReadonlyArray<DetectorRun>;
  /** Per set: parameters, detector, set, group, metrics. */
  readonly results: Table;
  /** Per variant: parameters, near/far mean AUROC and FPR@95; ranked by mean AUROC. */
  readonly summary: Table;
}

/** What an ablation may fail with: what a pipeline may, or a grid too large (`GridTooLarge`). */
export type AblationError = PipelineError | GridTooLarge;

/**
 * Expand and run an ablation spec written in code on one prepared benchmark. The spec is
 * validated as in `runPipeline`; a grid of more than `MAX_GRID_VARIANTS` variants fails with
 * `GridTooLarge` unless `allowLargeGrid` is set. A spec of unknown shape goes to
 * `runAblationJson`.
 */
export const runAblation = (
  spec: AblationSpecInput,
  hooks: AblationHooks = {},
): Effect.Effect<AblationResult, AblationError, PipelineServices> =>
  Effect.scoped(runAblationIn(spec, hooks));

/** `runAblation` for a spec of unknown shape (parsed JSON), decoded strictly. */
export const runAblationJson = (
  input: unknown,
  hooks: AblationHooks = {},
): Effect.Effect<AblationResult, AblationError, PipelineServices> =>
  Effect.scoped(runAblationIn(input, hooks));

const runAblationIn = Effect.fn("runAblation")(function* (
  input: unknown,
  hooks: AblationHooks,
) {
  const source = hooks.source ?? "ablation spec";
  const spec = yield* decodeAblation(input, source);
  const size = gridSize(spec.grids);
  if (size > MAX_GRID_VARIANTS && hooks.allowLargeGrid !== true) {
    return yield* new GridTooLarge({ source, variants: size, limit: MAX_GRID_VARIANTS });
  }
  const prepared = yield* prepareBenchmark(
    prepareOptions(spec, (context) => checkAblation(spec, context, source)),
  );
  // Variants that leave the early boundary alone take the model's early tap, and those that
  // leave the mix-up count alone mix min(10,000, training images).
  const defaults = {
    ...ABLATION_DEFAULTS,
    earlyBoundary: prepared.model.earlyTap,
    samples: mixupSamples(undefined, prepared.data.train.count),
  };
  const variants = expandGrids(spec.grids, defaults);
  const runs: Array<DetectorRun> = [];
  for (const [i, params] of variants.entries()) {
    yield* Effect.logInfo(`variant ${i + 1}/${variants.length}: ${JSON.stringify(params)}`);
    const [run] = yield* runDetectors(prepared, [makeDetector(variantSpec(params, defaults))]);
    runs.push(run!);
  }
  const withParams = (table: Table, key: "detector") =>
    table.join(
      aq.from(runs.map((run, i) => ({ [key]: run.detector, ...variantColumns(variants[i]!) }))),
      key,
    );
  const result: AblationResult = {
    spec,
    variants,
    runs,
    results: withParams(resultsTable(runs), "detector"),
    // A join does not keep the order: ranked again, as `summaryTable` is.
    summary: withParams(summaryTable(runs), "detector").orderby("benchmark", aq.desc("meanAuroc")),
  };
  return result;
});
