/**
 * The flags the `grood cluster` commands share, declared once: `--pg`, the failover settings
 * (`apps/cluster/failover.ts`) and the drivers' waiting flags, with the same names, help,
 * defaults and checks in each.
 *
 * @module
 */
import {
  DEFAULT_FAILOVER,
  FAILOVER_FLAGS,
  type FailoverFlag,
  failoverFromFlags,
  failoverProblem,
} from "../../cluster/failover.ts";
import { DRIVER_DEFAULTS, type FailoverFlagValues, PG_ENV } from "../../cluster/options.ts";
import { flag, type FlagSpec } from "../flags.ts";

/** `--pg URL`: the cluster's PostgreSQL, else `$GROOD_CLUSTER_PG`. */
export const pgFlag: FlagSpec<string> = flag.requiredOrEnv(
  "the cluster's PostgreSQL URL (shard locks, runners, stored messages)",
  PG_ENV,
  { placeholder: "URL" },
);

/** One failover setting's flag: seconds, greater than 0, default grood's. */
const failoverFlag = (name: FailoverFlag): FlagSpec<number> =>
  flag.number(FAILOVER_FLAGS[name].help, {
    positive: true,
    default: DEFAULT_FAILOVER[FAILOVER_FLAGS[name].key],
    placeholder: "SECONDS",
  });

/** `--lock-refresh`, `--lock-expiration`, `--health-check`, `--assignment-refresh`, `--message-poll`. */
export const failoverFlags: { readonly [F in FailoverFlag]: FlagSpec<number> } = {
  "lock-refresh": failoverFlag("lock-refresh"),
  "lock-expiration": failoverFlag("lock-expiration"),
  "health-check": failoverFlag("health-check"),
  "assignment-refresh": failoverFlag("assignment-refresh"),
  "message-poll": failoverFlag("message-poll"),
};

/** The check across the failover flags (a usage error), or undefined. */
export const checkFailover = (values: FailoverFlagValues): string | undefined =>
  failoverProblem(failoverFromFlags(values));

/**
 * What the drivers (`grood cluster score`, `grood cluster fit`) share: the cluster, how many
 * chunks are waited on at once, the progress period, the per-chunk wait and the failover.
 */
export const driverFlags = {
  pg: pgFlag,
  "in-flight": flag.integer("chunks waited on at once", {
    min: 1,
    default: DRIVER_DEFAULTS["in-flight"],
  }),
  progress: flag.number("seconds between progress lines", {
    positive: true,
    default: DRIVER_DEFAULTS.progress,
    placeholder: "SECONDS",
  }),
  "chunk-timeout": flag.number(
    "seconds to wait for one chunk before asking again (the message is deduplicated)",
    { positive: true, default: DRIVER_DEFAULTS["chunk-timeout"], placeholder: "SECONDS" },
  ),
  ...failoverFlags,
} as const;
