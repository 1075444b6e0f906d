/**
 * Measurement helpers of the benchmark harness (`tasks/bench.ts`): wall-clock timing of
 * Effects, repeated runs after a warm-up with their median, and peak resident memory.
 *
 * Why a warm-up: the first run of anything on tfjs pays for compiling kernels, growing the
 * wasm heap and V8's optimisation of the hot loops; that is start-up, not steady speed.
 * Why the median: the machine is shared (other engineers' jobs), and the median ignores a run
 * that a background job slowed down, where the mean would not.
 *
 * @module
 */
import { Effect } from "effect";

/** The median of some numbers (mean of the two middle ones for an even count; NaN if empty). */
export function median(values: ReadonlyArray<number>): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Run `effect` and return its value with the wall-clock seconds it took. */
export const timed = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
): Effect.Effect<{ readonly seconds: number; readonly value: A }, E, R> =>
  Effect.suspend(() => {
    const started = performance.now();
    return Effect.map(effect, (value) => ({
      seconds: (performance.now() - started) / 1000,
      value,
    }));
  });

/** How many runs to make. */
export interface RunPlan {
  /** Untimed runs first (default 1). */
  readonly warmup?: number;
  /** Timed runs (at least 1). */
  readonly runs: number;
}

/** The seconds of each timed run, their median, and the value of the last run. */
export interface Repeated<A> {
  readonly seconds: ReadonlyArray<number>;
  readonly median: number;
  readonly last: A;
}

/**
 * Run `make()` `warmup` times untimed, then `runs` times timed. A fresh effect per run (from
 * `make`) so no run reuses another's result; a full GC (when `--v8-flags=--expose-gc` made
 * one available) before each timed run, so one run's garbage is not collected in the next.
 */
export const repeat = <A, E, R>(
  plan: RunPlan,
  make: (run: number) => Effect.Effect<A, E, R>,
): Effect.Effect<Repeated<A>, E, R> =>
  Effect.gen(function* () {
    for (let i = 0; i < (plan.warmup ?? 1); i++) yield* make(-1 - i);
    const seconds: Array<number> = [];
    let last: A | undefined;
    for (let i = 0; i < Math.max(1, plan.runs); i++) {
      collectGarbage();
      const result = yield* timed(make(i));
      seconds.push(result.seconds);
      last = result.value;
    }
    return { seconds, median: median(seconds), last: last as A };
  });

/** A full garbage collection, when the process was started with `--expose-gc`. */
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/**
 * Peak resident memory of this process (workers included: Deno workers are threads of it).
 *
 * Two sources, and the larger wins, because each can miss a peak: `Deno.memoryUsage().rss`
 * sampled on a timer and at every explicit `sample()` (a long synchronous stretch blocks the
 * timer), and on Linux the kernel's high-water mark (`VmHWM` in `/proc/self/status`, which
 * `reset()` rewinds to the current RSS by writing 5 to `/proc/self/clear_refs`). The kernel
 * updates that mark lazily (on unmaps, not on every page fault), so memory that grows and is
 * returned between two of those events escapes it; in practice the sampler saw the higher
 * peak of GROOD's fit.
 */
export interface PeakMemory {
  /** Record the current RSS now (call at stage boundaries). */
  readonly sample: () => void;
  /** Start a new window: forget the samples, rewind the kernel's high-water mark. */
  readonly reset: () => void;
  /** Peak RSS in bytes since the last reset, and which source gave it. */
  readonly peak: () => { readonly bytes: number; readonly source: "VmHWM" | "sampled" };
  /** Stop the timer. */
  readonly stop: () => void;
}

/** Bytes of the `VmHWM` line of `/proc/self/status`, or undefined off Linux. */
function kernelHighWaterMark(): number | undefined {
  try {
    const line = Deno.readTextFileSync("/proc/self/status").split("\n")
      .find((l) => l.startsWith("VmHWM:"));
    const kib = line === undefined ? NaN : Number(line.replace(/[^0-9]/g, ""));
    return Number.isFinite(kib) ? kib * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Start tracking peak memory, sampling every `intervalMs` (default 50 ms). */
export function trackPeakMemory(intervalMs = 50): PeakMemory {
  let sampled = 0;
  let kernelResets = true;
  const sample = () => {
    sampled = Math.max(sampled, Deno.memoryUsage().rss);
  };
  const reset = () => {
    sampled = 0;
    try {
      Deno.writeTextFileSync("/proc/self/clear_refs", "5");
    } catch {
      kernelResets = false; // not Linux, or no permission: VmHWM would be the process peak
    }
    sample();
  };
  reset();
  const timer = setInterval(sample, intervalMs);
  return {
    sample,
    reset,
    peak: () => {
      sample();
      const kernel = kernelResets ? kernelHighWaterMark() : undefined;
      return kernel !== undefined && kernel >= sampled
        ? { bytes: kernel, source: "VmHWM" }
        : { bytes: sampled, source: "sampled" };
    },
    stop: () => clearInterval(timer),
  };
}
