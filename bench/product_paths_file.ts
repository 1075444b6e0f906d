/**
 * What the product-path benchmarks (`bench/product_paths.ts`, `extraction_pass.ts`,
 * `pipeline_features.ts`, `png_decode.ts`, `score_batches.ts`) share: the machine's load
 * (`uptime`), the commit measured, and `bench/product_paths.json`, into which each merges its
 * section.
 *
 * @module
 */
import { join, resolve } from "node:path";

/** The checkout these benchmarks belong to. */
export const CHECKOUT: string = resolve(new URL("..", import.meta.url).pathname);

const text = async (command: string, args: ReadonlyArray<string> = []): Promise<string> =>
  new TextDecoder().decode((await new Deno.Command(command, { args: [...args] }).output()).stdout)
    .trim();

/** `uptime`'s line: the load average beside each number written. */
export const uptime = (): Promise<string> => text("uptime");

/** The short commit of the checkout at `dir` (this one by default). */
export const commitOf = (dir: string = CHECKOUT): Promise<string> =>
  text("git", ["-C", dir, "rev-parse", "--short", "HEAD"]);

/**
 * Set `section` of `bench/product_paths.json` to `update(its value so far)`, keeping the other
 * sections; returns the new value.
 */
export async function mergeProductPaths<A>(
  section: string,
  update: (previous: unknown) => A,
): Promise<A> {
  const file = join(CHECKOUT, "bench/product_paths.json");
  const all = JSON.parse(await Deno.readTextFile(file).catch(() => "{}"));
  const value = update(all[section]);
  all[section] = value;
  await Deno.writeTextFile(file, JSON.stringify(all, null, 2) + "\n");
  return value;
}
