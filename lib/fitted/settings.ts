/**
 * The checks, on load, of a fitted folder's settings and state arrays: each refusal names the
 * setting or array, so a setting or array the detector's own spec would refuse does not wait
 * for the first image to fail every score.
 *
 * @module
 */
import { Effect } from "effect";
import type { NearestNeighbourIndex } from "../knn/mod.ts";
import { type Matrix, matrix } from "../matrix.ts";
import type { StateArray, StateProblem } from "./persist.ts";

/** Fail naming `array` (a state array, `spec`, `settings` or `settings.<key>`). */
export const problem = (array: string, text: string): Effect.Effect<never, StateProblem> =>
  Effect.fail({ array, problem: text });

/** The number `settings[key]`, refused unless finite and `valid` (e.g. `a whole number ≥ 1`). */
export const numberSetting = (
  settings: Readonly<Record<string, string | number | boolean>>,
  key: string,
  valid: readonly [string, (value: number) => boolean],
): Effect.Effect<number, StateProblem> => {
  const value = settings[key];
  return typeof value === "number" && Number.isFinite(value) && valid[1](value)
    ? Effect.succeed(value)
    : problem(
      `settings.${key}`,
      `expected ${valid[0]}, found ${JSON.stringify(value) ?? "nothing"}`,
    );
};

/** A whole number ≥ 1 (k, IVF lists and nprobe). */
export const WHOLE = [
  "a whole number ≥ 1",
  (v: number) => Number.isSafeInteger(v) && v >= 1,
] as const;
/** A positive number (a temperature). */
export const POSITIVE = ["a positive number", (v: number) => v > 0] as const;

/** The state array `name`, refused when missing or not of `rank` dimensions. */
export const arrayOf = (
  arrays: ReadonlyMap<string, StateArray>,
  name: string,
  rank: number,
): Effect.Effect<StateArray, StateProblem> => {
  const array = arrays.get(name);
  if (array === undefined) return problem(name, "missing");
  return array.shape.length === rank
    ? Effect.succeed(array)
    : problem(name, `expected ${rank} dimensions, found [${array.shape.join(", ")}]`);
};

/** Refuse a state array holding a NaN or an infinity, naming the first such value. */
export const finiteArray = (array: StateArray): Effect.Effect<Float32Array, StateProblem> => {
  const bad = array.data.findIndex((v) => !Number.isFinite(v));
  return bad < 0
    ? Effect.succeed(array.data)
    : problem(array.name, `value ${bad} is ${array.data[bad]}, not a finite number`);
};

/** A matrix as a state array. */
export const matrixArray = (name: string, description: string, m: Matrix): StateArray => ({
  name,
  description,
  data: m.data,
  shape: [m.rows, m.cols],
});

/** A rank-2 state array as a matrix. */
export const toMatrix = (a: StateArray): Matrix => matrix(a.shape[0]!, a.shape[1]!, a.data);

/** Refuse a `k` beyond the `rows` it searches (`what`: "training features"…). */
export const kWithin = (k: number, rows: number, what: string) =>
  k > rows
    ? problem("settings.k", `expected at most the ${rows} ${what}, found ${k}`)
    : Effect.void;

/** The index `build` makes (failing as the state array `array`), disposed with the scope. */
export const scopedIndex = (
  build: Effect.Effect<NearestNeighbourIndex, { readonly message: string }>,
  array: string,
) =>
  Effect.acquireRelease(
    Effect.mapError(build, (error): StateProblem => ({ array, problem: error.message })),
    (index) => Effect.sync(() => index.dispose()),
  );
