/**
 * Run a grood task as a user does from their own folder, as the README says: `deno task
 * --config <grood>/deno.json NAME …` with `cwd` as the working folder.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

/** What a task run printed, and how it exited. */
export interface TaskOutput {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run task `name` with `args` from `cwd`. */
export async function denoTask(
  cwd: string,
  name: string,
  args: ReadonlyArray<string>,
): Promise<TaskOutput> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--config", join(root, "deno.json"), name, ...args],
    cwd,
    // A shell in `cwd` has no INIT_CWD, or `deno task` sets it to `cwd`; under `npm test` the
    // inherited one names the checkout, and relative paths would resolve there.
    env: { NO_COLOR: "1", INIT_CWD: cwd },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}
