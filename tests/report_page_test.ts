/// <reference lib="dom" />
/**
 * The results page in a real headless browser (Debian chromium through playwright-core): it
 * loads without console errors or any network request, its tables hold the numbers of the
 * results, and its plots and galleries render.
 */
import assert from "node:assert/strict";
import { Effect } from "effect";
import { IMAGE_SIZE, type ImageSet } from "../lib/data/images.ts";
import type { DetectorRun } from "../lib/pipeline/run.ts";
import { mulberry32 } from "../lib/random.ts";
import {
  benchmarkPage,
  benchmarkSection,
  extremeIndices,
  pageSections,
  reportHtml,
} from "../apps/results/page.ts";
import {
  pairedDifferences,
  SEED_METRICS,
  type SeedRow,
  seedSpread,
} from "../apps/results/seeds.ts";
import { summaryTable } from "../lib/pipeline/tables.ts";
import { tieReportMarkdown } from "../apps/results/tables.ts";
import { withTab } from "./browser.ts";
import { toyRuns } from "./toy_runs.ts";

const random = mulberry32(11);
const SETS = [["letters", "near", 0.8], ["textures", "far", 2]] as const;

/** Random 28×28 images whose brightness follows the set. */
function images(name: string, count: number, brightness: number): ImageSet {
  const pixels = Uint8Array.from(
    { length: count * IMAGE_SIZE },
    () => Math.min(255, Math.floor(random() * 128 * brightness)),
  );
  return { name, count, pixels };
}

/** A small results fixture: two detectors, an ID set of 60 and two OOD sets of 40. */
function fixtureRuns(): { runs: DetectorRun[]; byName: Map<string, ImageSet> } {
  const byName = new Map<string, ImageSet>([["id", images("id", 60, 0.5)]]);
  for (const [set] of SETS) byName.set(set, images(set, 40, 1));
  const runs = toyRuns(random, SETS, 60, 40);
  return { runs, byName };
}

Deno.test("extremeIndices() takes the largest or smallest scores, ties by index", () => {
  assert.deepEqual(extremeIndices([0.5, 0.9, 0.1, 0.9], 2, true), [1, 3]);
  assert.deepEqual(extremeIndices([0.5, 0.9, 0.1, 0.9], 2, false), [2, 0]);
});

Deno.test("pageSections() gathers every benchmark's section: this run's first, then by name", async () => {
  const out = await Deno.makeTempDir();
  for (const [name, html] of [["zeta", "<z>"], ["alpha", "<a>"], ["mnist", "<m>"]]) {
    await Deno.mkdir(`${out}/${name}`);
    await Deno.writeTextFile(`${out}/${name}/section.html`, html!);
  }
  await Deno.mkdir(`${out}/no-section`); // a folder without a section is skipped
  await Deno.mkdir(`${out}/.mnist.tmp-1`); // so is a half-written (hidden) one
  await Deno.writeTextFile(`${out}/.mnist.tmp-1/section.html`, "<stale>");
  await Deno.writeTextFile(`${out}/report.html`, "<old>"); // files are not benchmarks
  const sections = await pageSections(out, ["mnist", "absent"]);
  assert.deepEqual(sections.map((x) => [x.benchmark, x.html]), [
    ["mnist", "<m>"],
    ["alpha", "<a>"],
    ["zeta", "<z>"],
  ]);
  await Deno.remove(out, { recursive: true });
});

/** Three "training seeds" of the fixture: their summary rows, spread and paired differences. */
function fixtureSeeds() {
  const rows: Array<SeedRow> = [0, 1, 2].flatMap((seed) =>
    (summaryTable(fixtureRuns().runs).objects() as Array<Omit<SeedRow, "seed">>)
      .map((d) => ({ ...d, seed }))
  );
  return {
    seeds: [0, 1, 2],
    spread: seedSpread(rows).objects() as Array<Record<string, unknown>>,
    paired: pairedDifferences(rows, [{ first: "GROOD", second: "MSP" }]),
  };
}

Deno.test("report.html loads in chromium: tables hold the results, plots and galleries render", async () => {
  const { runs, byName } = fixtureRuns();
  const seeds = fixtureSeeds();
  const page = await Effect.runPromise(benchmarkPage(runs, byName, { galleryCount: 8, seeds }));
  const html = reportHtml("grood results (test fixture)", [benchmarkSection(page)]);
  const dir = await Deno.makeTempDir();
  const path = `${dir}/report.html`;
  await Deno.writeTextFile(path, html);
  try {
    await withTab(async ({ tab, problems, requests }) => {
      await tab.goto(`file://${path}`, { waitUntil: "load" });
      assert.deepEqual(problems, []);
      // Only the page itself and its inline data: URLs, never the network.
      assert.deepEqual(
        requests.filter((url) => !url.startsWith("data:") && url !== `file://${path}`),
        [],
      );

      // The ranked table: the summary's order and numbers, in percent.
      const expected = summaryTable(runs).objects() as Array<Record<string, number | string>>;
      const rows = await tab.$$eval(
        "table.summary tbody tr",
        (trs) => trs.map((tr) => Array.from(tr.querySelectorAll("td"), (td) => td.textContent)),
      );
      assert.equal(rows.length, expected.length);
      expected.forEach((d, i) => {
        const keys = [
          "nearAuroc",
          "farAuroc",
          "nearFpr95IdKept",
          "farFpr95IdKept",
          "nearFpr95OpenOod",
          "farFpr95OpenOod",
        ];
        assert.deepEqual(rows[i], [
          d.detector,
          ...keys.map((k) => (100 * (d[k] as number)).toFixed(2)),
        ]);
      });
      // The spread over seeds: mean ± sd of every metric, in the spread's (ranked) order.
      const spreadRows = await tab.$$eval(
        "table.spread tbody tr",
        (trs) => trs.map((tr) => Array.from(tr.querySelectorAll("td"), (td) => td.textContent)),
      );
      assert.equal(spreadRows.length, 2);
      seeds.spread.forEach((d, i) => {
        assert.deepEqual(spreadRows[i], [
          d.detector,
          "3",
          ...SEED_METRICS.map((m) =>
            `${(100 * (d[`${m}Mean`] as number)).toFixed(2)} ± ${
              (100 * (d[`${m}Sd`] as number)).toFixed(2)
            }`
          ),
        ]);
      });
      const pairedRows = await tab.$$eval(
        "table.paired tbody tr",
        (trs) => trs.map((tr) => Array.from(tr.querySelectorAll("td"), (td) => td.textContent)),
      );
      assert.deepEqual(
        pairedRows.map((r) => [r[0], r[1], r[2], r[7]]),
        seeds.paired.map((d) => [
          "GROOD − MSP",
          d.metric === "nearAuroc" ? "near AUROC" : "far AUROC",
          (100 * d.mean).toFixed(2),
          d.holdsOnAllSeeds ? "yes" : "no",
        ]),
      );
      // The per-set table: every (detector, set) AUROC.
      const perSet = await tab.$$eval(
        "table.per-set tbody tr",
        (trs) => trs.map((tr) => Array.from(tr.querySelectorAll("td"), (td) => td.textContent)),
      );
      assert.equal(perSet.length, runs.length * SETS.length);
      for (const run of runs) {
        for (const row of run.rows) {
          assert.ok(
            perSet.some((r) =>
              r[0] === run.detector && r[1] === row.set && r[3] === (100 * row.auroc).toFixed(2)
            ),
            `${run.detector} ${row.set}`,
          );
        }
      }

      // The plots rendered: marks drawn, with a size.
      for (const figure of ["figure.roc", "figure.histogram"]) {
        const { paths, width } = await tab.$eval(figure, (f) => ({
          paths: f.querySelectorAll("svg path").length,
          width: f.querySelector("svg")!.getBoundingClientRect().width,
        }));
        assert.ok(paths > 3 && width > 100, `${figure}: ${paths} paths, ${width}px`);
      }
      // Galleries: ID + one per OOD set, 8 decoded tiles each.
      const galleries = await tab.$$eval(
        "figure.gallery",
        (figures) => figures.map((f) => f.querySelectorAll("svg image").length),
      );
      assert.deepEqual(galleries, [8, 8, 8]);
      const decoded = await tab.evaluate(async () => {
        const hrefs = Array.from(
          document.querySelectorAll("figure.gallery svg image"),
          (i) => i.getAttribute("href")!,
        );
        const sizes = await Promise.all(hrefs.map((href) =>
          new Promise<number>((resolve) => {
            const img = new Image();
            img.onload = () => resolve(img.naturalWidth);
            img.onerror = () => resolve(0);
            img.src = href;
          })
        ));
        return sizes;
      });
      assert.ok(decoded.every((w) => w === 56), `tile widths ${decoded}`);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("benchmarkPage() fails with a typed error naming the set when a score is NaN", async () => {
  const { runs, byName } = fixtureRuns();
  const scores = new Map(runs[0]!.scores);
  scores.set("letters", scores.get("letters")!.map((v, i) => (i === 3 ? Number.NaN : v)));
  const error = await Effect.runPromise(
    Effect.flip(benchmarkPage([{ ...runs[0]!, scores }, runs[1]!], byName)),
  );
  assert.equal(error._tag, "NonFinitePlotData");
  assert.match(error.message, /letters/);
});

Deno.test("the page and results.md flag a detector whose AUROC depends on ties across ID and OOD", async () => {
  const { runs, byName } = fixtureRuns();
  const clean = await Effect.runPromise(benchmarkPage(runs, byName));
  assert.deepEqual(clean.tieFlags, []);
  assert.match(benchmarkSection(clean), /data-flagged="0"/);
  // A tie report of 40% on every set for the second detector (as from scores with few values).
  const rounded = runs[1]!.rows.map((row) => ({ ...row, tiedAcross: 0.4 }));
  const tied = [runs[0]!, { ...runs[1]!, rows: rounded }];
  const page = await Effect.runPromise(benchmarkPage(tied, byName));
  assert.deepEqual(page.tieFlags.map((f) => f.detector), [runs[1]!.detector]);
  const html = benchmarkSection(page);
  assert.match(html, new RegExp(`data-detector="${runs[1]!.detector}">.*letters 40\\.00%`));
  assert.match(tieReportMarkdown(tied), /letters 40\.00%, textures 40\.00%/);
  assert.match(tieReportMarkdown(runs), /No detector has more than 1%/);
});
