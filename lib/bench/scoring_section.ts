/**
 * Bench section 4, scoring throughput: GROOD end to end (forward pass, descriptors, exact 1-NN)
 * against MSP (forward pass, softmax) on the same ID test images and batch size, GROOD with
 * its HNSW option too, against issue 13's ratios, with a breakdown of GROOD's time.
 *
 * @module
 */
import { Effect } from "effect";
import type { ImageSet, LabelledSet } from "../data/images.ts";
import type { FitInputs } from "../detectors/detector.ts";
import { grood } from "../detectors/grood.ts";
import { rowMaxSoftmax } from "../detectors/logits.ts";
import { msp } from "../detectors/msp.ts";
import { scoreOverlapped } from "../detectors/overlapped.ts";
import { workerIndex } from "../knn/worker_index.ts";
import { extractFeatures, type Extraction } from "../stages/features.ts";
import { groodDescriptors } from "../stages/gradient.ts";
import { knnScore } from "../stages/score.ts";
import { type Bench, progress, sameBits } from "./context.ts";
import type { FitState } from "./fit_section.ts";
import { collectGarbage, repeat, timed } from "./measure.ts";
import { figure } from "./report.ts";

/** Measure GROOD's and MSP's scoring throughput; returns the forward-only run times. */
export const scoringSection = Effect.fn("scoringSection")(function* (
  bench: Bench,
  fit: FitState,
  data: {
    readonly modelKey: string;
    readonly train: LabelledSet;
    readonly test: ImageSet;
    readonly testExtraction: Extraction;
  },
) {
  const { tf, net, plan, timedRuns, emit, section } = bench;
  const { test, testExtraction, train } = data;
  const { gp, index, descriptors } = fit;
  const features = fit.extraction.features;
  let forwardSeconds: ReadonlyArray<number> = [];
  section(
    `scoring throughput, GROOD vs MSP (${test.count} ID test images, batch ${plan.batchSize})`,
  );
  const inputs: FitInputs = {
    tf,
    modelKey: data.modelKey,
    trainKey: "bench",
    net,
    train,
    trainFeatures: features,
    trainClassSums: fit.extraction.classSums,
    validation: { id: { images: test, features: testExtraction.features }, ood: [] },
  };
  // GROOD as the pipeline runs it (exact index), its HNSW option, GROOD with its exact index
  // in a worker scored chunk by chunk (search overlapped with the next forward pass), and MSP.
  const fitted = {
    msp: yield* msp().fit(inputs),
    grood: yield* grood().fit(inputs),
    groodHnsw: yield* grood({ index: "hnsw" }).fit(inputs),
    groodOverlap: yield* grood({
      index: { name: "exact (worker)", build: (points) => workerIndex(points) },
    }).fit(inputs),
  };
  type Scored = keyof typeof fitted;
  const names: ReadonlyArray<Scored> = ["msp", "grood", "groodHnsw", "groodOverlap"];
  const scoreSeconds: Record<Scored, Array<number>> = {
    msp: [],
    grood: [],
    groodHnsw: [],
    groodOverlap: [],
  };
  const lastScores: Partial<Record<Scored, Float32Array>> = {};
  for (let run = -plan.warmup; run < plan.runs; run++) {
    progress(run < 0 ? "scoring warm-up" : `scoring run ${run + 1}/${plan.runs}`);
    // Rotate which goes first, so a drift in machine load hits all alike.
    const shift = ((run % names.length) + names.length) % names.length;
    for (const which of [...names.slice(shift), ...names.slice(0, shift)]) {
      const detector = fitted[which];
      collectGarbage();
      const t = yield* timed(
        which === "groodOverlap"
          ? scoreOverlapped(tf, net, test, detector, { batchSize: plan.batchSize })
          : Effect.gen(function* () {
            const ex = yield* extractFeatures(tf, net, test, { batchSize: plan.batchSize });
            return yield* detector.score({ images: test, features: ex.features });
          }),
      );
      if (run >= 0) scoreSeconds[which].push(t.seconds);
      lastScores[which] = t.value;
    }
  }
  fitted.grood.dispose();
  fitted.groodHnsw.dispose();
  fitted.groodOverlap.dispose();
  // The overlapped path must give GROOD's scores, bit for bit.
  const overlapSame = sameBits(lastScores.grood!, lastScores.groodOverlap!);
  if (!overlapSame) {
    return yield* Effect.die(new Error("overlapped GROOD scores differ from GROOD's scores"));
  }
  const overlapRates = scoreSeconds.groodOverlap.map((s) => test.count / s);
  const rates = (which: Scored) => scoreSeconds[which].map((s) => test.count / s);
  const mspRates = rates("msp");
  const groodRates = rates("grood");
  const hnswRates = rates("groodHnsw");
  emit(figure("score.msp", "scoring: MSP end to end (forward + softmax)", "images/s", mspRates));
  emit(
    figure(
      "score.grood",
      "scoring: GROOD end to end (forward + descriptor + 1-NN)",
      "images/s",
      groodRates,
      { note: `exact 1-NN over ${descriptors.rows} descriptors (GROOD's default index)` },
    ),
  );
  emit(
    figure(
      "score.ratio",
      "scoring: GROOD throughput / MSP throughput",
      "x",
      groodRates.map((r, i) => r / mspRates[i]!),
      { target: { op: ">=", value: 0.95 }, note: "issue 13, tfjs wasm, exact index" },
    ),
  );
  emit(
    figure(
      "score.grood_hnsw",
      "scoring: GROOD with the HNSW index option",
      "images/s",
      hnswRates,
      { note: "approximate: see the k-NN recall figures" },
    ),
  );
  emit(
    figure(
      "score.ratio_hnsw",
      "scoring: GROOD (HNSW) throughput / MSP throughput",
      "x",
      hnswRates.map((r, i) => r / mspRates[i]!),
      { target: { op: ">=", value: 0.98 }, note: "issue 13, tfjs wasm, HNSW index" },
    ),
  );
  emit(
    figure(
      "score.grood_overlap",
      "scoring: GROOD, search in a worker overlapped",
      "images/s",
      overlapRates,
      {
        note: "exact index in a worker; chunks of 2 batches, each chunk's search runs during " +
          "the next chunk's forward pass; scores bit-identical to GROOD's",
      },
    ),
  );
  emit(
    figure(
      "score.ratio_overlap",
      "scoring: GROOD (overlapped) throughput / MSP",
      "x",
      overlapRates.map((r, i) => r / mspRates[i]!),
      { target: { op: ">=", value: 0.95 }, note: "issue 13, tfjs wasm, exact index" },
    ),
  );
  // Where GROOD's scoring time goes: each step alone, on the same inputs.
  const forwardOnly = yield* repeat(
    timedRuns,
    () => extractFeatures(tf, net, test, { batchSize: plan.batchSize }),
  );
  forwardSeconds = forwardOnly.seconds;
  const testDescriptors = yield* repeat(
    timedRuns,
    () => groodDescriptors(testExtraction.features.penultimate, gp),
  );
  const search = yield* repeat(timedRuns, () => knnScore(index, testDescriptors.last, 1));
  const softmax = yield* repeat(
    timedRuns,
    () => Effect.sync(() => rowMaxSoftmax(testExtraction.features.logits)),
  );
  emit(
    figure(
      "score.breakdown.forward",
      "scoring breakdown: forward pass",
      "s",
      forwardOnly.seconds,
    ),
  );
  emit(
    figure(
      "score.breakdown.descriptors",
      "scoring breakdown: GROOD descriptors",
      "s",
      testDescriptors.seconds,
    ),
  );
  emit(
    figure(
      "score.breakdown.knn",
      "scoring breakdown: GROOD exact 1-NN search",
      "s",
      search.seconds,
    ),
  );
  emit(
    figure("score.breakdown.softmax", "scoring breakdown: MSP max softmax", "s", softmax.seconds),
  );
  return forwardSeconds;
});
