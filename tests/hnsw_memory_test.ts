/**
 * A disposed HNSW index gives its native memory back at once (`dispose` deletes the native
 * graph instead of waiting for V8 to collect its object, which, measured, may not happen). With
 * tests/fit_resources_test.ts (a failing or interrupted fit disposes every index it built),
 * this shows a failed fit leaves no native memory behind. Measured in a child process with
 * `--expose-gc`; the control run keeps every index, so the test also shows the measurement
 * sees a leak of this size (about 5 MiB an index).
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("./hnsw_churn.ts", import.meta.url));
const ROUNDS = 30, WARM_UP = 9;

async function churn(mode: "dispose" | "keep"): Promise<{ afterWarmUp: number; end: number }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--expose-gc", SCRIPT, String(ROUNDS), String(WARM_UP), mode],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  return JSON.parse(new TextDecoder().decode(output.stdout));
}

Deno.test("disposed HNSW indexes release their native memory; kept ones do not", async () => {
  const disposed = await churn("dispose");
  const kept = await churn("keep");
  const indexes = ROUNDS - 1 - WARM_UP;
  const keptGrowth = kept.end - kept.afterWarmUp;
  const disposedGrowth = disposed.end - disposed.afterWarmUp;
  // Control: 20 live graphs of 5,000 × 64 points hold about 100 MiB.
  assert.ok(
    keptGrowth > 2 * indexes,
    `kept: ${keptGrowth.toFixed(1)} MiB for ${indexes} indexes`,
  );
  assert.ok(
    disposedGrowth < keptGrowth / 10,
    `disposed: ${disposedGrowth.toFixed(1)} MiB over ${indexes} indexes (kept: ${
      keptGrowth.toFixed(1)
    })`,
  );
});
