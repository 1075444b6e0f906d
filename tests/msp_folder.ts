/**
 * A fitted MSP detector folder for the tests that start the service as a process: `deno task
 * fit` run on 2,000 MNIST training digits (a held-out share is the ID validation, at least 5 per
 * class) with the committed ONNX model, written into `<dir>/detector`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeDigitSet } from "./digit_sets.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

/** Fit MSP into `<dir>/detector` (the digits are written to `<dir>/digits.npy`); its path. */
export async function fitMspFolder(dir: string): Promise<string> {
  await writeDigitSet(dir, "digits", 0, 2000);
  const fit = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--config",
      join(root, "deno.json"),
      join(root, "tasks/fit.ts"),
      "--model",
      join(root, "fixtures/models/foreign/foreign.onnx"),
      "--train",
      "digits.npy",
      "--detector",
      "msp",
      "--out",
      "detector",
    ],
    cwd: dir,
    env: { NO_COLOR: "1", INIT_CWD: dir },
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(fit.code, 0, new TextDecoder().decode(fit.stderr));
  return join(dir, "detector");
}
