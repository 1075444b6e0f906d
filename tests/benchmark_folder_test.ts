/**
 * A benchmark's results folder, every seed's included, is one unit: a run that fails or is
 * interrupted anywhere leaves the previous complete folder (seeds and spread of one run), or
 * none.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Effect, Exit } from "effect";
import { writeFile } from "../lib/io/files.ts";
import { mulberry32 } from "../lib/random.ts";
import { type SeedRuns, writeBenchmarkFolder } from "../apps/results/benchmark_folder.ts";
import { toyRuns } from "./toy_runs.ts";

/** What the folder records with the spread. */
const RECORD = { command: "deno task reproduce --benchmark toy" };
const DATE = "2026-12-01T00:00:00Z";

/** Seeds already run: the folder's `seeds` step returns them as they are. */
const ran = (main: SeedRuns, others: ReadonlyArray<SeedRuns>) => () =>
  Effect.succeed({ main, others, date: DATE });

const SETS = [["letters", "near", 0.6], ["textures", "far", 1.5]] as const;

/** GROOD and MSP runs of one seed on two OOD sets (random scores, OOD shifted up). */
function seedRuns(seed: number, run: string): SeedRuns {
  const random = mulberry32(100 + seed);
  const runs = toyRuns(random, SETS, 50, 30);
  return {
    seed,
    runs,
    model: `toy-seed${seed}`,
    testAccuracy: 0.9,
    header: { benchmark: "toy", seed, run },
  };
}

/** Every file under `dir` (relative paths, sorted) with its text for the small ones. */
function snapshot(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const visit = (path: string, prefix: string) => {
    for (const entry of Deno.readDirSync(path)) {
      const full = join(path, entry.name);
      if (entry.isDirectory) visit(full, `${prefix}${entry.name}/`);
      else {
        files.set(
          `${prefix}${entry.name}`,
          entry.name.endsWith(".png")
            ? `png ${Deno.statSync(full).size}`
            : Deno.readTextFileSync(full),
        );
      }
    }
  };
  visit(dir, "");
  return new Map([...files].sort(([a], [b]) => (a < b ? -1 : 1)));
}

const withNaN = (seeds: SeedRuns): SeedRuns => ({
  ...seeds,
  runs: seeds.runs.map((run, i) =>
    i === 1 ? { ...run, rows: run.rows.map((r) => ({ ...r, auroc: Number.NaN })) } : run
  ),
});

async function previousFolder(): Promise<
  { parent: string; dir: string; before: Map<string, string> }
> {
  const parent = await Deno.makeTempDir({ prefix: "grood-folder-" });
  const dir = join(parent, "toy");
  await Effect.runPromise(
    writeBenchmarkFolder(dir, "toy", ran(seedRuns(0, "first"), [seedRuns(1, "first")]), RECORD),
  );
  return { parent, dir, before: snapshot(dir) };
}

Deno.test("the benchmark folder holds the main tables, plots, every seed and the spread", async () => {
  const parent = await Deno.makeTempDir({ prefix: "grood-folder-" });
  const dir = join(parent, "toy");
  const main = seedRuns(0, "one");
  const others = [seedRuns(1, "one"), seedRuns(2, "one")];
  let sectionSeeds: ReadonlyArray<number> | undefined;
  const folder = await Effect.runPromise(writeBenchmarkFolder(dir, "toy", ran(main, others), {
    ...RECORD,
    section: (seeds) => {
      sectionSeeds = seeds?.seeds;
      return Effect.succeed("<section>toy</section>");
    },
  }));
  const files = [...snapshot(dir).keys()];
  for (
    const name of [
      "results.json",
      "summary.csv",
      "plots/roc-grood.png",
      "plots/hist-grood.png",
      "seed1/results.json",
      "seed2/results.md",
      "seeds.json",
      "seeds.md",
      "section.html",
    ]
  ) assert.ok(files.includes(name), `${name} in ${files.join(", ")}`);
  const seeds = JSON.parse(await Deno.readTextFile(join(dir, "seeds.json")));
  assert.deepEqual(seeds.seeds, [0, 1, 2]);
  assert.deepEqual(sectionSeeds, [0, 1, 2], "the page section is given the spread");
  assert.equal(await Deno.readTextFile(join(dir, "section.html")), "<section>toy</section>");
  assert.equal(seeds.command, RECORD.command);
  assert.equal(seeds.date, DATE, "the date the seeds' step returned");
  assert.deepEqual(seeds.models.map((m: { model: string }) => m.model), [
    "toy-seed0",
    "toy-seed1",
    "toy-seed2",
  ]);
  assert.match(await Deno.readTextFile(join(dir, "seeds.md")), /seed 1 90\.00%/);
  // The main results.json carries the spread; a seed's own does not.
  const top = JSON.parse(await Deno.readTextFile(join(dir, "results.json")));
  assert.deepEqual(top.trainingSeeds.seeds, [0, 1, 2]);
  assert.equal(top.trainingSeeds.perSeed.length, 3 * 2);
  const seed1 = JSON.parse(await Deno.readTextFile(join(dir, "seed1", "results.json")));
  assert.equal(seed1.trainingSeeds, undefined);
  assert.equal(seed1.seed, 1);
  assert.deepEqual(folder.seeds, [0, 1, 2]);
  // The spread's mean near AUROC of GROOD is the mean over the three seeds' rows, by hand.
  const near = (s: SeedRuns) => s.runs[0]!.rows.find((r) => r.group === "near")!.auroc;
  const grood = seeds.spread.find((r: { detector: string }) => r.detector === "GROOD");
  const expected = (near(main) + near(others[0]!) + near(others[1]!)) / 3;
  assert.ok(Math.abs(grood.nearAurocMean - expected) < 1e-12, `${grood.nearAurocMean}`);
  assert.deepEqual([...Deno.readDirSync(parent)].map((e) => e.name), ["toy"], "no temp left");
});

Deno.test("one seed: tables, plots and section, no spread", async () => {
  const parent = await Deno.makeTempDir({ prefix: "grood-folder-" });
  const dir = join(parent, "toy");
  const folder = await Effect.runPromise(
    writeBenchmarkFolder(dir, "toy", ran(seedRuns(0, "one"), []), {
      ...RECORD,
      section: (seeds) => Effect.succeed(`<section>${seeds === undefined}</section>`),
    }),
  );
  const files = [...snapshot(dir).keys()];
  assert.ok(
    !files.includes("seeds.json") && !files.some((f) => f.startsWith("seed")),
    files.join(),
  );
  assert.equal(await Deno.readTextFile(join(dir, "section.html")), "<section>true</section>");
  assert.equal(folder.spread, undefined);
  assert.equal(
    JSON.parse(await Deno.readTextFile(join(dir, "results.json"))).trainingSeeds,
    undefined,
  );
});

Deno.test("a wrong number in any seed's runs is refused before the folder is touched", async () => {
  const { parent, dir, before } = await previousFolder();
  const error = await Effect.runPromise(Effect.flip(
    writeBenchmarkFolder(
      dir,
      "toy",
      ran(seedRuns(0, "second"), [seedRuns(1, "second"), withNaN(seedRuns(2, "second"))]),
      RECORD,
    ),
  ));
  assert.equal(error._tag, "NonFiniteResult");
  assert.match(error.message, /seed 2.*MSP on "letters" has auroc = NaN/);
  assert.deepEqual(snapshot(dir), before);
  assert.deepEqual([...Deno.readDirSync(parent)].map((e) => e.name), ["toy"]);
});

Deno.test("a write failing after the seeds leaves the previous complete folder", async () => {
  const { parent, dir, before } = await previousFolder();
  // The exports fail after every seed's tables are written (as a full disk would).
  const error = await Effect.runPromise(Effect.flip(
    writeBenchmarkFolder(dir, "toy", ran(seedRuns(0, "second"), [seedRuns(1, "second")]), {
      ...RECORD,
      extra: (tmp) =>
        Effect.gen(function* () {
          assert.ok(snapshot(tmp).has("seed1/results.json"), "seeds written before the failure");
          yield* writeFile(join(tmp, "exports"), "a file where a folder goes");
          yield* writeFile(join(tmp, "exports", "manifest.json"), "{}");
        }),
    }),
  ));
  assert.equal(error._tag, "IoError");
  assert.deepEqual(snapshot(dir), before, "the first run's folder, seeds included, unchanged");
  assert.match(snapshot(dir).get("seed1/results.json")!, /"run": "first"/);
  assert.deepEqual([...Deno.readDirSync(parent)].map((e) => e.name), ["toy"], "no temp left");
});

Deno.test("an interrupted write leaves the previous complete folder, or none", async () => {
  const { parent, dir, before } = await previousFolder();
  const exit = await Effect.runPromiseExit(
    writeBenchmarkFolder(dir, "toy", ran(seedRuns(0, "second"), [seedRuns(1, "second")]), {
      ...RECORD,
      extra: () => Effect.interrupt,
    }),
  );
  assert.ok(Exit.isFailure(exit));
  assert.deepEqual(snapshot(dir), before);
  assert.deepEqual([...Deno.readDirSync(parent)].map((e) => e.name), ["toy"]);
  // With no previous folder, an interrupted run leaves nothing at all.
  const empty = await Deno.makeTempDir({ prefix: "grood-folder-" });
  const none = await Effect.runPromiseExit(
    writeBenchmarkFolder(join(empty, "toy"), "toy", ran(seedRuns(0, "x"), [seedRuns(1, "x")]), {
      ...RECORD,
      extra: () => Effect.interrupt,
    }),
  );
  assert.ok(Exit.isFailure(none));
  assert.deepEqual([...Deno.readDirSync(empty)], []);
});

Deno.test("each seed's own files, written as the seed ends, land in the folder with its tables", async () => {
  const parent = await Deno.makeTempDir({ prefix: "grood-folder-" });
  const dir = join(parent, "toy");
  const folder = await Effect.runPromise(
    writeBenchmarkFolder(dir, "toy", (staging) =>
      Effect.gen(function* () {
        const main = seedRuns(0, "staged");
        yield* staging.checkFinite(0, main.runs);
        yield* writeFile(join(staging.folderOf(0, "main"), "exports", "a.txt"), "seed 0");
        // The previous seed's file is already in the temporary folder, not yet in `dir`.
        assert.ok(snapshot(staging.tmp).has("exports/a.txt"));
        assert.ok(!existsSync(dir), "nothing in place before every seed is done");
        const other = seedRuns(1, "staged");
        yield* writeFile(join(staging.folderOf(1, "other"), "exports", "b.txt"), "seed 1");
        return { main, others: [other], date: DATE };
      }), RECORD),
  );
  const files = snapshot(dir);
  assert.equal(files.get("exports/a.txt"), "seed 0");
  assert.equal(files.get("seed1/exports/b.txt"), "seed 1");
  assert.match(files.get("seed1/results.json")!, /"run": "staged"/);
  assert.deepEqual(folder.seeds, [0, 1]);
  assert.deepEqual([...Deno.readDirSync(parent)].map((e) => e.name), ["toy"], "no temp left");
});

Deno.test("a seed failing after another's files went in leaves the previous folder", async () => {
  const { parent, dir, before } = await previousFolder();
  const error = await Effect.runPromise(
    Effect.flip(writeBenchmarkFolder(dir, "toy", (staging) =>
      Effect.gen(function* () {
        yield* writeFile(join(staging.folderOf(0, "main"), "exports", "a.txt"), "seed 0");
        // Seed 1's runs hold a NaN: refused before its files go in.
        const other = withNaN(seedRuns(1, "second"));
        yield* staging.checkFinite(1, other.runs);
        return { main: seedRuns(0, "second"), others: [other], date: DATE };
      }), RECORD)),
  );
  assert.equal(error._tag, "NonFiniteResult");
  assert.match(error.message, /seed 1.*MSP on "letters" has auroc = NaN/);
  assert.deepEqual(snapshot(dir), before);
  assert.deepEqual([...Deno.readDirSync(parent)].map((e) => e.name), ["toy"], "no temp left");
});
