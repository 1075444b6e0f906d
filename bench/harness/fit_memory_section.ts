/**
 * Bench section: GROOD's fit in bounded memory (issue 13, target 4). The streamed fit
 * (`fitGroodStreamed`) runs on a small and a large synthetic training set (60k and 600k 28×28
 * images in the full run), each in its own process (`fit_memory_run.ts`) so each peak RSS is
 * its own. The target: from the small to the large set, the peak RSS grows by no more than
 * 1.25× what the index itself grows by (the bytes the fit keeps by construction for k-NN),
 * so it grows with the index and not with the images. Held in memory, the images alone would
 * add 784 bytes each, and their features 4·(D + C) more.
 *
 * The model is the fixture classifier exported to ONNX and run by onnxruntime (the same
 * network as the tfjs one, about 4× faster here, which keeps the 600k fit to minutes).
 *
 * @module
 */
import { join } from "node:path";
import { Effect, Schema } from "effect";
import { decodeJsonText } from "../../mod.ts";
import { tryIo, writeFile } from "../../lib/io/mod.ts";
import { classifierToOnnx, encodeOnnx } from "../../lib/models/mod.ts";
import { type Bench, progress } from "./context.ts";
import type { FitMemoryConfig, FitMemoryMeasurement } from "./fit_memory_run.ts";
import { figure } from "./report.ts";

const CHILD = new URL("./fit_memory_run.ts", import.meta.url).pathname;

const Count = Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(0)));

/** {@link FitMemoryMeasurement} as a Schema (a child prints it as its last line). */
const FitMemoryMeasurementJson = Schema.Struct({
  images: Count,
  indexed: Count,
  dim: Count,
  startRssBytes: Count,
  peakRssBytes: Count,
  indexBytes: Count,
  seconds: Schema.Finite,
});

/** Allowed peak-RSS growth per byte of index growth. */
export const GROWTH_TARGET = 1.25;

/** Run one fit in a child process and read its measurement. */
const runChild = (config: FitMemoryConfig) =>
  Effect.tryPromise({
    try: async () => {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", CHILD, JSON.stringify(config)],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const decoder = new TextDecoder();
      let stderrTail = "";
      const readErr = (async () => {
        for await (const bytes of child.stderr) {
          const text = decoder.decode(bytes, { stream: true });
          stderrTail = (stderrTail + text).slice(-4000);
          for (const line of text.split("\n")) {
            if (line.startsWith("progress ")) progress(`${config.images} images: ${line.slice(9)}`);
          }
        }
      })();
      const [output, status] = await Promise.all([
        new Response(child.stdout).text(),
        child.status,
        readErr,
      ]);
      if (!status.success) {
        throw new Error(`exit code ${status.code}: ${stderrTail.slice(-1500)}`);
      }
      // Strict: a line that is not this measurement is an error, never numbers read from it.
      const line = output.trim().split("\n").at(-1) ?? "";
      const measurement: FitMemoryMeasurement = Effect.runSync(
        decodeJsonText(FitMemoryMeasurementJson, "the child's last line")(line),
      );
      return measurement;
    },
    catch: (cause) =>
      new Error(`the bounded-memory fit of ${config.images} images failed: ${String(cause)}`),
  });

/** Fit on each size of the plan and report peak RSS against the index's growth. */
export const fitMemorySection = Effect.fn("fitMemorySection")(function* (bench: Bench) {
  const { net, plan, emit, section, details } = bench;
  const sizes = plan.fitMemory.sizes;
  section(
    `fit in bounded memory: streamed GROOD fit on ${
      sizes.map((s) => s.label).join(" and ")
    } synthetic images (each in its own process)`,
  );
  const folder = yield* Effect.acquireRelease(
    tryIo(
      "grood-bench-fit-memory-*",
      "create",
      () => Deno.makeTempDir({ prefix: "grood-bench-fit-memory-" }),
    ),
    (dir) => Effect.promise(() => Deno.remove(dir, { recursive: true }).catch(() => {})),
  );
  const exported = classifierToOnnx(net);
  const onnxPath = join(folder, "model.onnx");
  yield* writeFile(onnxPath, encodeOnnx(exported.model));
  const measured: Array<FitMemoryMeasurement & { readonly label: string }> = [];
  for (const size of sizes) {
    const m = yield* runChild({
      images: size.images,
      onnxPath,
      spec: { input: exported.spec.input, taps: exported.spec.taps },
      threads: 1,
      batchSize: plan.batchSize,
      noise: plan.fitMemory.noise,
      seed: plan.fitMemory.seed,
    });
    measured.push({ ...m, label: size.label });
    const note = `${m.indexed} descriptors × ${m.dim} indexed; RSS before the fit ` +
      `${(m.startRssBytes / 1e6).toFixed(0)} MB; index by construction ` +
      `${(m.indexBytes / 1e6).toFixed(0)} MB`;
    emit(figure(
      `fit_memory.${size.label}.peak_rss`,
      `streamed fit on ${size.label} images: peak RSS`,
      "bytes",
      [m.peakRssBytes],
      { note },
    ));
    emit(figure(
      `fit_memory.${size.label}.seconds`,
      `streamed fit on ${size.label} images: time`,
      "s",
      [m.seconds],
      { note: "onnxruntime, 1 thread: one pass, mix-up, descriptors, exact index" },
    ));
  }
  details.fitMemory = measured;
  const small = measured[0]!;
  const large = measured.at(-1)!;
  const growth = large.peakRssBytes - small.peakRssBytes;
  const indexGrowth = large.indexBytes - small.indexBytes;
  const inMemoryGrowth = (large.images - small.images) * (784 + 4 * (large.dim + 10));
  emit(figure(
    "fit_memory.growth_over_index",
    `peak RSS growth ${small.label} → ${large.label} / index growth`,
    "x",
    [growth / indexGrowth],
    {
      target: { op: "<=", value: GROWTH_TARGET },
      note: `peak RSS +${(growth / 1e6).toFixed(0)} MB, index +${
        (indexGrowth / 1e6).toFixed(0)
      } MB; images and features held in memory would add ${
        (inMemoryGrowth / 1e6).toFixed(0)
      } MB more`,
    },
  ));
}, Effect.scoped);
