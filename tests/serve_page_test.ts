/// <reference lib="dom" />
/**
 * The scoring page in a real headless browser (Debian chromium through playwright-core) against
 * the real service: it loads without console errors or requests to any other host, draws the
 * detector's validation histogram with the threshold, and a picked or dropped image shows the
 * service's score, class and verdict, marked on the histogram.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Effect, Exit, Scope } from "effect";
import sharp from "sharp";
import { loadGeneratedSet } from "../lib/data/ood/mod.ts";
import { IMAGE_SIZE } from "../lib/data/images.ts";
import { serveDetector } from "../lib/serve/server.ts";
import { withTab } from "./browser.ts";
import { closeDetector, detector, offlineScores, pngImage } from "./serve_detector.ts";

Deno.test("the page scores a picked and a dropped image and places them on the histogram", async () => {
  // An ID digit, and the most OOD-looking of a few validation-OOD letters.
  const digit = await pngImage(0);
  const digitOffline = await offlineScores([0]);
  const letters = await Effect.runPromise(loadGeneratedSet("letters-val"));
  const candidates = await Effect.runPromise(
    detector.scoreImages(letters.pixels.subarray(0, 128 * IMAGE_SIZE), 128),
  );
  const pick = candidates.scores.indexOf(Math.max(...candidates.scores));
  assert.ok(candidates.scores[pick]! > detector.info.threshold, "a letter is flagged OOD");
  const letter = await sharp(
    letters.pixels.subarray(pick * IMAGE_SIZE, (pick + 1) * IMAGE_SIZE),
    { raw: { width: 28, height: 28, channels: 1 } },
  ).png().toBuffer();

  const scope = await Effect.runPromise(Scope.make());
  const service = await Effect.runPromise(
    serveDetector(detector, { port: 0 }).pipe(Scope.provide(scope)),
  );
  try {
    await withTab(async ({ tab, problems, requests }) => {
      await tab.goto(`${service.url}/`, { waitUntil: "load" });
      await tab.waitForSelector("#histogram svg .threshold", { state: "attached" });

      // The histogram: one bar per non-empty bin of each set, the threshold where it belongs.
      const h = detector.info.histogram;
      const bars = await tab.$$eval("#histogram svg rect", (rects) => rects.length);
      const nonEmpty = h.id.filter((c) => c > 0).length + h.ood.filter((c) => c > 0).length;
      assert.equal(bars, nonEmpty);
      const xOf = (score: number) => {
        const lo = h.edges[0]!;
        const hi = h.edges[h.edges.length - 1]!;
        return 40 + Math.min(1, Math.max(0, (score - lo) / (hi - lo))) * (640 - 52);
      };
      const thresholdX = Number(
        await tab.$eval("#histogram .threshold", (l) => l.getAttribute("x1")),
      );
      assert.ok(Math.abs(thresholdX - xOf(detector.info.threshold)) < 1e-6);
      assert.match(await tab.textContent("#detector") ?? "", new RegExp(detector.info.version));

      // Pick the digit: the service's score, class and an in-distribution verdict.
      await tab.setInputFiles("#file", {
        name: "digit.png",
        mimeType: "image/png",
        buffer: Buffer.from(digit),
      });
      await tab.waitForSelector("#result:not([hidden])");
      const shown = Number(await tab.getAttribute("#score", "data-score"));
      assert.ok(Math.abs(shown - digitOffline.scores[0]!) <= 1e-6);
      assert.equal(await tab.textContent("#class"), String(digitOffline.predicted[0]));
      assert.equal(await tab.getAttribute("#verdict", "class"), "id");
      const marker = Number(await tab.$eval("#histogram .marker", (l) => l.getAttribute("x1")));
      assert.ok(Math.abs(marker - xOf(shown)) < 1e-6);

      // Drop the letter: flagged OOD, the marker moves to its score.
      await tab.evaluate(async (bytes) => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([new Uint8Array(bytes)], "letter.png", { type: "image/png" }));
        const drop = document.getElementById("drop")!;
        drop.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true }));
        await new Promise((resolve) => setTimeout(resolve, 0));
      }, [...letter]);
      await tab.waitForFunction(() => document.getElementById("verdict")!.className === "ood");
      const oodScore = Number(await tab.getAttribute("#score", "data-score"));
      assert.ok(Math.abs(oodScore - candidates.scores[pick]!) <= 1e-6);
      const moved = Number(await tab.$eval("#histogram .marker", (l) => l.getAttribute("x1")));
      assert.ok(Math.abs(moved - xOf(oodScore)) < 1e-6);
      assert.equal(await tab.$$eval("#histogram .marker", (m) => m.length), 1);

      // A file the service refuses: its message is shown, nothing breaks.
      await tab.setInputFiles("#file", {
        name: "notes.txt",
        mimeType: "text/plain",
        buffer: Buffer.from("not an image"),
      });
      await tab.waitForSelector("#problem:not([hidden])");
      assert.match(await tab.textContent("#problem") ?? "", /Content-Type "text\/plain"/);

      assert.deepEqual(problems.filter((p) => !p.includes("415")), []);
      assert.deepEqual(
        requests.filter((url) => !url.startsWith(service.url) && !/^(blob|data):/.test(url)),
        [],
      );
    });
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void));
  }
});

Deno.test("cleanup", () => closeDetector());
