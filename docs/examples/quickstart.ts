// Score a folder of images with a fitted detector (`deno task fit … --out my-detector`).
import { Effect } from "effect";
import { Fitted } from "grood";

const [detectorDir = "my-detector", images = "digits"] = Deno.args;
const program = Effect.gen(function* () {
  const detector = yield* Fitted.openFittedDetector(detectorDir); // every file checked
  const spec = { kind: "folder", path: images } as const; // or npy, idx, … (docs/data.md)
  return yield* Fitted.scoreSource(detector, { argument: images, spec, baseDir: Deno.cwd() });
});
const scored = await Effect.runPromise(Effect.scoped(program));
scored.images.forEach((image, i) => console.log(image, scored.verdicts[i], scored.scores[i]));
