/**
 * Bench section 4, scoring throughput: GROOD end to end (forward pass, descriptors, 1-NN)
 * against MSP (forward pass, softmax) on the same ID test images and batch size, on each
 * engine (tfjs wasm, and onnxruntime running the same network exported to ONNX), with the
 * exact index and with HNSW (search after the forward pass), against issue 13's ratios; the HNSW recall@1 of the scored queries; and a breakdown of
 * GROOD's time.
 *
 * Every detector is fitted once on the tfjs features (the index does not depend on the
 * engine); each engine then scores with the same fitted detectors.
 *
 * @module
 */
import { join } from "node:path";
import { Effect } from "effect";
import type { Compute } from "../../mod.ts";
import type { ImageSet, LabelledSet } from "../../lib/data/mod.ts";
import {
  type FitInputs,
  type FittedDetector,
  grood,
  msp,
  rowMaxSoftmax,
} from "../../lib/detectors/mod.ts";
import { tryIo, writeFile } from "../../lib/io/mod.ts";
import { HNSW_DEFAULTS, hnswIndex, recallAtK } from "../../lib/knn/mod.ts";
import { classifierToOnnx, encodeOnnx, openOnnxModel } from "../../lib/models/mod.ts";
import {
  extractFeatures,
  type Extraction,
  groodDescriptors,
  knnScore,
  type SetFeatures,
} from "../../lib/stages/mod.ts";
import { type Bench, progress } from "./context.ts";
import type { FitState } from "./fit_section.ts";
import { collectGarbage, median, repeat, timed } from "./measure.ts";
import { figure } from "./report.ts";

/** onnxruntime's intra-op threads here: one, so the search has the other core. */
export const ONNX_THREADS = 1;

/** One engine of the scoring comparison and issue 13's targets on it. */
interface Engine {
  readonly id: "tfjs" | "onnx";
  readonly label: string;
  readonly extract: (set: ImageSet) => Effect.Effect<SetFeatures, unknown, Compute>;
  /** GROOD/MSP targets: exact index, HNSW index. */
  readonly targets: { readonly exact: number; readonly hnsw: number };
}

const WAYS = ["msp", "exact", "hnsw"] as const;
type Way = typeof WAYS[number];

/** Measure GROOD's and MSP's scoring throughput; returns the tfjs forward-only run times. */
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
  const { net, plan, timedRuns, emit, section } = bench;
  const { test, testExtraction, train } = data;
  const { gp, index, descriptors } = fit;
  const features = fit.extraction.features;
  section(
    `scoring throughput, GROOD vs MSP (${test.count} ID test images, batch ${plan.batchSize})`,
  );
  const inputs: FitInputs = {
    model: bench.model,
    train: {
      images: train,
      features,
      classSums: fit.extraction.classSums,
      key: `${data.modelKey}:bench`,
    },
    validation: { id: { images: test, features: testExtraction.features }, ood: [] },
  };
  // No efSearch: each HNSW graph calibrates it at its build (the smallest ladder value whose
  // recall@1 on held-out training descriptors reaches 0.995), as GROOD's HNSW option does.
  const hnsw = { M: HNSW_DEFAULTS.M, efConstruction: HNSW_DEFAULTS.efConstruction, seed: 0 };
  // Each fitted detector's index is released with the section's scope.
  const fitOf = (detector: ReturnType<typeof grood>) =>
    Effect.acquireRelease(detector.fit(inputs), (f) => Effect.sync(() => f.dispose()));
  const fitted: Record<Way, FittedDetector> = {
    msp: yield* fitOf(msp()),
    exact: yield* fitOf(grood()),
    hnsw: yield* fitOf(grood({ index: { kind: "hnsw" }, seed: hnsw.seed })),
  };

  // The same network on onnxruntime: exported to ONNX, opened as a FeatureModel.
  const folder = yield* Effect.acquireRelease(
    tryIo("grood-bench-onnx-*", "create", () => Deno.makeTempDir({ prefix: "grood-bench-onnx-" })),
    (dir) => Effect.promise(() => Deno.remove(dir, { recursive: true }).catch(() => {})),
  );
  const exported = classifierToOnnx(net);
  const onnxPath = join(folder, "model.onnx");
  yield* writeFile(onnxPath, encodeOnnx(exported.model));
  const onnxModel = yield* openOnnxModel(onnxPath, exported.spec, { threads: ONNX_THREADS });
  const engines: ReadonlyArray<Engine> = [
    {
      id: "tfjs",
      label: "tfjs wasm",
      extract: (set) =>
        Effect.map(
          extractFeatures(bench.model, set, { batchSize: plan.batchSize }),
          (e) => e.features,
        ),
      targets: { exact: 0.95, hnsw: 0.98 },
    },
    {
      id: "onnx",
      label: `onnxruntime (${ONNX_THREADS} thread)`,
      extract: (set) =>
        Effect.map(
          extractFeatures(onnxModel, set, { batchSize: plan.batchSize }),
          (e) => e.features,
        ),
      targets: { exact: 0.8, hnsw: 0.9 },
    },
  ];

  let tfjsForward: ReadonlyArray<number> = [];
  for (const engine of engines) {
    const seconds: Record<Way, Array<number>> = {
      msp: [],
      exact: [],
      hnsw: [],
    };
    for (let run = -plan.warmup; run < plan.runs; run++) {
      progress(
        `${engine.label}: scoring ${run < 0 ? "warm-up" : `run ${run + 1}/${plan.runs}`}`,
      );
      // Rotate which goes first, so a drift in machine load hits all alike.
      const shift = ((run % WAYS.length) + WAYS.length) % WAYS.length;
      for (const way of [...WAYS.slice(shift), ...WAYS.slice(0, shift)]) {
        const detector = fitted[way];
        collectGarbage();
        const t = yield* timed(
          Effect.flatMap(
            engine.extract(test),
            (f) => detector.score({ images: test, features: f }),
          ),
        );
        if (run >= 0) seconds[way].push(t.seconds);
      }
    }
    const rates = (way: Way) => seconds[way].map((s) => test.count / s);
    const ratio = (way: Way) => rates(way).map((r, i) => r / rates("msp")[i]!);
    const e = engine.id;
    const on = engine.label;
    emit(figure(`score.${e}.msp`, `${on}: MSP end to end`, "images/s", rates("msp"), {
      note: "forward + max softmax",
    }));
    const ways: ReadonlyArray<readonly [Way, string, string]> = [
      ["exact", "GROOD, exact 1-NN", `exact index over ${descriptors.rows} descriptors`],
      ["hnsw", "GROOD, HNSW", `hnswlib M ${hnsw.M}, ${describeEf(fitted.hnsw)}`],
    ];
    for (const [way, label, note] of ways) {
      emit(figure(`score.${e}.${way}`, `${on}: ${label}`, "images/s", rates(way), { note }));
    }
    emit(figure(
      `score.${e}.ratio_exact`,
      `${on}: GROOD exact / MSP`,
      "x",
      ratio("exact"),
      { target: { op: ">=", value: engine.targets.exact }, note: "issue 13, exact index" },
    ));
    emit(figure(
      `score.${e}.ratio_hnsw`,
      `${on}: GROOD HNSW / MSP`,
      "x",
      ratio("hnsw"),
      { target: { op: ">=", value: engine.targets.hnsw }, note: "issue 13, HNSW index" },
    ));
    const forwardOnly = yield* repeat(timedRuns, () => engine.extract(test));
    if (engine.id === "tfjs") tfjsForward = forwardOnly.seconds;
    emit(figure(
      `score.${e}.breakdown.forward`,
      `${on}: scoring breakdown, forward pass`,
      "s",
      forwardOnly.seconds,
    ));
  }

  // Where GROOD's scoring time goes besides the forward pass, and the HNSW recall on the
  // scored queries (the index both engines searched).
  const testDescriptors = yield* repeat(
    timedRuns,
    () => groodDescriptors(testExtraction.features.penultimate, gp),
  );
  const search = yield* repeat(timedRuns, () => knnScore(index, testDescriptors.last, 1));
  const softmax = yield* repeat(
    timedRuns,
    () => Effect.sync(() => rowMaxSoftmax(testExtraction.features.logits)),
  );
  const hnswAlone = yield* Effect.acquireRelease(
    hnswIndex(descriptors, { ...hnsw, calibrate: {} }),
    (i) => Effect.sync(() => i.dispose()),
  );
  const hnswSearch = yield* repeat(timedRuns, () => knnScore(hnswAlone, testDescriptors.last, 1));
  const truth = yield* index.search(testDescriptors.last, 1);
  const found = yield* hnswAlone.search(testDescriptors.last, 1);
  emit(figure(
    "score.hnsw_recall1",
    "scoring: HNSW recall@1 against exact on the scored queries",
    "ratio",
    [recallAtK(found, truth)],
    {
      target: { op: ">=", value: 0.99 },
      note:
        `${test.count} ID test descriptors; graph as scored (M ${hnsw.M}, efSearch ${hnswAlone.params.efSearch})`,
    },
  ));
  const calibration = hnswAlone.calibration!;
  emit(figure(
    "score.hnsw_calibration_recall1",
    "scoring: HNSW recall@1 on the efSearch calibration sample",
    "ratio",
    [calibration.recall1],
    {
      note: `efSearch ${calibration.efSearch} chosen (target ${calibration.recallTarget}, ` +
        `${calibration.sample} held-out training descriptors; tried ${
          calibration.tried.map((t) => `${t.efSearch}: ${t.recall1.toFixed(4)}`).join(", ")
        })`,
    },
  ));
  emit(figure(
    "score.breakdown.descriptors",
    "scoring breakdown: GROOD descriptors",
    "s",
    testDescriptors.seconds,
  ));
  emit(figure(
    "score.breakdown.knn",
    "scoring breakdown: GROOD exact 1-NN search (norm-pruned)",
    "s",
    search.seconds,
  ));
  emit(figure(
    "score.breakdown.knn_hnsw",
    "scoring breakdown: GROOD HNSW 1-NN search",
    "s",
    hnswSearch.seconds,
  ));
  emit(
    figure("score.breakdown.softmax", "scoring breakdown: MSP max softmax", "s", softmax.seconds),
  );
  progress(`scoring: tfjs forward median ${median(tfjsForward).toFixed(2)} s`);
  return tfjsForward;
}, Effect.scoped);

/** A fitted GROOD's HNSW efSearch as its settings report it (calibrated or given). */
function describeEf(fitted: FittedDetector): string {
  const s = fitted.settings;
  return s.efSearchCalibrated === true
    ? `efSearch ${s.efSearch} (calibrated, recall@1 ${s.efSearchRecall1} on held-out)`
    : `efSearch ${s.efSearch}`;
}
