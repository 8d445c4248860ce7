import type { ConnectionOptions } from "bullmq";
import { Redis, type RedisOptions } from "ioredis";

/**
 * How to reach Redis: a URL (`redis://host:6379/0`), ioredis options, or an ioredis client (it is
 * duplicated, never used directly: BullMQ's workers need their own blocking connections).
 */
export type RedisConnection = string | RedisOptions | Redis;

/** Options BullMQ's Queue, Worker and QueueEvents take for `connection`. */
export function bullConnection(connection: RedisConnection): ConnectionOptions {
  // BullMQ's blocking calls must wait for Redis to come back rather than fail after 20 retries.
  if (typeof connection === "string") return { url: connection, maxRetriesPerRequest: null };
  const options: RedisOptions = connection instanceof Redis ? connection.options : connection;
  return { ...options, maxRetriesPerRequest: null } as ConnectionOptions;
}

/** A new ioredis client for the runtime's own commands and subscriptions. */
export function newRedis(connection: RedisConnection, name: string): Redis {
  const r =
    typeof connection === "string"
      ? new Redis(connection, { maxRetriesPerRequest: null, connectionName: name })
      : connection instanceof Redis
        ? connection.duplicate({ maxRetriesPerRequest: null, connectionName: name })
        : new Redis({ ...connection, maxRetriesPerRequest: null, connectionName: name });
  return r;
}

/** A short description of where Redis is, for messages (never the password). */
export function describeConnection(connection: RedisConnection): string {
  if (typeof connection === "string") {
    try {
      const u = new URL(connection);
      return `${u.protocol}//${u.hostname}:${u.port || "6379"}${u.pathname === "/" ? "" : u.pathname}`;
    } catch {
      return "(an unparsable URL)";
    }
  }
  const o = connection instanceof Redis ? connection.options : connection;
  if (typeof o.path === "string") return `unix:${o.path}`;
  return `${o.host ?? "127.0.0.1"}:${o.port ?? 6379}`;
}
