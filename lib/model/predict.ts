/**
 * Batched inference: the predicted class of every image of a set.
 *
 * @module
 */
import { batches, type ImageSet } from "../data/images.ts";
import { type Classifier, type Tf, toInput } from "./classifier.ts";

/** The argmax class of every image of `set`. */
export function predictClasses(
  tf: Tf,
  net: Classifier,
  set: ImageSet,
  batchSize = 500,
): Uint8Array {
  const out = new Uint8Array(set.count);
  for (const batch of batches(set, batchSize)) {
    const classes = tf.tidy(() =>
      tf.argMax(net.forward(toInput(tf, batch.pixels, batch.size, net.spec.inputShape)), 1)
        .dataSync()
    );
    out.set(classes, batch.start);
  }
  return out;
}
