/**
 * ODIN's fit and score on the product path: `runPipeline` on the mnist benchmark (seed 0's
 * fixture model, the default engine) with only ODIN and MSP, as `deno task reproduce` runs them.
 * Features come from the stage cache (`--cache`, filled by the first run), so the seconds are
 * ODIN's own: its input gradients and perturbed forward passes while tuning ε, then scoring.
 *
 *   deno run -A bench/odin_engine.ts --label after [--cache /tmp/odin-cache] [--out FILE]
 *     [--epsilon 0.0014]
 *
 * On this benchmark's seed-0 model the tuned ε is 0 (its score is then the temperature-scaled
 * MSP, no network pass); `--epsilon` fixes ε instead, so the scoring passes are measured too.
 *
 * Merged into `--out` (default `bench/odin_engine.json`) under `runs.<label>`, with the commit
 * and `uptime` before and after. Run it from a checkout of each commit to compare them.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join, resolve } from "node:path";
import { Effect } from "effect";
import { groodLogger } from "../mod.ts";
import { GroodLive, runPipeline } from "../lib/pipeline/mod.ts";

const { values } = parseArgs({
  options: {
    label: { type: "string" },
    cache: { type: "string" },
    out: { type: "string" },
    epsilon: { type: "string" },
  },
});
const here = resolve(new URL("..", import.meta.url).pathname);
const label = values.label ?? "run";
const out = values.out ?? join(here, "bench/odin_engine.json");
const text = async (command: string, args: Array<string>) =>
  new TextDecoder().decode((await new Deno.Command(command, { args }).output()).stdout).trim();

// Read before the run: the code that runs is the one loaded now.
const commit = await text("git", ["-C", here, "rev-parse", "--short", "HEAD"]);
const loadBefore = await text("uptime", []);
const epsilon = values.epsilon === undefined ? {} : { epsilon: Number(values.epsilon) };
const started = performance.now();
const result = await Effect.runPromise(
  runPipeline(
    { benchmark: "mnist", detectors: [{ kind: "odin", ...epsilon }, { kind: "msp" }] },
  ).pipe(
    Effect.provide(GroodLive(values.cache === undefined ? {} : { cacheDir: values.cache })),
    Effect.provide(groodLogger()),
  ),
);
const odin = result.runs.find((r) => r.detector === "ODIN")!;
const run = {
  commit,
  command: `deno run -A bench/odin_engine.ts --label ${label}` +
    (values.cache === undefined ? "" : ` --cache ${values.cache}`) +
    (values.epsilon === undefined ? "" : ` --epsilon ${values.epsilon}`),
  loadBefore,
  loadAfter: await text("uptime", []),
  odinFitSeconds: odin.fitSeconds,
  odinScoreSeconds: odin.scoreSeconds,
  odinSeconds: odin.fitSeconds + odin.scoreSeconds,
  totalSeconds: (performance.now() - started) / 1000,
  settings: odin.settings,
  auroc: Object.fromEntries(odin.rows.map((r) => [r.set, r.auroc])),
  date: new Date().toISOString(),
};
const all = JSON.parse(await Deno.readTextFile(out).catch(() => "{}"));
all.runs = { ...all.runs, [label]: run };
await Deno.writeTextFile(out, JSON.stringify(all, null, 2) + "\n");
console.log(JSON.stringify(run, null, 2));
