/**
 * What every chart shares: the font and look, the set name of the ID scores, and the input
 * (a pipeline run or plain scores by set) normalised into what a chart draws.
 *
 * @module
 */
import type { TopLevelSpec } from "vega-lite";
import type { DetectorRun } from "../pipeline/run.ts";
import { PlotInputError } from "./plot_errors.ts";

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
  const groups = new Map<string, "near" | "far">();
  if ("rows" in input) { for (const r of input.rows) groups.set(r.set, r.group); }
  if ("groups" in input && input.groups !== undefined) {
    for (const [k, v] of input.groups) groups.set(k, v);
  }
  const oodSets = [...scores.keys()].filter((k) => k !== ID_SET);
  if (oodSets.length === 0) throw new PlotInputError({ plot, problem: "no OOD set scores" });
  return { detector: input.detector ?? "detector", id, scores, groups, oodSets };
}
