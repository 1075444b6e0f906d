/**
 * `grood bench cluster --fit`: time GROOD's fit on this machine in one process (`grood fit`)
 * and on 1 and 3 runners on loopback (`grood cluster fit`), on `images` MNIST training images
 * with the committed classifier, chunks of `chunk` images; checks that each distributed fit
 * wrote the same bytes as the one-process fit (`SOURCE_DATE_EPOCH` set), and adds the results
 * to the results file under `fit` (the scoring results beside it are kept). Wall times are of
 * the whole commands (start-up, reading, mix-up, index, validation and writing included).
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Effect, Exit, Scope } from "effect";
import { Data, Io } from "../../mod.ts";
import {
  DENO,
  freePorts,
  groodArgs,
  releasedOnSignal,
  type Started,
  startGrood,
  waitFor,
} from "./loopback.ts";
import { throwawayPostgres } from "./throwaway_postgres.ts";
import { loadAverage, LOOPBACK_NOTE, runRecord, text } from "./bench.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const MODEL = join(root, "fixtures/models/mnist");

/** What the fit benchmark measures. */
export interface BenchFitOptions {
  /** MNIST training images (10 % held out as validation, as `grood fit` does). */
  readonly images: number;
  readonly chunk: number;
  /** The results file (absolute); its other keys are kept. */
  readonly out: string;
}

/** Every file under `dir`, relative path → bytes (the bench and the tests compare folders so). */
export const folderFiles = (dir: string, under = ""): Map<string, Uint8Array> => {
  const files = new Map<string, Uint8Array>();
  for (const entry of Deno.readDirSync(join(dir, under))) {
    const rel = join(under, entry.name);
    if (entry.isDirectory) { for (const [k, v] of folderFiles(dir, rel)) files.set(k, v); }
    else files.set(rel, Deno.readFileSync(join(dir, rel)));
  }
  return files;
};
const sameFolder = (a: string, b: string): boolean => {
  const x = folderFiles(a);
  const y = folderFiles(b);
  return x.size === y.size &&
    [...x].every(([k, v]) =>
      y.get(k)?.length === v.length && v.every((c, i) => c === y.get(k)![i])
    );
};

/** Run the fit benchmark and add its results to `options.out` under `fit`. */
export async function benchClusterFit(options: BenchFitOptions): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "grood-bench-fit-" });
  const scope = await Effect.runPromise(Scope.make());
  const started: Array<Started> = [];
  const loadBefore = loadAverage();
  const epoch = Deno.env.get("SOURCE_DATE_EPOCH");
  Deno.env.set("SOURCE_DATE_EPOCH", "1796601600");
  const release = releasedOnSignal(async () => {
    if (epoch === undefined) Deno.env.delete("SOURCE_DATE_EPOCH");
    else Deno.env.set("SOURCE_DATE_EPOCH", epoch);
    for (const s of started) s.kill("SIGKILL");
    for (const s of started) await s.exit(10);
    await Effect.runPromise(Scope.close(scope, Exit.void));
    await Deno.remove(dir, { recursive: true });
  });
  try {
    const train = await Effect.runPromise(Data.loadSplit("mnist", "train"));
    const n = options.images;
    await Effect.runPromise(
      Io.writeNpyAtomic(join(dir, "train.npy"), train.pixels.slice(0, n * 784), [n, 28, 28]),
    );
    await Effect.runPromise(
      Io.writeNpyAtomic(join(dir, "train.labels.npy"), train.labels.slice(0, n), [n]),
    );
    const fitArgs = (out: string) => [
      "--model",
      MODEL,
      "--train",
      "train.npy",
      "--out",
      out,
      "--chunk",
      String(options.chunk),
    ];
    const t0 = performance.now();
    const one = await new Deno.Command(DENO, {
      args: groodArgs(["fit", ...fitArgs("one")]),
      cwd: dir,
      env: { NO_COLOR: "1", INIT_CWD: dir },
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!one.success) throw new Error(new TextDecoder().decode(one.stderr));
    const oneSeconds = (performance.now() - t0) / 1000;
    console.error(`one process: ${oneSeconds.toFixed(1)} s`);
    const pg = await Effect.runPromise(Scope.provide(throwawayPostgres(), scope));
    const runs: Array<Record<string, number | boolean>> = [];
    for (const count of [1, 3]) {
      const runners = freePorts(count).map((port, k) =>
        startGrood(["cluster", "runner", "--pg", pg.url, "--port", String(port)], {
          cwd: dir,
          log: join(dir, `r${count}-runner-${k}.log`),
        })
      );
      started.push(...runners);
      for (const r of runners) {
        await waitFor(`${r.log} listening`, 180, () => /Listening on/.test(text(r.log)));
      }
      const began = performance.now();
      const driver = startGrood([
        "cluster",
        "fit",
        ...fitArgs(`r${count}`),
        "--job",
        join(dir, `r${count}-job`),
        "--pg",
        pg.url,
      ], { cwd: dir, log: join(dir, `r${count}-driver.log`) });
      started.push(driver);
      if ((await driver.exit(3600)).code !== 0) throw new Error(text(driver.log));
      const seconds = (performance.now() - began) / 1000;
      const identical = sameFolder(join(dir, "one"), join(dir, `r${count}`));
      runs.push({ runners: count, seconds, identical, load1: loadAverage()[0]! });
      console.error(`${count} runner(s): ${seconds.toFixed(1)} s, identical ${identical}`);
      for (const r of runners) r.kill("SIGTERM");
      for (const r of runners) await r.exit(60);
    }
    const fit = {
      ...runRecord(loadBefore, LOOPBACK_NOTE),
      trainingImages: n,
      chunk: options.chunk,
      oneProcessSeconds: oneSeconds,
      cluster: runs,
    };
    const existing = text(options.out);
    const results = existing === "" ? {} : JSON.parse(existing) as Record<string, unknown>;
    await Io.writeJsonAtomic(options.out, { ...results, fit });
    console.log(JSON.stringify(fit, null, 2));
  } finally {
    await release();
  }
}
