/**
 * The numeric settings of a fitted folder's manifest, checked on load against what the
 * detector's own spec takes, naming the setting.
 *
 * @module
 */
import { Effect } from "effect";
import type { StateProblem } from "./persist.ts";

/**
 * The number `settings[key]`, refused on load (naming the setting) unless it is a finite number
 * that passes `valid` (what it must be, e.g. `a whole number ≥ 1`): a setting the detector's
 * own spec would refuse must not wait for the first image to fail every score.
 */
export const numberSetting = (
  settings: Readonly<Record<string, string | number | boolean>>,
  key: string,
  valid: readonly [string, (value: number) => boolean],
): Effect.Effect<number, StateProblem> => {
  const value = settings[key];
  return typeof value === "number" && Number.isFinite(value) && valid[1](value)
    ? Effect.succeed(value)
    : Effect.fail({
      array: `settings.${key}`,
      problem: `expected ${valid[0]}, found ${JSON.stringify(value) ?? "nothing"}`,
    });
};

/** A whole number ≥ 1 (k, IVF lists and nprobe). */
export const WHOLE = [
  "a whole number ≥ 1",
  (v: number) => Number.isSafeInteger(v) && v >= 1,
] as const;
/** A positive number (a temperature). */
export const POSITIVE = ["a positive number", (v: number) => v > 0] as const;
