/**
 * `docs/claims.md` stays honest: every claim has one of the three verdicts, every measured
 * number it quotes (a `mean ± sd` over seeds) is one the results tables of `docs/results.md` hold
 * (a benchmark's column, one of that benchmark's tables), the README's summary quotes only
 * spreads those tables hold, and, in a checkout where `deno task reproduce` ran for a benchmark,
 * every `mean ± sd` of that benchmark's section of `docs/results.md` is one the run wrote into
 * `results/<benchmark>/seeds.md`.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const root = (path: string) => fileURLToPath(new URL(`../${path}`, import.meta.url));
const VERDICTS = ["holds here", "does not hold here", "cannot be tested offline"];
/** A measured spread as the tables print it: `88.85 ± 1.23` (a sign allowed on the mean). */
const SPREAD = /[−-]?\d+\.\d{2} ± (?:\d+\.\d{2}|–)/g;

const claims = await Deno.readTextFile(root("docs/claims.md"));
const readme = await Deno.readTextFile(root("README.md"));
const resultsPage = await Deno.readTextFile(root("docs/results.md"));
/** The results section of `docs/results.md`: from its heading to the next second-level heading. */
const results = resultsPage.slice(
  resultsPage.indexOf("## Results"),
  resultsPage.indexOf("\n## ", resultsPage.indexOf("## Results") + 1),
);
/** Normalise the minus sign, so `−1.20` in prose matches `-1.20` in a table. */
const norm = (text: string) => text.replaceAll("−", "-");
const spreads = (text: string) => (norm(text).match(SPREAD) ?? []).map(norm);

/**
 * The results section's per-benchmark subsections, `### <benchmark>: …` up to the next
 * third-level heading, by benchmark name.
 */
const benchmarkSections = new Map(
  results.split(/\n(?=### )/).flatMap((part) => {
    const name = /^### ([\w-]+):/.exec(part)?.[1];
    return name === undefined ? [] : [[name, part] as const];
  }),
);

Deno.test("docs/results.md's results section has a subsection for each benchmark with seeds", () => {
  assert.deepEqual([...benchmarkSections.keys()].sort(), ["fashion-mnist", "mnist"]);
  for (const [name, section] of benchmarkSections) {
    assert.ok(spreads(section).length >= 50, `${name}: ${spreads(section).length} spreads`);
  }
});

/** The claims table's rows as trimmed cells, header first. */
const claimRows = claims.split("\n")
  .filter((line) => /^\| *(#|C\d+) /.test(line))
  .map((line) => line.split("|").slice(1, -1).map((cell) => cell.trim()));

Deno.test("docs/claims.md: every claim row ends in one of the three verdicts", () => {
  const rows = claimRows.slice(1);
  assert.ok(rows.length >= 8, `${rows.length} claim rows`);
  for (const cells of rows) {
    const verdict = cells.at(-1)!.replaceAll("*", "");
    assert.ok(
      VERDICTS.some((v) => verdict.startsWith(v)),
      `verdict "${verdict}" of ${cells[0]}`,
    );
  }
});

Deno.test("docs/claims.md quotes only spreads the results tables hold", () => {
  const quoted = spreads(claims);
  assert.ok(quoted.length >= 8, `${quoted.length} spreads quoted`);
  const held = new Set(spreads(results));
  for (const spread of quoted) {
    assert.ok(held.has(spread), `${spread} is not in docs/results.md's results section`);
  }
});

Deno.test("docs/claims.md: a benchmark's column quotes that benchmark's results section", () => {
  const header = claimRows[0] ?? [];
  const columns = header.flatMap((cell, i) => {
    const name = /^([\w-]+):/.exec(cell)?.[1];
    return name !== undefined && benchmarkSections.has(name) ? [[name, i] as const] : [];
  });
  assert.deepEqual(columns.map(([name]) => name).sort(), ["fashion-mnist", "mnist"]);
  for (const [name, i] of columns) {
    const held = new Set(spreads(benchmarkSections.get(name)!));
    const quoted = claimRows.slice(1).flatMap((cells) => spreads(cells[i] ?? ""));
    assert.ok(quoted.length >= 8, `${name}: ${quoted.length} spreads quoted`);
    for (const spread of quoted) {
      assert.ok(
        held.has(spread),
        `${name} column's ${spread} is not in docs/results.md's ${name} section`,
      );
    }
  }
});

Deno.test("docs/results.md's commentary quotes only spreads its benchmark sections hold", () => {
  const held = new Set([...benchmarkSections.values()].flatMap(spreads));
  const commentary = results.split(/\n(?=### )/)
    .filter((part) => !/^### [\w-]+:/.test(part))
    .join("\n");
  for (const spread of spreads(commentary)) {
    assert.ok(held.has(spread), `${spread} is in no benchmark section of docs/results.md`);
  }
});

Deno.test("README's headline table quotes only spreads of docs/results.md's benchmark sections", () => {
  const held = new Set([...benchmarkSections.values()].flatMap(spreads));
  const quoted = spreads(readme);
  assert.ok(quoted.length >= 8, `${quoted.length} spreads in the README`);
  for (const spread of quoted) {
    assert.ok(held.has(spread), `README's ${spread} is in no benchmark section of docs/results.md`);
  }
});

/** Benchmarks whose `deno task reproduce` ran in this checkout (results/ is not committed). */
const reproduced = [...benchmarkSections.keys()].filter((name) => {
  try {
    return Deno.statSync(root(`results/${name}/seeds.md`)).isFile;
  } catch {
    return false;
  }
});

for (const name of benchmarkSections.keys()) {
  Deno.test({
    name:
      `docs/results.md's ${name} spreads are those of this checkout's last reproduce of ${name}`,
    // Only a checkout that ran reproduce for this benchmark can check this.
    ignore: !reproduced.includes(name),
    fn: async () => {
      const written = new Set(spreads(await Deno.readTextFile(root(`results/${name}/seeds.md`))));
      for (const spread of spreads(benchmarkSections.get(name)!)) {
        assert.ok(
          written.has(spread),
          `docs/results.md's ${spread} is in no results/${name}/seeds.md`,
        );
      }
    },
  });
}
