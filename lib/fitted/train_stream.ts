/**
 * The training source as a stream for the bounded-memory GROOD fit: held-out images are copied
 * aside as they pass, the others regrouped into the in-memory fit's batches (numbered from 0),
 * and the source's checksum taken on the way.
 *
 * @module
 */
import { Effect, Stream } from "effect";
import type { GroodOptions } from "../detectors/grood.ts";
import type {
  StreamedGroodOptions,
  TrainingBatch,
  TrainingStream,
} from "../detectors/grood_streamed.ts";
import type { DetectorSpec } from "../detectors/registry.ts";
import {
  imageValues,
  type OpenedSource,
  type SourceError,
  sourceHasher,
} from "../sources/source.ts";

/** The training stream of `source` without the images in `held`: run it once, then `finish`. */
export const trainStream = (
  source: OpenedSource,
  held: ReadonlySet<number>,
): {
  readonly stream: TrainingStream<SourceError>;
  /** The source's checksum and the held-out images. */
  readonly finish: () => {
    readonly checksum: string;
    readonly heldOut: { readonly pixels: Uint8Array; readonly labels: Uint8Array };
  };
} => {
  const per = imageValues(source.shape);
  const hasher = sourceHasher(source.shape, true);
  const heldPixels = new Uint8Array(held.size * per);
  const heldLabels = new Uint8Array(held.size);
  let heldSeen = 0;
  let done = false;
  const stream: TrainingStream<SourceError> = {
    description: source.description,
    count: source.count - held.size,
    shape: source.shape,
    batches: (size) => {
      // A chunk beyond the stream's images (`fit --chunk 1000000000`) allocates for those only.
      const room = Math.max(1, Math.min(size, source.count - held.size));
      let pixels = new Uint8Array(room * per);
      let labels = new Uint8Array(room);
      let filled = 0;
      let emitted = 0;
      const take = (): TrainingBatch => {
        const batch = {
          start: emitted,
          size: filled,
          pixels: pixels.subarray(0, filled * per),
          labels: labels.subarray(0, filled),
        };
        emitted += filled;
        pixels = new Uint8Array(room * per);
        labels = new Uint8Array(room);
        filled = 0;
        return batch;
      };
      const regroup = (
        batch: { start: number; size: number; pixels: Uint8Array; labels?: Uint8Array },
      ) => {
        hasher.update(batch.pixels, batch.labels);
        const out: Array<TrainingBatch> = [];
        for (let i = 0; i < batch.size; i++) {
          const image = batch.pixels.subarray(i * per, (i + 1) * per);
          const label = batch.labels?.[i] ?? 0;
          if (held.has(batch.start + i)) {
            heldPixels.set(image, heldSeen * per);
            heldLabels[heldSeen++] = label;
            continue;
          }
          pixels.set(image, filled * per);
          labels[filled++] = label;
          if (filled === room) out.push(take());
        }
        return out;
      };
      return source.batches(size).pipe(
        Stream.flatMap((batch) =>
          batch.labels === undefined
            // Unlabelled: pass the batch on as it is; the fit fails with MissingLabels.
            ? Stream.make({ start: batch.start, size: batch.size, pixels: batch.pixels })
            : Stream.fromIterable(regroup(batch), { chunkSize: 1 })
        ),
        Stream.concat(Stream.suspend(() => filled > 0 ? Stream.make(take()) : Stream.empty)),
        Stream.ensuring(Effect.sync(() => {
          done = true;
        })),
      );
    },
  };
  return {
    stream,
    finish: () => {
      if (!done) throw new Error("trainStream: finish() before the stream was run");
      return { checksum: hasher.digest(), heldOut: { pixels: heldPixels, labels: heldLabels } };
    },
  };
};

/** The streamed fit's options when `spec` is GROOD in a form it fits; else undefined. */
export const streamedGroodOptions = (
  spec: DetectorSpec,
): (StreamedGroodOptions & { readonly temperature: number }) | undefined => {
  if (spec.kind !== "grood") return undefined;
  const o = spec as unknown as GroodOptions;
  const source = o.oodPrototype;
  if (
    o.descriptor !== "gradient" ||
    !("kind" in o.index && (o.index.kind === "exact" || o.index.kind === "ivf")) ||
    o.temperatureGrid !== undefined ||
    (source.kind !== "mixup" && source.kind !== "mean")
  ) return undefined;
  // The index is built over the streamed descriptors with the spec's seed, as `grood().fit` does.
  return { oodPrototype: source, temperature: o.temperature, index: o.index, seed: o.seed };
};
