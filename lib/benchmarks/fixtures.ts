/**
 * Where the committed fixture models (the built-in benchmarks' models) live; they are trained by
 * `trainFixture` (`apps/results/train_fixture.ts`).
 *
 * @module
 */
import { Effect } from "effect";
import { fileURLToPath } from "node:url";
import { type IoError, tryIo } from "../io/files.ts";

/**
 * The absolute folder of a dataset's fixture model: `fixtures/models/<dataset>` for seed 0,
 * `fixtures/models/<dataset>-seed<N>` for the same training with seed N (spreads over seeds).
 */
export const fixtureDir = (dataset: string, seed = 0): string =>
  fileURLToPath(
    new URL(`../../fixtures/models/${dataset}${seed === 0 ? "" : `-seed${seed}`}`, import.meta.url),
  );

/**
 * The seeds in 0..`maxSeed` with a fixture model of `dataset` (`model.json` and `metadata.json`),
 * ascending. A file that is absent means no fixture; any other failure to look is an `IoError`.
 */
export const fixtureSeeds = (
  dataset: string,
  maxSeed = 9,
): Effect.Effect<ReadonlyArray<number>, IoError> =>
  Effect.gen(function* () {
    const seeds: Array<number> = [];
    for (let seed = 0; seed <= maxSeed; seed++) {
      const dir = fixtureDir(dataset, seed);
      let complete = true;
      for (const file of ["model.json", "metadata.json"]) {
        const path = `${dir}/${file}`;
        complete &&= yield* tryIo(path, "look for the fixture file", async () => {
          try {
            return (await Deno.stat(path)).isFile;
          } catch (error) {
            if (
              error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory
            ) {
              return false;
            }
            throw error;
          }
        });
      }
      if (complete) seeds.push(seed);
    }
    return seeds;
  });
