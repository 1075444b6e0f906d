/**
 * A timer for any delay. `setTimeout` holds its delay in a signed 32-bit count of milliseconds:
 * a longer one (`--body-timeout-seconds 1e7`, about 116 days) fires after 1 ms instead, with only
 * a warning. The service's waits whose length a user sets go through {@link after}, which waits
 * a longer delay in steps (as Effect's own clock does), so a long timeout is long, never capped.
 *
 * @module
 */

/** The longest delay one `setTimeout` waits (2³¹ − 1 ms, about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Call `f` once `ms` milliseconds have passed; returns a cancel (a no-op once `f` ran).
 *
 * @example
 * ```ts
 * import { after } from "./timer.ts";
 *
 * const cancel = after(40 * 24 * 3600 * 1000, () => console.log("40 days later"));
 * cancel();
 * ```
 */
export function after(ms: number, f: () => void): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = (left: number) => {
    timer = setTimeout(
      () => (left > MAX_TIMER_MS ? arm(left - MAX_TIMER_MS) : f()),
      Math.min(left, MAX_TIMER_MS),
    );
  };
  arm(ms);
  return () => clearTimeout(timer);
}

/** `promise`'s value, or `undefined` if `ms` milliseconds pass first; the timer never outlives it. */
export function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let cancel = () => {};
  const late = new Promise<undefined>((resolve) => (cancel = after(ms, () => resolve(undefined))));
  return Promise.race([promise, late]).finally(() => cancel());
}
