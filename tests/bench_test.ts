/**
 * The quick bench runs as a user runs it (`deno task bench --quick`), in a subprocess, on the
 * scale section: the untimed fit, the real query descriptors, the scale table's child
 * processes, and both result files.
 */
import assert from "node:assert/strict";
import { join } from "node:path";

/**
 * Run `deno task bench --quick --runs 1 --only <sections>` into a temporary folder, assert it
 * succeeded, hand its `results.json` (parsed) and the folder to `check`, then remove the folder.
 */
const quickBench = async (
  sections: string,
  check: (results: ReturnType<typeof JSON.parse>, dir: string) => Promise<void> | void,
) => {
  const dir = await Deno.makeTempDir({ prefix: "grood-bench-test-" });
  try {
    const out = join(dir, "results.json");
    const result = await new Deno.Command(Deno.execPath(), {
      args: ["task", "bench", "--quick", "--runs", "1", "--only", sections, "--out", out],
      cwd: new URL("..", import.meta.url),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(result.stdout);
    const stderr = new TextDecoder().decode(result.stderr);
    assert.equal(result.code, 0, `${stdout}\n${stderr}`);
    await check(JSON.parse(await Deno.readTextFile(out)), dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
};

Deno.test("deno task bench --quick --only scale writes its figures and the scale table", () =>
  quickBench("scale", async (results, dir) => {
    assert.equal(results.format, "grood-bench");
    assert.equal(results.mode, "quick");
    assert.ok(
      results.load.length >= 2 &&
        results.load.every((l: { loadavg: number[] }) => l.loadavg.length === 3),
    );
    const scale = JSON.parse(await Deno.readTextFile(join(dir, "results-scale.json")));
    assert.equal(scale.format, "grood-bench-scale");
    assert.equal(scale.complete, true);
    // Every set of the quick plan (the real descriptors, 2 sizes × 2 dimensions), each method.
    const labels = new Set(scale.rows.map((r: { label: string }) => r.label));
    assert.equal(labels.size, 5, [...labels].join(", "));
    for (const row of scale.rows) {
      assert.equal(
        row.outcome.status,
        "done",
        `${row.label} ${row.method}: ${JSON.stringify(row.outcome)}`,
      );
      if (row.method === "exact") assert.equal(row.outcome.measurement.recall1, 1);
      if (["hnsw", "usearch", "usearch-f16"].includes(row.method)) {
        assert.ok(row.outcome.measurement.recall1 >= 0.9, `${row.label} ${row.method}`);
      }
      assert.ok(typeof row.load.loaded === "boolean");
    }
    assert.match(scale.markdown, /\| set \| method \| build/);
    assert.equal(results.figures.length, scale.figures.length);
    // Every figure carries the load it was measured under.
    for (const f of [...results.figures, ...scale.figures]) {
      assert.equal(f.loadavg.length, 3, f.id);
      assert.equal(typeof f.loaded, "boolean", f.id);
    }
  }));

Deno.test("deno task bench --quick --only scoring,fit-memory: both engines, both indexes, the bounded-memory fit, each target written", () =>
  quickBench("scoring,fit-memory", (results) => {
    const byId = new Map<string, { target: unknown; met: boolean | null; median: number }>(
      results.figures.map((f: { id: string }) => [f.id, f]),
    );
    // Every issue-13 ratio of the scoring section, on each engine, carries its target.
    for (const engine of ["tfjs", "onnx"]) {
      for (const way of ["msp", "exact", "hnsw"]) {
        assert.ok(byId.get(`score.${engine}.${way}`)!.median > 0, `${engine} ${way}`);
      }
      for (const ratio of ["ratio_exact", "ratio_hnsw"]) {
        const f = byId.get(`score.${engine}.${ratio}`)!;
        assert.notEqual(f.target, null, ratio);
        assert.equal(typeof f.met, "boolean", ratio);
      }
    }
    assert.ok(byId.get("score.hnsw_recall1")!.median > 0.9);
    // The bounded-memory fit: both sizes measured, the growth figure with its target.
    for (const label of ["3k", "30k"]) {
      assert.ok(byId.get(`fit_memory.${label}.peak_rss`)!.median > 0);
    }
    const growth = byId.get("fit_memory.growth_over_index")!;
    assert.notEqual(growth.target, null);
    assert.ok(Number.isFinite(growth.median));
    assert.equal(results.details.fitMemory.length, 2);
    assert.ok(results.details.fitMemory[1].indexed > 0.9 * 30_000, "most synthetic images indexed");
  }));
