/**
 * Merge a finished job's parts into the rows `deno task score` writes, in the same order and
 * the same CSV or JSON: one row per image, sources in the order given, images in source order.
 *
 * @module
 */
import { Effect } from "effect";
import type { ScoreRow } from "../cli/score_rows.ts";
import { chunksOf, JobFolderInvalid, type JobPlan, partPath, readPart } from "./job.ts";

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
        if (r.verdict !== "invalid" && r.predicted >= classNames.length) {
          return yield* new JobFolderInvalid({
            path: partPath(jobDir, chunk),
            problem: `image ${r.image} is of class ${r.predicted}; the detector has ` +
              `${classNames.length} classes`,
          });
        }
        rows.push(
          r.verdict === "invalid"
            ? {
              source,
              image: r.image,
              verdict: r.verdict,
              score: null,
              ood: null,
              predicted: null,
              problem: r.problem,
            }
            : {
              source,
              image: r.image,
              verdict: r.verdict,
              score: r.score,
              ood: r.verdict === "ood",
              predicted: classNames[r.predicted]!,
            },
        );
      }
    }
    return rows;
  });
