/**
 * Shared plumbing of the `deno task` entry points: run an Effect program with the compute
 * layer, print a failure as one readable line (its tagged error's message), set the exit code.
 *
 * @module
 */
import { resolve } from "node:path";
import { Cause, Effect, Exit, Layer } from "effect";
import { type BackendName, Compute, parseBackend } from "./compute/compute.ts";

/** Run a task's program; on failure print the error's message and exit with code 1. */
export async function runTask<A, E>(
  program: Effect.Effect<A, E, Compute>,
  backend?: string,
): Promise<A> {
  const parsed = parseBackend(backend);
  const layer: Layer.Layer<Compute, unknown> = Compute.layer(
    parsed === undefined ? (backend as BackendName) : parsed,
  );
  const exit = await Effect.runPromiseExit(Effect.provide(program, layer));
  if (Exit.isSuccess(exit)) return exit.value;
  const failure = exit.cause.reasons.find(Cause.isFailReason);
  const error = failure?.error;
  const text = error instanceof Error ? error.message : Cause.pretty(exit.cause);
  console.error(`error: ${text}`);
  Deno.exit(1);
}

/** Format seconds as `1m 23s` / `4.2s`. */
export function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  return `${Math.floor(seconds / 60)}m ${Math.round(seconds % 60)}s`;
}

/**
 * A path the user typed, made absolute. `deno task` runs tasks in the checkout's folder and
 * records where it was typed in `INIT_CWD`; relative paths are taken from there.
 */
export function invocationPath(path: string): string {
  return resolve(Deno.env.get("INIT_CWD") ?? Deno.cwd(), path);
}
