/**
 * Toy detector runs for the report tests: GROOD and MSP on a benchmark "toy" with an ID test
 * set and OOD sets of random scores (the OOD ones shifted up, MSP's by half as much), evaluated
 * by the real `evaluateOodWithTies`.
 */
import { Effect } from "effect";
import type { DetectorRun, ResultRow } from "../lib/pipeline/run.ts";
import { evaluateOodWithTies } from "../lib/stages/evaluate.ts";

/** An OOD set of the toy benchmark: name, group and how far its scores are shifted up. */
export type ToySet = readonly [name: string, group: "near" | "far", shift: number];

/** GROOD and MSP runs with `idCount` ID scores and `oodCount` scores per set, from `random`. */
export function toyRuns(
  random: () => number,
  sets: ReadonlyArray<ToySet>,
  idCount: number,
  oodCount: number,
): Array<DetectorRun> {
  return ["GROOD", "MSP"].map((detector, d): DetectorRun => {
    const scores = new Map<string, Float64Array>();
    scores.set("id", Float64Array.from({ length: idCount }, () => random()));
    for (const [set, , shift] of sets) {
      scores.set(set, Float64Array.from({ length: oodCount }, () => random() + shift / (d + 1)));
    }
    const rows: Array<ResultRow> = sets.map(([set, group]) => ({
      benchmark: "toy",
      detector,
      set,
      group,
      idAccuracy: 0.99,
      ...Effect.runSync(evaluateOodWithTies({ id: scores.get("id")!, ood: scores.get(set)! })),
    }));
    return {
      benchmark: "toy",
      detector,
      description: detector,
      settings: {},
      tuned: [],
      fitSeconds: 0,
      scoreSeconds: 0,
      scoredPerSecond: 0,
      rows,
      scores,
      artefacts: [],
    };
  });
}
