/**
 * The cluster's failover settings, as the runner and driver flags give them. Effect Cluster's
 * own defaults (lock expiration 35 s, health check every minute, message poll every 10 s) leave
 * the shards of a runner killed with `kill -9` idle for about 30 s (`/docs/scale.md`); grood's
 * defaults trade a little more PostgreSQL traffic (a lock refresh per runner every 3 s) for a
 * pause of a few seconds. Every value is in seconds.
 *
 * @module
 */
import { Duration } from "effect";
import type { ShardingConfig } from "effect/cluster";

/** The failover settings a runner (and the driver) takes as flags. */
export interface FailoverSettings {
  /** How often a runner renews its shard locks in PostgreSQL. */
  readonly lockRefresh: number;
  /** How long an unrenewed shard lock lasts: a dead runner's shards move after this. */
  readonly lockExpiration: number;
  /** How often runners check each other's health (a failed check frees a runner's shards). */
  readonly healthCheck: number;
  /** How often a runner re-reads the shard assignments. */
  readonly assignmentRefresh: number;
  /** How often a runner polls PostgreSQL for stored messages (the redelivered ones too). */
  readonly messagePoll: number;
}

/** grood's defaults (the flags' documented defaults). */
export const DEFAULT_FAILOVER: FailoverSettings = {
  lockRefresh: 3,
  lockExpiration: 12,
  healthCheck: 5,
  assignmentRefresh: 1,
  messagePoll: 1,
};

/** The command-line flag of each setting (`--lock-refresh SECONDS`, …), by flag name. */
export const FAILOVER_FLAGS = {
  "lock-refresh": { key: "lockRefresh", help: "seconds between shard lock renewals" },
  "lock-expiration": {
    key: "lockExpiration",
    help: "seconds an unrenewed shard lock lasts (a dead runner's shards move after it)",
  },
  "health-check": { key: "healthCheck", help: "seconds between runner health checks" },
  "assignment-refresh": {
    key: "assignmentRefresh",
    help: "seconds between reads of the shard assignments",
  },
  "message-poll": {
    key: "messagePoll",
    help: "seconds between polls for stored (and redelivered) messages",
  },
} as const satisfies Readonly<
  Record<string, { readonly key: keyof FailoverSettings; readonly help: string }>
>;

/** The name of a failover flag (`"lock-refresh"`, …). */
export type FailoverFlag = keyof typeof FAILOVER_FLAGS;

/** The settings of decoded failover flags (`values["lock-refresh"]` is `lockRefresh`). */
export const failoverFromFlags = (
  values: { readonly [F in FailoverFlag]: number },
): FailoverSettings => ({
  lockRefresh: values["lock-refresh"],
  lockExpiration: values["lock-expiration"],
  healthCheck: values["health-check"],
  assignmentRefresh: values["assignment-refresh"],
  messagePoll: values["message-poll"],
});

/**
 * What is wrong with `settings` taken together, or undefined: a lock that expires before it is
 * renewed would move every runner's shards all the time.
 */
export const failoverProblem = (settings: FailoverSettings): string | undefined =>
  settings.lockExpiration <= settings.lockRefresh
    ? "--lock-expiration must be longer than --lock-refresh"
    : undefined;

/** The sharding configuration for these settings. */
export const shardingSettings = (
  settings: FailoverSettings,
): Partial<ShardingConfig.ShardingConfig["Service"]> => ({
  shardLockRefreshInterval: Duration.seconds(settings.lockRefresh),
  shardLockExpiration: Duration.seconds(settings.lockExpiration),
  runnerHealthCheckInterval: Duration.seconds(settings.healthCheck),
  refreshAssignmentsInterval: Duration.seconds(settings.assignmentRefresh),
  entityMessagePollInterval: Duration.seconds(settings.messagePoll),
  entityReplyPollInterval: Duration.millis(200),
});
