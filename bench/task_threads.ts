/**
 * onnxruntime's intra-op threads (`--threads`) on the paths users run: `grood fit` (GROOD on the
 * mnist fixture, 60,000 training images) and `grood score` (GROOD over 10,000 PNGs, the folder
 * `bench/product_paths.ts` writes), each with 1 and 2 threads, alternating, `--rounds` times.
 * The fitted folders of both settings are compared file by file (they must be identical but for
 * their timestamps and the digest that covers them), and so are the two settings' score rows.
 *
 *   deno run -A bench/task_threads.ts [--rounds 2]
 *
 * Merged into `bench/product_paths.json` under `threads`, with `uptime` and the commit.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { CHECKOUT, commitOf, mergeProductPaths, uptime } from "./product_paths_file.ts";

const { values } = parseArgs({ options: { rounds: { type: "string" }, pngs: { type: "string" } } });
const rounds = Number(values.rounds ?? 2);
// The 10,000 PNGs `bench/product_paths.ts` writes (run it first).
const pngs = values.pngs ?? "/tmp/grood-product-paths/mnist-test-10000";
const work = await Deno.makeTempDir({ prefix: "grood-task-threads-" });
const grood = join(CHECKOUT, "grood");

/** Run `grood args…`, returning its wall-clock seconds; a failure stops the benchmark. */
const timed = async (args: ReadonlyArray<string>): Promise<number> => {
  const t = performance.now();
  const out = await new Deno.Command(grood, { args: [...args], stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`grood ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return (performance.now() - t) / 1000;
};

const fitArgs = (threads: number, out: string) => [
  "fit",
  "--model",
  join(CHECKOUT, "fixtures/models/mnist"),
  "--train",
  "dataset:mnist:train",
  "--out",
  out,
  "--threads",
  String(threads),
];

/** Files whose bytes differ between two fitted folders, timestamps' files left out. */
const differing = async (a: string, b: string): Promise<Array<string>> => {
  const stamped = new Set([".grood-output", "detector.json"]);
  const found: Array<string> = [];
  const walk = async (rel: string) => {
    for await (const entry of Deno.readDir(join(a, rel))) {
      const path = join(rel, entry.name);
      if (entry.isDirectory) await walk(path);
      else if (!stamped.has(path)) {
        const [x, y] = await Promise.all([
          Deno.readFile(join(a, path)),
          Deno.readFile(join(b, path)),
        ]);
        if (x.length !== y.length || x.some((v, i) => v !== y[i])) found.push(path);
      }
    }
  };
  await walk("");
  return found;
};

const loadBefore = await uptime();
const seconds: Record<string, Array<number>> = { fit1: [], fit2: [], score1: [], score2: [] };
for (let round = 0; round < rounds; round++) {
  for (const threads of round % 2 === 0 ? [1, 2] : [2, 1]) {
    const out = join(work, `fit-${threads}-${round}`);
    seconds[`fit${threads}`]!.push(await timed(fitArgs(threads, out)));
  }
  for (const threads of round % 2 === 0 ? [1, 2] : [2, 1]) {
    const folder = join(work, "fit-1-0");
    const args = [
      "score",
      "--detector",
      folder,
      "--out",
      join(work, `s${threads}.csv`),
      "--overwrite",
    ];
    seconds[`score${threads}`]!.push(await timed([...args, "--threads", String(threads), pngs]));
  }
}
const mismatched = await differing(join(work, "fit-1-0"), join(work, "fit-2-0"));
const [rows1, rows2] = await Promise.all(
  [1, 2].map((threads) => Deno.readTextFile(join(work, `s${threads}.csv`))),
);
const best = (name: string) => Math.min(...seconds[name]!);
const result = {
  commit: await commitOf(),
  loadBefore,
  loadAfter: await uptime(),
  rounds,
  seconds,
  fitSpeedUp: best("fit1") / best("fit2"),
  scoreSpeedUp: best("score1") / best("score2"),
  fittedFilesDiffering: mismatched,
  scoreRowsIdentical: rows1 === rows2,
  date: new Date().toISOString(),
};
await Deno.remove(work, { recursive: true });
await mergeProductPaths("threads", () => result);
console.log(JSON.stringify(result, null, 2));
