/**
 * Where the committed fixture models live: `fixtures/models/<dataset>` (seed 0) and
 * `fixtures/models/<dataset>-seed<N>`. How they are trained is `trainFixture`
 * (`lib/pipeline/train_fixture.ts`).
 *
 * @module
 */
import { fileURLToPath } from "node:url";

/**
 * The folder of a dataset's fixture model (absolute, so scripts and notebooks run anywhere):
 * `fixtures/models/<dataset>` for the training seed 0, `fixtures/models/<dataset>-seed<N>` for
 * the models trained the same way with seed N (for spreads over seeds).
 */
export const fixtureDir = (dataset: string, seed = 0): string =>
  fileURLToPath(
    new URL(`../../fixtures/models/${dataset}${seed === 0 ? "" : `-seed${seed}`}`, import.meta.url),
  );

/**
 * The training seeds with a fixture model of `dataset` (a folder holding `model.json` and
 * `metadata.json`), ascending; seed 0 first. Seeds 0..`maxSeed` are looked for.
 */
export async function fixtureSeeds(dataset: string, maxSeed = 9): Promise<ReadonlyArray<number>> {
  const seeds: Array<number> = [];
  for (let seed = 0; seed <= maxSeed; seed++) {
    const dir = fixtureDir(dataset, seed);
    const present = await Promise.all(
      ["model.json", "metadata.json"].map((file) =>
        Deno.stat(`${dir}/${file}`).then((info) => info.isFile, () => false)
      ),
    );
    if (present.every(Boolean)) seeds.push(seed);
  }
  return seeds;
}
