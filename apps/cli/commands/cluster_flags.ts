/**
 * The flags `grood cluster runner` and `grood cluster score` share, declared once: `--pg` and
 * the failover settings (`apps/cluster/failover.ts`), with the same names, help, defaults and
 * checks in both.
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
import { type FailoverFlagValues, PG_ENV } from "../../cluster/options.ts";
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
