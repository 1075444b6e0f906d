/**
 * What `effect/cli` needs to run a command (`Command.Environment`), on Deno: the arguments and
 * standard streams (`Stdio`), the terminal's width (`Terminal`), paths (`Path`). grood's
 * command line reads no file through `effect/cli` (every task checks its own paths with
 * Schema), spawns nothing through it and never prompts, so the file system and the process
 * spawner are ones that refuse (`FileSystem.layerNoop`), and reading the terminal is refused
 * by name.
 *
 * @module
 */
import { Effect, FileSystem, Layer, Path, Sink, Stdio, Stream, Terminal } from "effect";
import type { Command } from "effect/cli";
import { ChildProcessSpawner } from "effect/process";

const encoder = new TextEncoder();

/** Write all of `chunk` to `file` (`Deno.stdout` or `Deno.stderr`), synchronously. */
const writeAll = (file: typeof Deno.stdout | typeof Deno.stderr, chunk: string | Uint8Array) => {
  let bytes = typeof chunk === "string" ? encoder.encode(chunk) : chunk;
  while (bytes.length > 0) bytes = bytes.subarray(file.writeSync(bytes));
};

/** A sink writing every chunk to `file`. */
const writer = (file: typeof Deno.stdout | typeof Deno.stderr) => () =>
  Sink.forEach((chunk: string | Uint8Array) => Effect.sync(() => writeAll(file, chunk)));

/** grood's command line asks nothing interactively: these fail loudly if that ever changes. */
const noPrompt = Effect.die(
  new Error("grood's command line does not read from the terminal (no prompts, no wizard)"),
);

/** `effect/cli`'s environment on Deno, with `argv` as the command line. */
export const denoCliEnvironment = (
  argv: ReadonlyArray<string>,
): Layer.Layer<Command.Environment> =>
  Layer.mergeAll(
    Path.layer,
    FileSystem.layerNoop({}),
    Layer.succeed(
      Stdio.Stdio,
      Stdio.make({
        args: Effect.succeed(argv),
        stdout: writer(Deno.stdout),
        stderr: writer(Deno.stderr),
        stdin: Stream.empty,
        stdinIsTerminal: Effect.sync(() => Deno.stdin.isTerminal()),
        stdoutIsTerminal: Effect.sync(() => Deno.stdout.isTerminal()),
        stderrIsTerminal: Effect.sync(() => Deno.stderr.isTerminal()),
      }),
    ),
    Layer.succeed(
      Terminal.Terminal,
      Terminal.make({
        columns: Effect.sync(() => Deno.stdout.isTerminal() ? Deno.consoleSize().columns : 100),
        rows: Effect.sync(() => Deno.stdout.isTerminal() ? Deno.consoleSize().rows : 24),
        size: noPrompt,
        readInput: noPrompt,
        readLine: noPrompt,
        display: (text) => Effect.sync(() => writeAll(Deno.stdout, text)),
      }),
    ),
    Layer.succeed(
      ChildProcessSpawner.ChildProcessSpawner,
      ChildProcessSpawner.make(() =>
        Effect.die(new Error("grood's command line spawns no process through effect/cli"))
      ),
    ),
  );
