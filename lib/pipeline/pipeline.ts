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
 * // A spec of unknown shape (parsed JSON) is decoded strictly: unknown keys are refused.
 * const json: unknown = JSON.parse(await Deno.readTextFile("my-pipeline.json"));
 * Pipeline.runPipelineJson(json, { source: "my-pipeline.json" });
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
 * The services a pipeline needs: tfjs (`Compute`) and the stage cache at `cacheDir` (default
 * `cache/`; `null` turns caching off). It fails only when the backend cannot start.
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

/** How to name a run's spec in errors. */
export interface RunHooks {
  /** What the spec came from (a file name), for error messages. */
  readonly source?: string;
}

/** Options of `runPipeline`: its hooks, and the detector entries its spec may name. */
export interface PipelineOptions<Es extends DetectorEntries = typeof DETECTORS> extends RunHooks {
  /** The detector entries the spec may name (default `DETECTORS`; `[...DETECTORS, mine]`). */
  readonly detectors?: Es;
}

/** Options of `runAblation`. */
export interface AblationHooks extends RunHooks {
  /** Run a grid of more than `MAX_GRID_VARIANTS` variants (`--allow-large-grid`). */
  readonly allowLargeGrid?: boolean;
}

/** What `prepareBenchmark` takes from a decoded spec (benchmark, model, engine). */
const prepareOptions = (
  spec: Pick<AblationSpec, "benchmark" | "model" | "engine">,
  check: NonNullable<PrepareOptions["check"]>,
): PrepareOptions => ({
  benchmark: spec.benchmark,
  ...(spec.model === undefined ? {} : { modelDir: spec.model }),
  ...(spec.engine === undefined ? {} : { engine: spec.engine }),
  check,
});

/** What a pipeline run may fail with: preparing, a detector's fit or score, the evaluation. */
export type PipelineError = PrepareError | DetectorError | ScoreError;

/** What a pipeline needs (`GroodLive`); it reads `StageCache` and `Progress` too (default off). */
export type PipelineServices = Compute;

/** What a pipeline over the detector entries `Es` may fail with: `PipelineError` and theirs. */
export type PipelineErrorOf<Es extends DetectorEntries> = PipelineError | EntryError<Es[number]>;

/**
 * Run a pipeline spec written in code: its shape is checked by the compiler, its values here
 * (an `InvalidInput` listing every problem), then against the data and the model before any
 * feature is extracted. The model is released when the run returns. `options.detectors` may add
 * a user's entries (`[...DETECTORS, mine]`); the spec's type and the errors follow the list.
 */
export const runPipeline = <const Es extends DetectorEntries = typeof DETECTORS>(
  spec: PipelineSpecInputOf<Es>,
  options: PipelineOptions<Es> = {},
): Effect.Effect<PipelineResult, PipelineErrorOf<Es>, PipelineServices> =>
  Effect.scoped(runPipelineIn(spec, options));

/** `runPipeline` for a spec of unknown shape (parsed JSON), decoded strictly. */
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
  yield* distinctNames(
    spec.detectors.map((d) => {
      const { kind, name } = d as { readonly kind: string; readonly name?: string };
      return name ?? entries.find((e) => e.kind === kind)!.title;
    }),
    source,
  );
  const prepared = yield* prepareBenchmark(
    prepareOptions(spec, (context) => checkPipeline(spec as PipelineSpec, context, source)),
  );
  // The model's defaults go to grood's own kinds only, never to a user's entry.
  const builtIn = new Set<string>(DETECTORS.map((e) => e.kind));
  const detectors = spec.detectors.map((entry) => {
    const d = entry as { readonly kind: string };
    return makeDetectorIn(entries, builtIn.has(d.kind) ? withModelDefaults(d, prepared.model) : d);
  });
  const runs = yield* runDetectors(prepared, detectors);
  return {
    prepared,
    runs,
    results: resultsTable(runs),
    summary: summaryTable(runs),
  } satisfies PipelineResult;
});

/** Two detectors with one name (two `knn` are both "KNN") are refused: tables name rows by it. */
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
 * Expand and run an ablation spec on one prepared benchmark, validated as in `runPipeline`; more
 * than `MAX_GRID_VARIANTS` variants fail with `GridTooLarge` unless `allowLargeGrid` is set.
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
  const params = aq.from(
    runs.map((run, i) => ({ detector: run.detector, ...variantColumns(variants[i]!) })),
  );
  return {
    spec,
    variants,
    runs,
    results: resultsTable(runs).join(params, "detector"),
    // A join does not keep the order: ranked again, as `summaryTable` is.
    summary: summaryTable(runs).join(params, "detector").orderby("benchmark", aq.desc("meanAuroc")),
  } satisfies AblationResult;
});
