/// <reference lib="dom" />
/**
 * The scoring page in a real headless browser (Debian chromium through playwright-core) against
 * the real service, at a phone's width (360 px) and a desktop's (1280 px). It reads the DOM, not
 * pixels: the drop zone is empty before any image; a bad file gives a message and no broken
 * image; a picked ID digit and a dropped OOD letter show the service's scores and verdicts, marked
 * on the validation histogram (log scale: the digit's marker is off the left edge); the drift
 * chart's points equal `/drift`'s per-minute counts; nothing overflows the viewport sideways and
 * every axis label lies inside its chart. No console errors, no request to any other host.
 *
 * `GROOD_PAGE_SCREENSHOTS=<folder>` saves a screenshot per width and state there.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { Effect, Exit, Scope } from "effect";
import sharp from "sharp";
import type { Page } from "playwright-core";
import { loadGeneratedSet } from "../lib/data/ood/mod.ts";
import { IMAGE_SIZE } from "../lib/data/mod.ts";
import { serveDetector } from "../apps/serve/server.ts";
import { withTab } from "./browser.ts";
import { closeDetector, detector, offlineScores, pngImage } from "./serve_detector.ts";

/** Longest wait for anything the page does (ms). */
const WAIT = { timeout: 20_000 };
const SHOTS = Deno.env.get("GROOD_PAGE_SCREENSHOTS");

// An ID digit, and the most OOD-looking of a few validation-OOD letters.
const digit = await pngImage(0);
const digitOffline = await offlineScores([0]);
const letters = await Effect.runPromise(loadGeneratedSet("letters-val"));
const candidates = await Effect.runPromise(
  detector.scoreImages(letters.pixels.subarray(0, 128 * IMAGE_SIZE), 128),
);
const pick = candidates.scores.indexOf(Math.max(...candidates.scores));
const letter = await sharp(
  letters.pixels.subarray(pick * IMAGE_SIZE, (pick + 1) * IMAGE_SIZE),
  { raw: { width: 28, height: 28, channels: 1 } },
).png().toBuffer();

/** The page's documented score scale: x ∝ log10(score − lo + (hi − lo)/10⁴), clamped. */
function xOf(score: number, left: number, right: number): number {
  const edges = detector.info.histogram.edges;
  const lo = edges[0]!;
  const hi = edges[edges.length - 1]!;
  const d = (hi - lo) / 1e4;
  const f = (s: number) => Math.log10(Math.min(hi, Math.max(lo, s)) - lo + d);
  return left + ((f(score) - f(lo)) / (f(hi) - f(lo))) * (right - left);
}

const number = async (tab: Page, selector: string, attribute: string) =>
  Number(await tab.$eval(selector, (e, a) => e.getAttribute(a), attribute));

/** The histogram's plotted range [left, right] in SVG units. */
const plotRange = async (tab: Page) =>
  [
    await number(tab, "#histogram-chart", "data-left"),
    await number(tab, "#histogram-chart", "data-right"),
  ] as const;

/** Pick a file through the file input. */
const pickFile = (tab: Page, name: string, mimeType: string, bytes: Uint8Array) =>
  tab.setInputFiles("#file", { name, mimeType, buffer: Buffer.from(bytes) }, WAIT);

/** Elements that stick out of the viewport sideways, or scroll sideways inside. */
const overflowing = (tab: Page) =>
  tab.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const found: Array<string> = [];
    if (document.documentElement.scrollWidth > width) {
      found.push(`document ${document.documentElement.scrollWidth} > ${width}`);
    }
    for (const e of document.body.querySelectorAll("*")) {
      const r = e.getBoundingClientRect();
      const name = `${e.tagName.toLowerCase()}#${e.id}.${e.getAttribute("class") ?? ""}`;
      if (r.width > 0 && (r.left < -0.5 || r.right > width + 0.5)) {
        found.push(`${name} ${r.left}..${r.right}`);
      }
      if (e.scrollWidth > e.clientWidth + 0.5 && e.clientWidth > 0) {
        found.push(`${name} scrolls ${e.scrollWidth} > ${e.clientWidth}`);
      }
    }
    return found;
  });

/** Texts of a chart that are not inside its bounding box (and how many texts it has). */
const labelsOutside = (tab: Page, chart: string) =>
  tab.$eval(chart, (svg) => {
    const box = svg.getBoundingClientRect();
    const texts = [...svg.querySelectorAll("text")];
    const outside = texts.filter((t) => {
      const r = t.getBoundingClientRect();
      return r.width === 0 || r.left < box.left - 0.5 || r.right > box.right + 0.5 ||
        r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5;
    }).map((t) => t.textContent);
    return { count: texts.length, outside };
  });

async function checkPage(width: number) {
  const scope = await Effect.runPromise(Scope.make());
  const service = await Effect.runPromise(
    serveDetector(detector, { port: 0 }).pipe(Scope.provide(scope)),
  );
  const shot = async (tab: Page, state: string) => {
    if (SHOTS !== undefined) {
      await tab.screenshot({ path: join(SHOTS, `page-${width}-${state}.png`), fullPage: true });
    }
  };
  try {
    await withTab(async ({ tab, problems, requests }) => {
      tab.setDefaultTimeout(WAIT.timeout);
      await tab.goto(`${service.url}/`, { waitUntil: "load", ...WAIT });
      await tab.waitForSelector("#histogram-chart .threshold", { state: "attached", ...WAIT });
      await tab.waitForSelector("#drift-chart text", { state: "attached", ...WAIT });

      // Before any image: the drop zone holds only its prompt (no black square).
      assert.equal(await tab.isVisible("#preview"), false);
      assert.equal(await tab.getAttribute("#preview", "src"), null);
      assert.equal(await tab.isVisible("#result"), false);
      assert.ok((await tab.$eval("#drop", (d) => d.getBoundingClientRect().height)) < 110);
      assert.equal(await tab.$$eval("#drift-chart .point", (p) => p.length), 0);
      await shot(tab, "empty");

      // The histogram: one bar per non-empty bin of each set, the threshold where it belongs.
      const h = detector.info.histogram;
      const bars = await tab.$$eval("#histogram-chart rect", (rects) => rects.length);
      assert.equal(bars, h.id.filter((c) => c > 0).length + h.ood.filter((c) => c > 0).length);
      const [left, right] = await plotRange(tab);
      const thresholdX = await number(tab, "#histogram-chart .threshold", "x1");
      assert.ok(Math.abs(thresholdX - xOf(detector.info.threshold, left, right)) < 1e-6);
      assert.match(await tab.textContent("#detector") ?? "", new RegExp(detector.info.version));

      // A file that is not an image: a plain message, no broken image, no verdict.
      await pickFile(tab, "notes.txt", "text/plain", new TextEncoder().encode("not an image"));
      await tab.waitForSelector("#problem:not([hidden])", WAIT);
      assert.match(
        await tab.textContent("#problem") ?? "",
        /^“notes\.txt” is not an image the service can read: pick a PNG, JPEG or WebP image\./,
      );
      // Named as a PNG but not one: the service cannot decode it, the browser cannot show it.
      await pickFile(tab, "fake.png", "image/png", new TextEncoder().encode("not a png either"));
      await tab.waitForFunction(
        () => /fake\.png/.test(document.getElementById("problem")!.textContent ?? ""),
        undefined,
        WAIT,
      );
      await tab.waitForTimeout(300); // let the browser try (and fail) to decode it
      assert.equal(await tab.isVisible("#preview"), false);
      assert.equal(await tab.isVisible("#result"), false);
      assert.equal(await tab.$$eval("#histogram-chart .marker", (m) => m.length), 0);
      await shot(tab, "bad-file");

      // Pick the digit: the service's score, class and an in-distribution verdict; its marker
      // is where the scale puts it, well off the histogram's left edge.
      await pickFile(tab, "digit.png", "image/png", digit);
      await tab.waitForSelector("#result:not([hidden])", WAIT);
      assert.equal(await tab.isVisible("#problem"), false);
      const shown = Number(await tab.getAttribute("#score", "data-score"));
      assert.ok(Math.abs(shown - digitOffline.scores[0]!) <= 1e-6);
      assert.ok(shown < detector.info.threshold);
      assert.equal(await tab.textContent("#class"), String(digitOffline.predicted[0]));
      assert.equal(await tab.getAttribute("#verdict", "class"), "id");
      await tab.waitForSelector("#preview:not([hidden])", WAIT);
      const marker = await number(tab, "#histogram-chart .marker", "x1");
      assert.ok(Math.abs(marker - xOf(shown, left, right)) < 1e-6);
      assert.ok(
        (marker - left) / (right - left) > 0.1,
        `an ID digit's marker at ${((marker - left) / (right - left)).toFixed(3)} of the width`,
      );

      await shot(tab, "id");

      // Drop the letter: flagged OOD, the marker moves to its score.
      await tab.evaluate(async (bytes) => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([new Uint8Array(bytes)], "letter.png", { type: "image/png" }));
        const drop = document.getElementById("drop")!;
        drop.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true }));
        await new Promise((resolve) => setTimeout(resolve, 0));
      }, [...letter]);
      await tab.waitForFunction(
        () => document.getElementById("verdict")!.className === "ood",
        undefined,
        WAIT,
      );
      const oodScore = Number(await tab.getAttribute("#score", "data-score"));
      assert.ok(Math.abs(oodScore - candidates.scores[pick]!) <= 1e-6);
      assert.ok(oodScore > detector.info.threshold);
      const moved = await number(tab, "#histogram-chart .marker", "x1");
      assert.ok(Math.abs(moved - xOf(oodScore, left, right)) < 1e-6);
      assert.ok(moved > thresholdX);
      assert.equal(await tab.$$eval("#histogram-chart .marker", (m) => m.length), 1);

      // The drift chart shows both verdicts: its points are /drift's per-minute counts.
      await tab.waitForFunction(
        () =>
          [...document.querySelectorAll("#drift-chart .point")]
            .reduce(
              (n, p) => n + Number(p.getAttribute("data-in")) + Number(p.getAttribute("data-ood")),
              0,
            ) ===
            2,
        undefined,
        WAIT,
      );
      const drift = await (await fetch(`${service.url}/drift`)).json();
      const points = await tab.$$eval("#drift-chart .point", (ps) =>
        ps.map((p) => ({
          time: p.getAttribute("data-time"),
          in: Number(p.getAttribute("data-in")),
          ood: Number(p.getAttribute("data-ood")),
          invalid: Number(p.getAttribute("data-invalid")),
          share: Number(p.getAttribute("data-share")),
          cy: Number(p.getAttribute("cy")),
        })));
      assert.deepEqual(
        points.map(({ time, in: i, ood, invalid }) => ({ time, in: i, ood, invalid })),
        drift.buckets,
      );
      assert.equal(drift.buckets.reduce((n: number, b: { ood: number }) => n + b.ood, 0), 1);
      const top = await number(tab, "#drift-chart", "data-top");
      const bottom = await number(tab, "#drift-chart", "data-bottom");
      for (const p of points) {
        assert.equal(p.share, p.ood / (p.in + p.ood));
        assert.ok(Math.abs(p.cy - (bottom - p.share * (bottom - top))) < 1e-6);
      }
      assert.equal(Number(await tab.getAttribute("#drift-summary", "data-share")), drift.oodShare);
      assert.match(await tab.textContent("#drift-summary") ?? "", /^50% OOD over the last 5 min/);

      // The layout: nothing sideways out of the viewport, every axis label inside its chart.
      assert.deepEqual(await overflowing(tab), []);
      for (const chart of ["#histogram-chart", "#drift-chart"]) {
        const labels = await labelsOutside(tab, chart);
        assert.ok(labels.count >= 3, `${chart} has ${labels.count} labels`);
        assert.deepEqual(labels.outside, [], chart);
      }
      await shot(tab, "scored");

      // A bad file after an image: the old verdict, preview and marker go away.
      await pickFile(tab, "notes.txt", "text/plain", new TextEncoder().encode("not an image"));
      await tab.waitForSelector("#problem:not([hidden])", WAIT);
      assert.equal(await tab.isVisible("#result"), false);
      assert.equal(await tab.isVisible("#preview"), false);
      assert.equal(await tab.$$eval("#histogram-chart .marker", (m) => m.length), 0);
      assert.deepEqual(await overflowing(tab), []);

      assert.deepEqual(problems.filter((p) => !/status of (400|415)/.test(p)), []);
      assert.deepEqual(
        requests.filter((url) => !url.startsWith(service.url) && !/^(blob|data):/.test(url)),
        [],
      );
    }, { width, height: 900 });
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void));
  }
}

Deno.test("the page at 360 px: empty drop zone, bad-file message, verdicts on the histogram and the drift chart, nothing overflows", () =>
  checkPage(360));

Deno.test("the page at 1280 px: empty drop zone, bad-file message, verdicts on the histogram and the drift chart, labels inside", () =>
  checkPage(1280));

Deno.test("with a token: the page asks for it, does not poll /drift without it, then shows both charts", async () => {
  const scope = await Effect.runPromise(Scope.make());
  const service = await Effect.runPromise(
    serveDetector(detector, { port: 0, token: "page-token" }).pipe(Scope.provide(scope)),
  );
  try {
    await withTab(async ({ tab, problems, requests }) => {
      tab.setDefaultTimeout(WAIT.timeout);
      await tab.goto(`${service.url}/`, { waitUntil: "load", ...WAIT });
      await tab.waitForSelector("#auth:not([hidden])", WAIT);
      // Longer than one polling period (5 s): no /drift request goes out without the token.
      await tab.waitForTimeout(6000);
      assert.deepEqual(requests.filter((url) => url.endsWith("/drift")), []);
      assert.equal(await tab.$$eval("#histogram-chart rect", (r) => r.length), 0);

      await tab.fill("#token", "page-token", WAIT);
      await tab.click("#use-token", WAIT);
      await tab.waitForSelector("#histogram-chart .threshold", { state: "attached", ...WAIT });
      await tab.waitForSelector("#auth", { state: "hidden", ...WAIT });
      await tab.waitForFunction(
        () => /^No image scored/.test(document.getElementById("drift-summary")!.textContent ?? ""),
        undefined,
        WAIT,
      );
      await pickFile(tab, "digit.png", "image/png", digit);
      await tab.waitForSelector("#drift-chart .point", { state: "attached", ...WAIT });
      assert.equal(await tab.getAttribute("#drift-chart .point", "data-in"), "1");
      assert.deepEqual(problems.filter((p) => !/status of 401/.test(p)), []);
    }, { width: 1280, height: 900 });
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void));
  }
});

Deno.test("the drift chart merges minutes when it has no room for each (days at 360 px), keeping every count", async () => {
  const scope = await Effect.runPromise(Scope.make());
  const service = await Effect.runPromise(
    serveDetector(detector, { port: 0 }).pipe(Scope.provide(scope)),
  );
  try {
    await withTab(async ({ tab, problems }) => {
      tab.setDefaultTimeout(WAIT.timeout);
      await tab.goto(`${service.url}/`, { waitUntil: "load", ...WAIT });
      await tab.waitForSelector("#drift-chart text", { state: "attached", ...WAIT });
      const seen = await tab.evaluate(async (module) => {
        const { drawDrift } = await import(module);
        // Three days of minutes, some without verdicts, some with only invalid ones.
        const t0 = Date.parse("2026-12-01T00:00:00Z");
        const buckets: Array<Record<string, unknown>> = [];
        for (let m = 0; m < 3 * 1440; m += m % 7 === 0 ? 4 : 1) {
          buckets.push({
            time: new Date(t0 + m * 60_000).toISOString(),
            in: m % 5,
            ood: m % 3,
            invalid: m % 11 === 0 ? 1 : 0,
          });
        }
        const svg = document.getElementById("drift-chart")!;
        drawDrift(svg, {
          start: new Date(t0 + 30_000).toISOString(),
          windowSeconds: 300,
          oodShare: 0,
          windowVerdicts: 0,
          bucketSeconds: 60,
          buckets,
        }, t0 + 3 * 86_400_000);
        const sum = (xs: Array<Record<string, unknown>>, k: string) =>
          xs.reduce((n, x) => n + Number(x[k]), 0);
        const points = [...svg.querySelectorAll(".point")].map((p) => ({
          in: p.getAttribute("data-in"),
          ood: p.getAttribute("data-ood"),
          invalid: p.getAttribute("data-invalid"),
          share: p.getAttribute("data-share"),
          cx: Number(p.getAttribute("cx")),
        }));
        return {
          width: Number(svg.getAttribute("width")),
          step: Number(svg.dataset.minutesPerPoint),
          points: points.length,
          buckets: ["in", "ood", "invalid"].map((k) => sum(buckets, k)),
          drawn: ["in", "ood", "invalid"].map((k) => sum(points, k)),
          shares: points.every((p) =>
            Number(p.in) + Number(p.ood) === 0
              ? p.share === ""
              : Math.abs(Number(p.share) - Number(p.ood) / (Number(p.in) + Number(p.ood))) < 1e-12
          ),
          xs: [Math.min(...points.map((p) => p.cx)), Math.max(...points.map((p) => p.cx))],
          labels: [...svg.querySelectorAll("text")].map((t) => t.textContent),
        };
      }, "/charts.js");
      assert.ok(seen.width <= 360 && seen.width >= 240, `width ${seen.width}`);
      assert.ok(seen.step > 1, `${seen.step} minutes per point`);
      assert.ok(seen.points <= (seen.width - 50) / 6, `${seen.points} points`);
      assert.ok(seen.points >= (seen.width - 50) / 6 / 2, `${seen.points} points`);
      assert.deepEqual(seen.drawn, seen.buckets);
      assert.ok(seen.shares);
      assert.ok(seen.xs[0]! >= 40 && seen.xs[1]! <= seen.width - 10, `x from ${seen.xs}`);
      assert.ok(seen.labels.some((l) => /Dec/.test(l ?? "")), `dated labels: ${seen.labels}`);
      const labels = await labelsOutside(tab, "#drift-chart");
      assert.deepEqual(labels.outside, []);
      assert.deepEqual(await overflowing(tab), []);
      assert.deepEqual(problems, []);
      if (SHOTS !== undefined) {
        await tab.screenshot({ path: join(SHOTS, "page-360-drift-days.png"), fullPage: true });
      }
    }, { width: 360, height: 900 });
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void));
  }
});

Deno.test("cleanup", () => closeDetector());
