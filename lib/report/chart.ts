/**
 * What every chart shares: its look, the set name of the ID scores, the input (a pipeline run or
 * plain scores by set) normalised into what a chart draws, and the errors of the plots.
 *
 * @module
 */
import { Data } from "effect";
import type { TopLevelSpec } from "vega-lite";
import type { DetectorRun } from "../pipeline/run.ts";
import { firstNonFiniteRow } from "../errors.ts";

export type { TopLevelSpec };

/** Set name under which a run stores the ID test scores. */
export const ID_SET = "id";

/** The font every rendered plot uses (installed with `fonts-dejavu-core`). */
export const PLOT_FONT = "DejaVu Sans";

/**
 * Every chart's look (a vega-lite `config`): the font named explicitly so that the SVG in a
 * notebook and the PNG from resvg agree (resvg's own default is a serif face).
 */
export const PLOT_CONFIG: {
  readonly font: string;
  readonly view: { readonly stroke: string };
  readonly axis: { readonly gridColor: string };
} = {
  font: `${PLOT_FONT}, sans-serif`,
  view: { stroke: "#ddd" },
  axis: { gridColor: "#eee" },
};

/** The fields every chart's spec starts with: the vega-lite schema, the look, the title. */
export const specBase = (title: NonNullable<TopLevelSpec["title"]>) => ({
  $schema: "https://vega.github.io/schema/vega-lite/v6.json",
  title,
  config: PLOT_CONFIG,
});

/** Scores of one detector by set (`id` = the ID test set), as a `DetectorRun` holds them. */
export interface ScoresBySet {
  /** The detector's name, for titles. */
  readonly detector?: string;
  /** Scores by set name; `id` is the ID test set. */
  readonly scores: ReadonlyMap<string, ArrayLike<number>>;
  /** Near/far group of each OOD set, for legends (taken from a run's rows when present). */
  readonly groups?: ReadonlyMap<string, "near" | "far">;
}

/** A run or plain scores. */
export type PlotInput = DetectorRun | ScoresBySet;

/** The ID scores, the OOD sets and their groups of a plot input; throws `PlotInputError`. */
export function normalise(input: PlotInput, plot: string) {
  const scores = input.scores;
  const id = scores.get(ID_SET);
  if (id === undefined) {
    throw new PlotInputError({ plot, problem: `no "${ID_SET}" scores (the ID test set)` });
  }
  const groups = new Map<string, "near" | "far">([
    ...("rows" in input ? input.rows.map((r) => [r.set, r.group] as const) : []),
    ...("groups" in input ? input.groups ?? [] : []),
  ]);
  const oodSets = [...scores.keys()].filter((k) => k !== ID_SET);
  if (oodSets.length === 0) throw new PlotInputError({ plot, problem: "no OOD set scores" });
  const label = (set: string) => {
    const group = groups.get(set);
    return group === undefined ? set : `${set} (${group})`;
  };
  return { detector: input.detector ?? "detector", id, scores, label, oodSets };
}

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
  const index = firstNonFiniteRow(values, 1);
  if (index >= 0) throw new NonFinitePlotData({ set, index, value: values[index]! });
}

/** Escape text for SVG/HTML content and attributes. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
