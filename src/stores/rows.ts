/** The runs-table row both SQL stores read, and its mapping to a {@link StoredRun}. */
import type { ErrorJSON, RunStatus, StoredRun } from "../index.js";

/** A row of the runs table; times come back as numbers (SQLite) or numeric strings (PostgreSQL bigint). */
export interface RunRow {
  run_id: string;
  workflow: string;
  status: string;
  input: string;
  result: string | null;
  error: string | null;
  parent_run_id: string | null;
  format: number;
  created_at: number | string;
  updated_at: number | string;
  lease_owner: string | null;
  lease_expires: number | string | null;
  lease_token: number | string | null;
}

/** JSON text for a column, or SQL NULL for undefined. */
export function json(v: unknown): string | null {
  return v === undefined ? null : JSON.stringify(v);
}

export function toRun(row: RunRow): StoredRun {
  return {
    runId: row.run_id,
    workflow: row.workflow,
    status: row.status as RunStatus,
    input: JSON.parse(row.input) as StoredRun["input"],
    ...(row.result === null ? {} : { result: JSON.parse(row.result) as unknown }),
    ...(row.error === null ? {} : { error: JSON.parse(row.error) as ErrorJSON }),
    ...(row.parent_run_id === null ? {} : { parentRunId: row.parent_run_id }),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    format: row.format,
    ...(row.lease_owner === null ? {} : { lease: { owner: row.lease_owner, expiresAt: Number(row.lease_expires ?? 0), token: Number(row.lease_token ?? 0) } }),
  };
}

/**
 * The rows a `limit` asks for, as a SQL store binds it: NaN or below 0 is none, a fraction is
 * rounded down (as MemoryStore reads it), at most `max` (what the driver binds).
 */
export function rowLimit(limit: number, max: number): number {
  return Number.isNaN(limit) ? 0 : Math.min(max, Math.max(0, Math.floor(limit)));
}
