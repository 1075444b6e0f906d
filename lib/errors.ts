/**
 * Errors shared by several stages.
 *
 * @module
 */
import { Data } from "effect";

/** A value as an error message shows it: JSON, but NaN and ±Infinity as such (not `null`), nested too. */
export const shownValue = (value: unknown): string =>
  String(
    JSON.stringify(value, (_, v) => typeof v === "number" && !Number.isFinite(v) ? `\0${v}\0` : v),
  ).replace(/"\\u0000(NaN|-?Infinity)\\u0000"/g, "$1");

/** A stage parameter is out of range: names it, its value and what was expected. */
export class InvalidParameter extends Data.TaggedError("InvalidParameter")<{
  readonly name: string;
  readonly value: unknown;
  readonly expected: string;
}> {
  /** "Cannot use name = value: expected …". */
  override get message(): string {
    return `Cannot use ${this.name} = ${shownValue(this.value)}: expected ${this.expected}`;
  }
}

/** A stage's input holds a NaN or infinite value: names the stage, the input and the row. */
export class NonFiniteInput extends Data.TaggedError("NonFiniteInput")<{
  readonly stage: string;
  readonly what: string;
  readonly row: number;
}> {
  /** "Cannot run stage: row r of what holds a NaN or infinite value". */
  override get message(): string {
    return `Cannot run ${this.stage}: row ${this.row} of ${this.what} holds a NaN or infinite value`;
  }
}

/** The first row of a row-major `cols`-wide array holding a NaN or infinity, or −1. */
export function firstNonFiniteRow(data: ArrayLike<number>, cols: number): number {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]!)) return Math.floor(i / Math.max(cols, 1));
  }
  return -1;
}
