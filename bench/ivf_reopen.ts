/**
 * What opening a fitted folder of GROOD with the IVF index costs for its index (`lib/fitted/
 * ivf_state.ts`): the IVF index over `rows` × `dim` descriptors built as the fit builds it
 * (k-means, nprobe calibrated), as the folder rebuilds it (its saved centroids and nprobe: no
 * k-means, no calibration), as a rebuild from the settings alone would (k-means with the same
 * seed, nprobe given), and the exact index over the same points, for scale. The descriptors are
 * synthetic (seeded): `classes` Gaussian clusters, as GROOD's descriptors cluster by class.
 *
 *   deno run -A bench/ivf_reopen.ts [--rows 60000] [--dim 64] [--repeats 3] [--out FILE]
 *
 * Median seconds of `repeats` runs each; merged into `--out` (default `bench/ivf_reopen.json`)
 * under `runs.<rows>x<dim>`, with the commit and `uptime` before and after.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join, resolve } from "node:path";
import { Effect } from "effect";
import { Knn } from "../mod.ts";

const { values } = parseArgs({
  options: {
    rows: { type: "string" },
    dim: { type: "string" },
    repeats: { type: "string" },
    out: { type: "string" },
  },
});
const rows = Number(values.rows ?? 60000);
const dim = Number(values.dim ?? 64);
const repeats = Number(values.repeats ?? 3);
const classes = 10;
const here = resolve(new URL("..", import.meta.url).pathname);
const out = values.out ?? join(here, "bench/ivf_reopen.json");
const text = async (command: string, args: Array<string>) =>
  new TextDecoder().decode((await new Deno.Command(command, { args }).output()).stdout).trim();

const commit = await text("git", ["-C", here, "rev-parse", "--short", "HEAD"]);
const loadBefore = await text("uptime", []);

// Seeded clustered points: a centre per class, each point its class's centre plus noise.
let state = 0;
/** mulberry32 as `lib/random.ts` has it (seed 0): uniform in [0, 1). */
const random = () => {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const gaussian = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
const centres = Float64Array.from({ length: classes * dim }, () => 3 * gaussian());
const data = new Float32Array(rows * dim);
for (let i = 0; i < rows; i++) {
  const c = i % classes;
  for (let j = 0; j < dim; j++) data[i * dim + j] = centres[c * dim + j]! + gaussian();
}
const points = { rows, cols: dim, data };

/** Median seconds of `repeats` builds (each index disposed after). */
const timed = async (build: () => Effect.Effect<Knn.NearestNeighbourIndex, unknown>) => {
  const seconds: Array<number> = [];
  for (let r = 0; r < repeats; r++) {
    const started = performance.now();
    const index = await Effect.runPromise(build());
    seconds.push((performance.now() - started) / 1000);
    index.dispose();
  }
  seconds.sort((a, b) => a - b);
  return Math.round(seconds[Math.floor(seconds.length / 2)]! * 1000) / 1000;
};

const fitted = await Effect.runPromise(Knn.ivfIndex(points, { seed: 0 }));
const { lists, nprobe } = fitted.ivf;
const centroids = fitted.centroids.slice();
fitted.dispose();
const run = {
  commit,
  command: `deno run -A bench/ivf_reopen.ts --rows ${rows} --dim ${dim} --repeats ${repeats}`,
  loadBefore,
  rows,
  dim,
  lists,
  nprobe,
  fitBuildSeconds: await timed(() => Knn.ivfIndex(points, { seed: 0 })),
  openFromCentroidsSeconds: await timed(() => Knn.ivfIndex(points, { lists, nprobe, centroids })),
  rebuildFromSettingsSeconds: await timed(() => Knn.ivfIndex(points, { lists, nprobe, seed: 0 })),
  exactBuildSeconds: await timed(() => Knn.exactIndex(points)),
  loadAfter: await text("uptime", []),
};
console.log(JSON.stringify(run, null, 2));
const previous = await Deno.readTextFile(out).then(JSON.parse).catch(() => ({}));
await Deno.writeTextFile(
  out,
  JSON.stringify(
    {
      description: "Seconds to build GROOD's IVF index as the fit does (k-means, nprobe " +
        "calibrated), as a fitted folder reopens it (saved centroids and nprobe), as a rebuild " +
        "from the settings would (k-means, nprobe given), and the exact index " +
        "(bench/ivf_reopen.ts).",
      ...previous,
      runs: { ...previous.runs, [`${rows}x${dim}`]: run },
    },
    null,
    2,
  ) + "\n",
);
