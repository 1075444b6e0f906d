/**
 * Bench section 1, the fit: GROOD's fit on the training images stage by stage (features and
 * prototypes, mix-up, descriptors, exact index), timed, with the peak RSS of the process.
 * Its result (features, prototypes, descriptors, index) is what the later sections use, so
 * without `--only fit` it still runs once, untimed.
 *
 * @module
 */
import { Effect } from "effect";
import { type LabelledSet, type Matrix, takeRows } from "../../lib/data/mod.ts";
import { exactIndex, type NearestNeighbourIndex } from "../../lib/knn/mod.ts";
import {
  computePrototypes,
  extractFeatures,
  type Extraction,
  type GradientPrototypes,
  groodDescriptors,
  MIXUP_DEFAULTS,
  mixupWithModel,
  predictedClasses,
} from "../../lib/stages/mod.ts";
import { type Bench, progress } from "./context.ts";
import { collectGarbage, timed } from "./measure.ts";
import { EARLY, GB } from "./plan.ts";
import { figure } from "./report.ts";

/** What the fit computed: the later sections' inputs. */
export interface FitState {
  readonly extraction: Extraction;
  readonly gp: GradientPrototypes;
  /** Descriptors of the correctly classified training images. */
  readonly descriptors: Matrix;
  readonly correctRows: ReadonlyArray<number>;
  /** Exact index over the descriptors (the caller disposes it). */
  readonly index: NearestNeighbourIndex;
}

/** Fit on `train`; timed and reported when `measured`, else once and silently. */
export const fitSection = Effect.fn("fitSection")(function* (
  bench: Bench,
  train: LabelledSet,
  measured: boolean,
) {
  const { plan, memory, emit, section, details } = bench;
  if (measured) section("fit on the training images");
  collectGarbage();
  memory.reset();
  const stageSeconds = {
    features: [] as Array<number>,
    mixup: [] as Array<number>,
    descriptors: [] as Array<number>,
    index: [] as Array<number>,
    total: [] as Array<number>,
  };
  let extraction: Extraction | undefined;
  let oodPrototype: Float32Array | undefined;
  let classPrototypes: Matrix | undefined;
  let trainDescriptors: Matrix | undefined;
  let correctRows: Array<number> = [];
  let trainIndex: NearestNeighbourIndex | undefined;
  // EARLY is the early tap of grood's CNN, where the mix-up mixes.
  const { model } = bench;
  // Without the fit section, fit once, untimed: the other sections need what it computes.
  const fitWarmup = measured ? plan.warmup : 0;
  const fitRuns = measured ? plan.runs : 1;
  for (let run = -fitWarmup; run < fitRuns; run++) {
    trainIndex?.dispose();
    collectGarbage();
    progress(run < 0 ? "fit warm-up" : `fit run ${run + 1}/${fitRuns}`);
    const a = yield* timed(Effect.gen(function* () {
      const ex = yield* extractFeatures(model, train, {
        batchSize: plan.batchSize,
        classSumsAt: [EARLY],
      });
      return { ex, prototypes: yield* computePrototypes(ex, EARLY) };
    }));
    memory.sample();
    const b = yield* timed(
      mixupWithModel(model, train, a.value.ex.features, a.value.prototypes, {
        ...MIXUP_DEFAULTS,
        batchSize: plan.batchSize,
      }),
    );
    memory.sample();
    const c = yield* timed(Effect.suspend(() => {
      // As GROOD's fit: descriptors of the correctly classified training rows only.
      const predicted = predictedClasses(a.value.ex.features.logits);
      const correct: Array<number> = [];
      for (let i = 0; i < train.count; i++) if (predicted[i] === train.labels[i]) correct.push(i);
      return Effect.map(
        groodDescriptors(takeRows(a.value.ex.features.penultimate, correct), {
          classes: a.value.prototypes.penultimate,
          ood: b.value,
        }),
        (descriptors) => ({ descriptors, correct }),
      );
    }));
    memory.sample();
    const d = yield* timed(exactIndex(c.value.descriptors, { name: "training descriptors" }));
    memory.sample();
    if (run >= 0) {
      stageSeconds.features.push(a.seconds);
      stageSeconds.mixup.push(b.seconds);
      stageSeconds.descriptors.push(c.seconds);
      stageSeconds.index.push(d.seconds);
      stageSeconds.total.push(a.seconds + b.seconds + c.seconds + d.seconds);
    }
    extraction = a.value.ex;
    classPrototypes = a.value.prototypes.penultimate;
    oodPrototype = b.value;
    trainDescriptors = c.value.descriptors;
    correctRows = c.value.correct;
    trainIndex = d.value;
  }
  const peak = memory.peak();
  const n = train.count;
  if (measured) {
    emit(
      figure(
        "fit.features_prototypes",
        `fit: features + prototypes (${n} images)`,
        "s",
        stageSeconds.features,
        {
          note:
            `extractFeatures (batch ${plan.batchSize}, class sums at ${EARLY}) + computePrototypes`,
        },
      ),
    );
    emit(
      figure(
        "fit.mixup",
        `fit: targeted mix-up (${MIXUP_DEFAULTS.samples} samples)`,
        "s",
        stageSeconds.mixup,
        { note: `MIXUP_DEFAULTS ${JSON.stringify(MIXUP_DEFAULTS)}` },
      ),
    );
    emit(
      figure(
        "fit.descriptors",
        `fit: descriptors (closed form, ${correctRows.length} rows)`,
        "s",
        stageSeconds.descriptors,
        { note: "correctly classified training rows, as GROOD" },
      ),
    );
    emit(
      figure(
        "fit.index",
        `fit: exact index build (${correctRows.length} points)`,
        "s",
        stageSeconds.index,
      ),
    );
    emit(figure("fit.total", `fit: total (${n} training images)`, "s", stageSeconds.total, {
      target: { op: "<", value: 180 },
    }));
    emit(figure("fit.peak_rss", "fit: peak RSS of the process", "bytes", [peak.bytes], {
      target: { op: "<", value: 2 * GB },
      note: `${peak.source}; whole process over the ${
        plan.warmup + plan.runs
      } fit runs, loaded benchmark data included`,
    }));
  }
  details.fit = {
    correctlyClassified: correctRows.length,
    trainImages: n,
    peakRss: peak,
    hnswBuildSeparately: "see knn.<size>.hnsw_build",
  };
  return {
    extraction: extraction!,
    gp: { classes: classPrototypes!, ood: oodPrototype! },
    descriptors: trainDescriptors!,
    correctRows,
    index: trainIndex!,
  } satisfies FitState;
});
