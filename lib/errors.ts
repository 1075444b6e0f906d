/**
 * Errors shared by several stages.
 *
 * @module
 */
import { Data } from "effect";

/** A stage parameter is out of range: names it, its value and what was expected. */
export class InvalidParameter extends Data.TaggedError("InvalidParameter")<{
  readonly name: string;
  readonly value: unknown;
  readonly expected: string;
}> {
  override get message(): string {
    return `Cannot use ${this.name} = ${JSON.stringify(this.value)}: expected ${this.expected}`;
  }
}
