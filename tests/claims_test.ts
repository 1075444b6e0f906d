/**
 * `docs/claims.md` stays honest: every claim has one of the three verdicts, every measured
 * number it quotes (a `mean ± sd` over seeds) is one the README's results tables hold, and, in a
 * checkout where `deno task reproduce` ran, every `mean ± sd` of the README's results section is
 * one the run wrote into `results/<benchmark>/seeds.md`.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const root = (path: string) => fileURLToPath(new URL(`../${path}`, import.meta.url));
const VERDICTS = ["holds here", "does not hold here", "cannot be tested offline"];
/** A measured spread as the tables print it: `88.85 ± 1.23` (a sign allowed on the mean). */
const SPREAD = /[−-]?\d+\.\d{2} ± (?:\d+\.\d{2}|–)/g;

const claims = await Deno.readTextFile(root("docs/claims.md"));
const readme = await Deno.readTextFile(root("README.md"));
/** The README's results section: from its heading to the next second-level heading. */
const results = readme.slice(
  readme.indexOf("## Results"),
  readme.indexOf("\n## ", readme.indexOf("## Results") + 1),
);
/** Normalise the minus sign, so `−1.20` in prose matches `-1.20` in a table. */
const norm = (text: string) => text.replaceAll("−", "-");

Deno.test("docs/claims.md: every claim row ends in one of the three verdicts", () => {
  const rows = claims.split("\n").filter((line) => /^\| *C\d+/.test(line));
  assert.ok(rows.length >= 8, `${rows.length} claim rows`);
  for (const row of rows) {
    const cells = row.split("|").map((c) => c.trim()).filter((c) => c !== "");
    const verdict = cells.at(-1)!.replaceAll("*", "");
    assert.ok(
      VERDICTS.some((v) => verdict.startsWith(v)),
      `verdict "${verdict}" of ${cells[0]}`,
    );
  }
});

Deno.test("docs/claims.md quotes only spreads the README's results tables hold", () => {
  const quoted = claims.match(SPREAD) ?? [];
  assert.ok(quoted.length >= 8, `${quoted.length} spreads quoted`);
  const held = new Set((norm(results).match(SPREAD) ?? []).map(norm));
  for (const spread of quoted) {
    assert.ok(held.has(norm(spread)), `${spread} is not in the README's results section`);
  }
});

const seedFiles = [...Deno.readDirSync(root("."))].some((e) => e.name === "results")
  ? [...Deno.readDirSync(root("results"))]
    .filter((e) => e.isDirectory)
    .map((e) => root(`results/${e.name}/seeds.md`))
    .filter((path) => {
      try {
        return Deno.statSync(path).isFile;
      } catch {
        return false;
      }
    })
  : [];

Deno.test({
  name: "README's spreads are those of this checkout's last `deno task reproduce`",
  // results/ is not committed: only a checkout that ran reproduce can check this.
  ignore: seedFiles.length === 0,
  fn: async () => {
    const written = new Set<string>();
    for (const path of seedFiles) {
      for (const spread of norm(await Deno.readTextFile(path)).match(SPREAD) ?? []) {
        written.add(spread);
      }
    }
    for (const spread of norm(results).match(SPREAD) ?? []) {
      assert.ok(written.has(spread), `README's ${spread} is in no results/*/seeds.md`);
    }
  },
});
