/**
 * A fitted-detector folder (`deno task fit … --out DIR`, `lib/fitted`) as a served detector:
 * its manifest gives the metadata, the threshold and the validation histogram; its
 * `scoreImages` scores the decoded request images.
 *
 * @module
 */
import { Effect, type Scope } from "effect";
import { sha256Hex } from "../../lib/io/mod.ts";
import { canonicalJson } from "../../lib/cache/mod.ts";
import {
  type LoadedDetector,
  openFittedDetector,
  type OpenFittedError,
} from "../../lib/fitted/mod.ts";
import type { DetectorInfo, ServedDetector } from "./detector.ts";

/** The metadata `GET /v1/detector` answers for a loaded folder. */
export function fittedInfo(loaded: LoadedDetector): DetectorInfo {
  const m = loaded.manifest;
  const bins = m.scores.id.counts.length;
  const ood = Array.from(
    { length: bins },
    (_, i) => m.scores.ood.reduce((n, d) => n + (d.counts[i] ?? 0), 0),
  );
  const validation: Record<string, number> = {
    accuracy: m.validation.accuracy,
    idKept: m.validation.idKept,
  };
  for (const metrics of m.validation.metrics) {
    for (const [key, value] of Object.entries(metrics)) {
      if (typeof value === "number") validation[`${metrics.source}.${key}`] = value;
    }
  }
  // The mean AUROC over the validation-OOD sets: the page's one-line summary.
  if (m.validation.metrics.length > 0) {
    validation.auroc = m.validation.metrics.reduce((s, x) => s + x.auroc, 0) /
      m.validation.metrics.length;
  }
  return {
    version: sha256Hex(new TextEncoder().encode(canonicalJson(m))).slice(0, 16),
    kind: m.detector.kind,
    modelKey: m.model.sha256,
    modelKind: m.model.kind,
    threshold: m.threshold,
    classNames: m.model.classNames,
    settings: {
      ...m.detector.settings,
      createdAt: m.createdAt,
      format: m.format,
      formatVersion: m.version,
    },
    validation,
    histogram: { edges: m.scores.edges, id: m.scores.id.counts, ood },
  };
}

/** Serve a loaded folder. */
export function servedFitted(loaded: LoadedDetector, tensors?: () => number): ServedDetector {
  const shape = loaded.inputSpec.shape;
  return {
    info: fittedInfo(loaded),
    input: shape,
    scoreImages: (pixels, count) => loaded.scoreImages({ count, shape, pixels }),
    ...(tensors === undefined ? {} : { tensors }),
  };
}

/** Open a fitted-detector folder for serving (released with the scope). */
export const openServedFitted = (
  folder: string,
  tensors?: () => number,
): Effect.Effect<ServedDetector, OpenFittedError, Scope.Scope> =>
  Effect.map(openFittedDetector(folder), (loaded) => servedFitted(loaded, tensors));
