/**
 * Product-path benchmark: what a user's `deno task fit` and `deno task score` cost, run as the
 * user runs them (each a fresh `deno task` process in a checkout), timed from outside.
 *
 *   deno run -A bench/product_paths.ts --label after [--checkout DIR] [--images N]
 *
 * Writes 10,000 mnist test images as PNG files into a temporary folder (once, reused), fits
 * GROOD (streamed, its defaults) and MSP on the mnist fixture model with 10,000 training images,
 * then scores the PNG folder with each fitted folder (images/s including PNG decode and process
 * start; the marginal rate subtracts the cost of a 100-image run). Results are merged into
 * `bench/product_paths.json` under `--label`, with the machine's load average (`uptime`) before
 * and after, and the checkout's commit.
 *
 * `--alternate-with BASE --label L`: after a `--label before --checkout BASE` and a
 * `--label after` run (whose fitted folders it reuses), score the PNG folder with both
 * checkouts' folders in turn (base GROOD, this GROOD, base MSP, this MSP), `--rounds` times
 * (default 3), so a change in machine load hits both alike; best and median per checkout and
 * detector, under `L`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join, resolve } from "node:path";
import { encode } from "fast-png";
import { Effect } from "effect";
import { loadSplit } from "../lib/data/mod.ts";
import { CHECKOUT, commitOf, mergeProductPaths, uptime } from "./product_paths_file.ts";

const { values } = parseArgs({
  options: {
    label: { type: "string" },
    checkout: { type: "string" },
    images: { type: "string" },
    train: { type: "string" },
    "alternate-with": { type: "string" },
    rounds: { type: "string" },
  },
});
const label = values.label ?? "run";
const here = CHECKOUT;
const checkout = resolve(values.checkout ?? here);
const count = Number(values.images ?? 10_000);
const trainCount = Number(values.train ?? 10_000);
const work = "/tmp/grood-product-paths";
const pngDir = join(work, `mnist-test-${count}`);
const smallDir = join(work, "mnist-test-100");

const exists = (p: string) => Deno.stat(p).then(() => true, () => false);

const writePngs = async (dir: string, n: number) => {
  if (await exists(join(dir, "done"))) return;
  await Deno.mkdir(dir, { recursive: true });
  const test = await Effect.runPromise(loadSplit("mnist", "test"));
  const plane = 28 * 28;
  for (let i = 0; i < n; i++) {
    const data = test.pixels.subarray(i * plane, (i + 1) * plane);
    const png = encode({ width: 28, height: 28, data, channels: 1, depth: 8 });
    await Deno.writeFile(join(dir, `${String(i).padStart(5, "0")}.png`), png);
  }
  await Deno.writeTextFile(join(dir, "done"), "");
};

/** The train source: the first `trainCount` mnist training images (a source spec file). */
const trainSpec = async () => {
  const path = join(work, `train-${trainCount}.npy`);
  if (!(await exists(path))) {
    const train = await Effect.runPromise(loadSplit("mnist", "train"));
    const npy = (await import("../lib/io/mod.ts")).encodeNpy;
    const plane = 28 * 28;
    await Deno.writeFile(
      path,
      Effect.runSync(npy(train.pixels.slice(0, trainCount * plane), [trainCount, 28, 28])),
    );
    await Deno.writeFile(
      join(work, `train-${trainCount}.labels.npy`),
      Effect.runSync(npy(train.labels.slice(0, trainCount), [trainCount])),
    );
  }
  return path;
};

const deno = join(here, "node_modules/.bin/deno");

const timed = async (args: ReadonlyArray<string>) => {
  const started = performance.now();
  const out = await new Deno.Command(deno, {
    args: [...args],
    cwd: checkout,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - started) / 1000;
  if (!out.success) {
    throw new Error(`${args.join(" ")} failed:\n${new TextDecoder().decode(out.stderr)}`);
  }
  return seconds;
};

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
};

if (values["alternate-with"] !== undefined) {
  const base = resolve(values["alternate-with"]);
  const rounds = Number(values.rounds ?? 3);
  const loadBefore = await uptime();
  const times: Record<string, Array<number>> = {};
  for (let r = 0; r < rounds; r++) {
    for (const detector of ["grood", "msp"]) {
      for (
        const [who, dir, folder] of [
          ["before", base, join(work, `before-${detector}`)],
          ["after", here, join(work, `after-${detector}`)],
        ] as const
      ) {
        const started = performance.now();
        const out = await new Deno.Command(deno, {
          args: [
            "task",
            "score",
            "--detector",
            folder,
            pngDir,
            "--out",
            `${folder}.csv`,
            "--overwrite",
          ],
          cwd: dir,
          stdout: "piped",
          stderr: "piped",
        }).output();
        if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
        const seconds = (performance.now() - started) / 1000;
        (times[`${who}.${detector}`] ??= []).push(seconds);
        console.log(who, detector, (count / seconds).toFixed(0), "images/s");
      }
    }
  }
  const rates = Object.fromEntries(
    Object.entries(times).map(([k, ts]) => [k, {
      seconds: ts,
      bestImagesPerSecond: count / Math.min(...ts),
      medianImagesPerSecond: count / median(ts),
    }]),
  );
  const best = (k: string) => (rates[k] as { bestImagesPerSecond: number }).bestImagesPerSecond;
  const result = {
    commits: { before: await commitOf(base), after: await commitOf() },
    loadBefore,
    loadAfter: await uptime(),
    images: count,
    rounds,
    rates,
    groodOverMsp: {
      before: best("before.grood") / best("before.msp"),
      after: best("after.grood") / best("after.msp"),
    },
    speedUp: {
      grood: best("after.grood") / best("before.grood"),
      msp: best("after.msp") / best("before.msp"),
    },
    date: new Date().toISOString(),
  };
  await mergeProductPaths(label, () => result);
  console.log(JSON.stringify(result, null, 2));
  Deno.exit(0);
}

await Deno.mkdir(work, { recursive: true });
await writePngs(pngDir, count);
await writePngs(smallDir, 100);
const train = await trainSpec();
const commit = new TextDecoder().decode(
  (await new Deno.Command("git", { args: ["-C", checkout, "rev-parse", "--short", "HEAD"] })
    .output()).stdout,
).trim();
const loadBefore = await uptime();
const model = join(checkout, "fixtures/models/mnist");
const result: Record<string, unknown> = { commit, checkout, loadBefore, images: count, trainCount };
for (const detector of ["grood", "msp"]) {
  const out = join(work, `${label}-${detector}`);
  await Deno.remove(out, { recursive: true }).catch(() => {});
  const fitSeconds = await timed([
    "task",
    "fit",
    "--model",
    model,
    "--train",
    train,
    "--detector",
    detector,
    "--out",
    out,
  ]);
  const small = await timed([
    "task",
    "score",
    "--detector",
    out,
    smallDir,
    "--out",
    `${out}.csv`,
    "--overwrite",
  ]);
  const full = await timed([
    "task",
    "score",
    "--detector",
    out,
    pngDir,
    "--out",
    `${out}.csv`,
    "--overwrite",
  ]);
  result[detector] = {
    fitSeconds,
    scoreSeconds: full,
    score100Seconds: small,
    imagesPerSecond: count / full,
    marginalImagesPerSecond: (count - 100) / (full - small),
  };
  console.log(detector, result[detector]);
}
const g = result.grood as { imagesPerSecond: number; marginalImagesPerSecond: number };
const m = result.msp as { imagesPerSecond: number; marginalImagesPerSecond: number };
result.groodOverMsp = g.imagesPerSecond / m.imagesPerSecond;
result.groodOverMspMarginal = g.marginalImagesPerSecond / m.marginalImagesPerSecond;
result.loadAfter = await uptime();
result.date = new Date().toISOString();
await mergeProductPaths(label, () => result);
console.log(JSON.stringify(result, null, 2));
