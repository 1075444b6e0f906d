/**
 * A benchmark's whole results folder as one unit: the tables of the main model's run (with the
 * spread over training seeds in its `results.json` when several seeds ran), its plots, its
 * part of the results page (`section.html`) and its exports, a `seed<N>/` folder of tables for
 * every further training seed, and the spread over seeds (`seeds.json`, `seeds.md`).
 * Everything is written into a temporary sibling folder that replaces the previous one by
 * renames only once it is complete, so a run that fails or is interrupted anywhere (a seed's
 * run, a plot, a full disk) leaves the previous complete results, or none: never a folder
 * whose seeds come from two different runs. The seeds run while that folder is open, so each
 * seed's own files (its exports) go in as the seed ends and its images and features need not
 * be held until the last seed is done.
 *
 * @module
 */
import { Data, Effect } from "effect";
import { join } from "node:path";
import {
  type IoError,
  type OutputFolderOptions,
  type OutputFolderRefused,
  tryIo,
  writeFileAtomic,
  writeJsonAtomic,
  writeOutputFolder,
} from "../../lib/io/mod.ts";
import { type DetectorRun, summaryTable, type Table } from "../../lib/pipeline/mod.ts";
import { writeResults } from "./tables.ts";
import { writeReportPlots } from "./plot_files.ts";
import { OOD_METRICS } from "../../lib/stages/mod.ts";
import type { SeedSection } from "./page.ts";
import {
  type PairedDifference,
  pairedDifferences,
  pairedMarkdown,
  type SeedRow,
  seedSpread,
  seedSpreadMarkdown,
} from "./seeds.ts";

/** A metric of a run that is not a finite number: a bug upstream, never written as a result. */
export class NonFiniteResult extends Data.TaggedError("NonFiniteResult")<{
  readonly benchmark: string;
  readonly seed: number;
  readonly detector: string;
  readonly set: string;
  readonly metric: string;
  readonly value: number;
}> {
  /** Names the benchmark, the seed, the detector, the set, the metric and its value. */
  override get message(): string {
    return `Refusing to write the results of benchmark "${this.benchmark}" (seed ${this.seed}): ` +
      `${this.detector} on "${this.set}" has ${this.metric} = ${this.value}`;
  }
}

/** One model's runs on the benchmark, with the header its `results.json` records. */
export interface SeedRuns {
  /** Training seed of the model (the first `SeedRuns` given is written at the folder's top). */
  readonly seed: number;
  /** The detectors' runs on this model. */
  readonly runs: ReadonlyArray<DetectorRun>;
  /** The model's path and its test accuracy on the full test split. */
  readonly model: string;
  /** Its accuracy on the full ID test split, in [0, 1]. */
  readonly testAccuracy: number;
  /** What `results.json` and `results.md` record above the results. */
  readonly header: Readonly<Record<string, unknown>>;
}

/** What the folder records besides the tables, and what more it holds. */
export interface BenchmarkFolderOptions<ES = never, EX = never> {
  /** The command line recorded with the spread over seeds. */
  readonly command: string;
  /** Write the ROC and histogram plots of the main model's GROOD run (default true). */
  readonly plots?: boolean;
  /** The benchmark's part of the results page, given the spread when several seeds ran. */
  readonly section?: (seeds: SeedSection | undefined) => Effect.Effect<string, ES>;
  /** Write more into the temporary folder before it takes its place (e.g. the `.npy` exports). */
  readonly extra?: (tmp: string) => Effect.Effect<void, EX>;
  /** The files and folders the run read: the folder may never be, hold or lie inside one. */
  readonly inputs?: ReadonlyArray<string>;
}

/**
 * The output-folder rules of a benchmark's results folder; one written before the marker
 * existed is recognised by its `results.json` and `results.md`.
 */
export const benchmarkFolderRules = (
  inputs: ReadonlyArray<string> = [],
): OutputFolderOptions => ({
  kind: "benchmark results",
  inputs,
  recognise: ["results.json", "results.md"],
});

/** The tables written, and the spread over seeds when there are several. */
export interface BenchmarkFolder {
  /** One row per detector, ranked (the main model's runs). */
  readonly summary: Table;
  /** One row per (detector, OOD set) (the main model's runs). */
  readonly results: Table;
  /** The training seeds written, ascending. */
  readonly seeds: ReadonlyArray<number>;
  /** Mean and spread of each metric over the seeds, when several ran. */
  readonly spread?: Table;
  /** Paired differences of `CLAIM_PAIRS`, when several seeds ran. */
  readonly paired?: ReadonlyArray<PairedDifference>;
}

/** Fail on the first metric of `runs` that is not finite. */
const checkFinite = (benchmark: string, seed: number, runs: ReadonlyArray<DetectorRun>) =>
  Effect.forEach(
    runs,
    (run) =>
      Effect.forEach(
        run.rows,
        (row) =>
          Effect.forEach(OOD_METRICS, (metric) =>
            Number.isFinite(row[metric]) ? Effect.void : Effect.fail(
              new NonFiniteResult({
                benchmark,
                seed,
                detector: run.detector,
                set: row.set,
                metric,
                value: row[metric],
              }),
            )),
      ),
    { discard: true },
  );

/** Every seed's runs of a benchmark: `main`'s tables go at the folder's top. */
export interface BenchmarkSeeds {
  /** The main model's runs (written at the top; the page section and plots are its). */
  readonly main: SeedRuns;
  /** Every further training seed's runs (written into `seed<N>/`). */
  readonly others: ReadonlyArray<SeedRuns>;
  /** When the runs ended (ISO 8601), recorded with the spread over seeds. */
  readonly date: string;
}

/**
 * The temporary folder a benchmark's folder is filled in while its seeds run: each seed's own
 * files (e.g. its `.npy` exports) are written there as soon as the seed ends, so what they are
 * computed from (its `PreparedBenchmark`: images and features) can be let go before the next.
 */
export interface BenchmarkStaging {
  /** The temporary folder; it takes the folder's place once everything is written. */
  readonly tmp: string;
  /** Where a seed's own files go: the top for the main model, `seed<N>/` for another seed. */
  readonly folderOf: (seed: number, role: "main" | "other") => string;
  /** Fail on the first metric of a seed's runs that is not finite (before its files go in). */
  readonly checkFinite: (
    seed: number,
    runs: ReadonlyArray<DetectorRun>,
  ) => Effect.Effect<void, NonFiniteResult>;
}

/**
 * Write a benchmark's results into `dir` as one unit. `seeds` runs every seed with the
 * temporary folder at hand (each seed's own files may be written into
 * `staging.folderOf(seed, …)` as it ends) and returns their runs; then `main` goes at the top
 * (tables, plots, the page section, extras), every run of `others` into `seed<N>/`, and with
 * several seeds the spread and paired differences (`seeds.json`, `seeds.md`, `trainingSeeds` in
 * `results.json`). Every metric is checked finite before the tables are written; a failure or
 * an interruption anywhere, `seeds` included, leaves the previous complete folder, or none.
 */
export const writeBenchmarkFolder = <ES = never, EX = never, EP = never, RP = never>(
  dir: string,
  benchmark: string,
  seeds: (staging: BenchmarkStaging) => Effect.Effect<BenchmarkSeeds, EP, RP>,
  options: BenchmarkFolderOptions<ES, EX>,
): Effect.Effect<
  BenchmarkFolder,
  NonFiniteResult | OutputFolderRefused | IoError | ES | EX | EP,
  RP
> =>
  writeOutputFolder(
    dir,
    benchmarkFolderRules(options.inputs),
    (tmp) =>
      Effect.flatMap(
        seeds({
          tmp,
          folderOf: (seed, role) => role === "main" ? tmp : join(tmp, `seed${seed}`),
          checkFinite: (seed, runs) => checkFinite(benchmark, seed, runs),
        }),
        (runs) => writeTables(tmp, benchmark, runs, options),
      ),
  );

/** The tables, plots, page section, extras and spread of every seed, into `tmp`. */
const writeTables = <ES, EX>(
  tmp: string,
  benchmark: string,
  { main, others, date }: BenchmarkSeeds,
  options: BenchmarkFolderOptions<ES, EX>,
): Effect.Effect<BenchmarkFolder, NonFiniteResult | IoError | ES | EX> =>
  Effect.gen(function* () {
    const all = [main, ...others].sort((a, b) => a.seed - b.seed);
    // Checked before the tables are written: a wrong number never reaches the folder.
    for (const seed of all) yield* checkFinite(benchmark, seed.seed, seed.runs);
    const seeds = all.map((s) => s.seed);
    const perSeed: Array<SeedRow> = all.flatMap((s) =>
      (summaryTable(s.runs).objects() as Array<Omit<SeedRow, "seed">>)
        .map((d) => ({ ...d, seed: s.seed }))
    );
    const spread = others.length > 0 ? seedSpread(perSeed) : undefined;
    const seedSection: SeedSection | undefined = spread === undefined ? undefined : {
      seeds,
      spread: spread.objects() as Array<Record<string, unknown>>,
      paired: pairedDifferences(perSeed),
    };
    const models = all.map((s) => ({ seed: s.seed, model: s.model, testAccuracy: s.testAccuracy }));
    const section = options.section === undefined ? undefined : yield* options.section(seedSection);
    const { summary, results } = yield* tryIo(
      tmp,
      "write results into",
      () =>
        writeResults(
          tmp,
          main.runs,
          main.header,
          seedSection === undefined ? {} : { trainingSeeds: { ...seedSection, models, perSeed } },
        ),
    );
    if (options.plots !== false) {
      yield* tryIo(
        join(tmp, "plots"),
        "write plots into",
        () => writeReportPlots(join(tmp, "plots"), main.runs),
      );
    }
    for (const other of others) {
      const seedDir = join(tmp, `seed${other.seed}`);
      yield* tryIo(
        seedDir,
        "write results into",
        () => writeResults(seedDir, other.runs, other.header),
      );
    }
    if (section !== undefined) {
      yield* tryIo(
        tmp,
        "write the page section into",
        () => writeFileAtomic(join(tmp, "section.html"), section),
      );
    }
    if (options.extra !== undefined) yield* options.extra(tmp);
    if (spread === undefined || seedSection === undefined) return { summary, results, seeds };
    const { command } = options;
    yield* tryIo(tmp, "write the seed spread into", async () => {
      await writeJsonAtomic(join(tmp, "seeds.json"), {
        benchmark,
        seeds,
        command,
        date,
        models,
        perSeed,
        spread: seedSection.spread,
        paired: seedSection.paired,
      });
      await writeFileAtomic(
        join(tmp, "seeds.md"),
        `# ${benchmark}: spread over training seeds ${seeds.join(", ")} (metrics in %)\n\n` +
          `\`${command}\`, ${date}; models (test accuracy on the full test split): ${
            models.map((m) => `seed ${m.seed} ${(100 * m.testAccuracy).toFixed(2)}%`)
              .join(", ")
          }\n\n${seedSpreadMarkdown(spread)}\n\n## Paired differences\n\n` +
          `${pairedMarkdown(seedSection.paired)}\n`,
      );
    });
    return { summary, results, seeds, spread, paired: seedSection.paired };
  });
