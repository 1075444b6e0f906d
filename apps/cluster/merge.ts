/**
 * Merge a finished job's parts into the rows `deno task score` writes, in the same order and
 * the same CSV or JSON: one row per image, sources in the order given, images in source order.
 *
 * @module
 */
import { Effect } from "effect";
import type { ScoreRow } from "../cli/score_rows.ts";
import { chunksOf, type JobFolderInvalid, type JobPlan, readPart } from "./job.ts";

/** Every row of a job, read from its parts (each checked against the plan). */
export const mergeParts = (
  jobDir: string,
  plan: JobPlan,
  classNames: ReadonlyArray<string>,
): Effect.Effect<ReadonlyArray<ScoreRow>, JobFolderInvalid> =>
  Effect.gen(function* () {
    const rows: Array<ScoreRow> = [];
    for (const chunk of chunksOf(plan)) {
      const part = yield* readPart(jobDir, plan, chunk);
      const source = plan.sources[chunk.source]!.argument;
      for (const r of part.rows) {
        rows.push(
          r.verdict === "invalid"
            ? {
              source,
              image: r.image,
              verdict: r.verdict,
              score: null,
              ood: null,
              predicted: null,
              problem: r.problem ?? "not scored",
            }
            : {
              source,
              image: r.image,
              verdict: r.verdict,
              score: r.score,
              ood: r.verdict === "ood",
              predicted: classNames[r.predicted!] ?? String(r.predicted),
            },
        );
      }
    }
    return rows;
  });
