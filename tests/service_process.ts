/**
 * What the tests that start the service as a process share (`serve_signals_test.ts`,
 * `serve_replicas_test.ts`): a process whose output is collected as text, a bounded wait for a
 * line of that output, the processes a marker names, and one MNIST test digit as PNG bytes.
 *
 * @module
 */
import { Effect } from "effect";
import sharp from "sharp";
import { loadSplit } from "../lib/data/datasets.ts";

/** A started process, its stdout and stderr so far (as one text) and its exit status. */
export interface Spawned {
  readonly child: Deno.ChildProcess;
  readonly output: () => string;
  /** The process's exit status (its output may still be open in processes it started). */
  readonly exited: Promise<Deno.CommandStatus>;
}

/** Pids of processes whose command line mentions `marker` (this test process excepted). */
export function pidsMentioning(marker: string): Array<number> {
  const pids: Array<number> = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name) || Number(entry.name) === Deno.pid) continue;
    try {
      if (Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).includes(marker)) {
        pids.push(Number(entry.name));
      }
    } catch {
      // gone
    }
  }
  return pids;
}

/** Send `signal` (SIGKILL by default) to `pid`, if it still runs. */
export function kill(pid: number, signal: Deno.Signal = "SIGKILL"): void {
  try {
    Deno.kill(pid, signal);
  } catch {
    // gone
  }
}

/** `undefined` after `ms` of real time (to race against a promise). */
export const sleep = (ms: number): Promise<undefined> =>
  new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms));

/** Start `command args` in `cwd` (no colours) and collect its output. */
export function spawnCollecting(
  command: string,
  args: ReadonlyArray<string>,
  cwd: string,
): Spawned {
  const child = new Deno.Command(command, {
    args: [...args],
    cwd,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoderStream() as TransformStream<Uint8Array, string>;
    for await (const chunk of stream.pipeThrough(decoder)) text += chunk;
  };
  void Promise.all([drain(child.stdout), drain(child.stderr)]).catch(() => {});
  return { child, output: () => text, exited: child.status };
}

/**
 * The first match of `pattern` in the output of `process`, waited for at most `ms`: fails
 * naming `what` and the output when the process exits first or the time is up (it is killed
 * then).
 */
export async function waitForOutput(
  process: Spawned,
  pattern: RegExp,
  ms: number,
  what: string,
): Promise<RegExpExecArray> {
  const deadline = Date.now() + ms;
  for (;;) {
    const match = pattern.exec(process.output());
    if (match !== null) return match;
    if (Date.now() > deadline) {
      process.child.kill("SIGKILL");
      throw new Error(`${what} not within ${ms / 1000} s: ${process.output()}`);
    }
    const done = await Promise.race([process.exited, sleep(50)]);
    if (done !== undefined) {
      throw new Error(`the process exited before ${what}: ${process.output()}`);
    }
  }
}

/** The first MNIST test digit as PNG bytes. */
export const digitPng = async (): Promise<Uint8Array<ArrayBuffer>> =>
  new Uint8Array(
    await sharp(
      (await Effect.runPromise(loadSplit("mnist", "test"))).pixels.slice(0, 784),
      { raw: { width: 28, height: 28, channels: 1 } },
    ).png().toBuffer(),
  );
