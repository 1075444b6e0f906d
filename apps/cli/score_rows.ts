/**
 * The rows `grood score` writes (one per image: source, image, verdict, score, OOD flag,
 * predicted class, problem), as CSV or JSON. One formatter, so every writer of these rows
 * (`score`, the cluster's merge) gives the same bytes.
 *
 * @module
 */
import type { Fitted } from "../../mod.ts";

type Verdict = Fitted.Verdict;

/** One output row of `grood score`. */
export interface ScoreRow {
  /** The source the image was read from, as given. */
  readonly source: string;
  /** The image's file (folder sources) or its index in the source. */
  readonly image: string;
  /** `in`, `ood`, or `invalid` (not scored: see `problem`). */
  readonly verdict: Verdict;
  /** Absent (null) for an invalid image: it has no score. */
  readonly score: number | null;
  /** Whether the score is above the fitted threshold; null for an invalid image. */
  readonly ood: boolean | null;
  /** The predicted class's name (its index when the model has no class names); null if invalid. */
  readonly predicted: string | null;
  /** Why an invalid image could not be scored. */
  readonly problem?: string;
}

const csvField = (text: string) => /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;

/**
 * The rows as `score` writes them: JSON (`{ detector, threshold, rows }`) when `out` ends in
 * `.json`, else CSV. An invalid image has an empty score, OOD flag and class, and says why in
 * `problem`.
 *
 * @example
 * ```ts
 * import { formatScoreRows } from "./score_rows.ts";
 * const row = { source: "a", image: "x.png", verdict: "in", score: 0.5, ood: false, predicted: "1" } as const;
 * if (!formatScoreRows([row], { detector: "d", threshold: 1 }).includes("a,x.png,in,0.5,false,1,")) {
 *   throw new Error("unexpected CSV");
 * }
 * ```
 */
export const formatScoreRows = (
  rows: ReadonlyArray<ScoreRow>,
  options: { readonly out?: string; readonly detector: string; readonly threshold: number },
): string => {
  if (options.out?.toLowerCase().endsWith(".json") === true) {
    return JSON.stringify(
      { detector: options.detector, threshold: options.threshold, rows },
      null,
      2,
    ) + "\n";
  }
  return ["source,image,verdict,score,ood,predicted,problem"].concat(
    rows.map((r) =>
      [
        csvField(r.source),
        csvField(r.image),
        r.verdict,
        r.score ?? "",
        r.ood ?? "",
        csvField(r.predicted ?? ""),
        csvField(r.problem ?? ""),
      ].join(",")
    ),
  ).join("\n") + "\n";
};
