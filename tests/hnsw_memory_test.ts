/**
 * A disposed HNSW index gives its graph's native memory back at once, even while its objects
 * are still reachable (`dispose` deletes the native graph instead of waiting for V8 to collect
 * its object, which, measured, may not happen). With tests/fit_resources_test.ts (a failing or
 * interrupted fit disposes every index it built), this shows a failed fit leaves no graph
 * behind. Measured in child processes with `--expose-gc` (tests/hnsw_churn.ts), as anonymous
 * resident memory outside V8's heap, against two controls: graphs kept alive (the leak the measurement
 * must see, about 5 MiB a graph) and one-point graphs (the 2.5 MiB every live hnswlib graph
 * object costs until its finalizer runs, which `dispose` cannot free).
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("./hnsw_churn.ts", import.meta.url));
const ROUNDS = 30, WARM_UP = 9;
const GRAPHS = ROUNDS - 1 - WARM_UP;

/** Growth of resident memory outside V8's heap (MiB) over the last `GRAPHS` rounds. */
async function churn(mode: "dispose" | "keep" | "empty"): Promise<number> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--expose-gc", SCRIPT, String(ROUNDS), String(WARM_UP), mode],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  const { afterWarmUp, end } = JSON.parse(new TextDecoder().decode(output.stdout));
  return end - afterWarmUp;
}

Deno.test("disposed HNSW indexes release their graphs' native memory; kept ones do not", async () => {
  const disposed = await churn("dispose");
  const kept = await churn("keep");
  const empty = await churn("empty");
  const report = `${GRAPHS} graphs: disposed +${disposed.toFixed(1)} MiB, kept +${
    kept.toFixed(1)
  }, one-point +${empty.toFixed(1)}`;
  // Measured: kept ≈ 97 MiB, disposed ≈ one-point ≈ 50 MiB.
  assert.ok(kept - empty > 2 * GRAPHS, `the measurement sees no kept graph: ${report}`);
  // One-sided, with room for noise: a dispose that frees nothing leaves disposed ≈ kept.
  assert.ok(disposed - empty < (kept - empty) / 2, `disposed graphs stay: ${report}`);
});
