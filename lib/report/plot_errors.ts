/**
 * Errors of the plots: scores that are not finite, inputs that lack what a plot needs.
 *
 * @module
 */
import { Data } from "effect";

/** Scores to plot for a set were NaN or infinite (a plot would silently drop them). */
export class NonFinitePlotData extends Data.TaggedError("NonFinitePlotData")<{
  readonly set: string;
  readonly index: number;
  readonly value: number;
}> {
  /** Names the set, the value and its index. */
  override get message(): string {
    return `Cannot plot the scores of "${this.set}": value ${this.value} at index ${this.index} ` +
      "is not finite";
  }
}

/** A plot input lacks what the plot needs (no ID scores, no OOD set, unknown column). */
export class PlotInputError extends Data.TaggedError("PlotInputError")<{
  readonly plot: string;
  readonly problem: string;
}> {
  /** Names the plot and the problem. */
  override get message(): string {
    return `Cannot draw ${this.plot}: ${this.problem}`;
  }
}

/** vega could not render a plot (a spec it rejects); names the plot and vega's reason. */
export class PlotRenderError extends Data.TaggedError("PlotRenderError")<{
  readonly plot: string;
  readonly reason: string;
}> {
  /** Names the plot and vega's reason. */
  override get message(): string {
    return `Cannot render ${this.plot}: ${this.reason}`;
  }
}

/** Throw `NonFinitePlotData` at the first NaN or infinite value of `values`. */
export function checkFinite(set: string, values: ArrayLike<number>): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) throw new NonFinitePlotData({ set, index: i, value: v });
  }
}
