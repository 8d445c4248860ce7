/** What every engine under benchmark implements; a scenario it cannot express is left out. */

/** Called inside the run at its peak (all events / runs still referenced). */
export type Probe = () => void;

/**
 * A barrier for the concurrent-runs heap pass: every run's first step awaits `arrive()`;
 * when the last one arrives, `atPeak` runs (all runs in flight) and then all are released.
 */
export interface Gate {
  arrive(): Promise<void>;
}

export function makeGate(n: number, atPeak: () => void): Gate {
  let arrived = 0;
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return {
    arrive() {
      if (++arrived === n) {
        atPeak();
        open();
      }
      return opened;
    },
  };
}

export type Durability = "sync" | "batched";

export interface Engine {
  /** Row label. */
  readonly label: string;
  /**
   * Scenario 1: one step re-emitting a loop event `n` times, then stop. Resolves to the
   * count the run returned (must equal `n`). `probe`, when given, is called in the last step.
   */
  chain?(n: number, probe?: Probe): Promise<number>;
  /** Scenario 2: `n` events fanned out to a step that awaits a `ms` timer, joined; resolves to the sum of 0..n-1. */
  fanout?(n: number, ms: number): Promise<number>;
  /** Scenario 3: `n` two-step runs at once; resolves to how many returned the right result. */
  runs?(n: number, gate?: Gate): Promise<number>;
  /** Scenario 4: the chain with a stream consumer; resolves to how many events the consumer saw (≥ n). */
  stream?(n: number): Promise<number>;
  /** Scenario 5: the chain journaled in SQLite at `file`; resolves to the count. Throws `Unavailable` if the engine lacks it. */
  durable?(n: number, durability: Durability, file: string): Promise<number>;
  /**
   * Scenario 6: `n` short runs started at once (`StartEvent → Mid → StopEvent`), journaled in
   * `db`; resolves to how many returned the right result.
   */
  durableRuns?(n: number, db: DurableDb): Promise<number>;
  /**
   * Scenario 7: `n` ReAct-shaped runs at once: model call, tool call, model call, tool call,
   * model call and answer, each call a timer of `REACT` latency; resolves to how many answered right.
   */
  react?(n: number): Promise<number>;
  /**
   * Scenario 5c/5d: the chain of scenario 5 journaled in `db` (PostgreSQL here); resolves to the count.
   * Throws `Unavailable` when the database is not reachable.
   */
  durableChain?(n: number, durability: Durability, db: DurableDb): Promise<number>;
  /** Scenario 8: the chain of `n` steps, each step with a `timeout` option (or without: `withTimeout` false); resolves to the count. */
  stepTimeoutChain?(n: number, withTimeout: boolean): Promise<number>;
  /**
   * Scenario 9: one run with `n` steps waiting at once in `ctx.waitForEvent` (each for the answer
   * with its id), answered from outside once all wait; resolves to the sum of the answers (0..n-1).
   */
  waiters?(n: number): Promise<number>;
  /**
   * Scenario 10: a durable fan-out of width `n` joined by `ctx.collectEvents` (SQLite file `file`,
   * batched); calls `report` with the journal's JSON bytes per journaled event; resolves to the sum 0..n-1.
   */
  fanoutJournal?(n: number, file: string, report: (bytesPerEvent: number) => void): Promise<number>;
  /** Why a scenario is missing (shown in the table). */
  readonly missing?: Partial<Record<ScenarioName, string>>;
}

export type ScenarioName =
  | "chain"
  | "fanout"
  | "runs"
  | "stream"
  | "durable-sync"
  | "durable-batched"
  | "durable-sync-postgres"
  | "durable-batched-postgres"
  | "durable-runs-sqlite"
  | "durable-runs-postgres"
  | "react"
  | "chain-step-timeout"
  | "chain-no-timeout"
  | "waiters-1k"
  | "waiters-10k"
  | "journal-fanout-100"
  | "journal-fanout-1000";

/** Where scenario 6 journals: a SQLite file, or a PostgreSQL schema of its own (dropped after). */
export type DurableDb = { kind: "sqlite"; file: string } | { kind: "postgres"; url: string; schema: string };

/**
 * The simulated latencies of the ReAct scenario, ms: every run makes `turns` model calls with a
 * tool call between each two, so one run's critical path is `turns × model + (turns − 1) × tool`.
 */
export const REACT = { model: 20, tool: 5, turns: 3 } as const;
export const REACT_IDEAL_MS = REACT.turns * REACT.model + (REACT.turns - 1) * REACT.tool;

/** What a ReAct run answers: its id and the number of tool results it saw, checked by the scenario. */
export const reactAnswer = (id: number): number => id * 10 + (REACT.turns - 1);

/** Thrown by an engine whose scenario cannot run here (e.g. a module not written yet). */
export class Unavailable extends Error {
  override readonly name = "Unavailable";
}

/** A timer promise, as a step awaiting an LLM call would. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** How many of `results` are right: `results[id]` must equal `expected(id)` (by default, `id`). */
export function countRight(results: readonly unknown[], expected: (id: number) => number = (id) => id): number {
  let ok = 0;
  for (let id = 0; id < results.length; id++) if (results[id] === expected(id)) ok++;
  return ok;
}

/** One kind's times in the alternated chain comparison (bench/child.ts alternate), ns per event, one per round. */
export interface AlternateResult {
  kinds: Record<string, number[]>;
  /** The same passes' process CPU time (user + system), ns per event: less disturbed by other processes than wall time. */
  cpu: Record<string, number[]>;
}

/** What the alternated comparison runs: the chain through each floor, plain async and stepwise, and stepwise's stream. */
export const ALTERNATE_KINDS = ["floor", "floor-queue", "baseline", "stepwise", "stepwise-fields", "floor-stream", "stepwise-stream"] as const;
/** Warm-up passes per kind before the alternated rounds (the same for every kind). */
export const ALTERNATE_WARM = 3;
