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
  /** Why a scenario is missing (shown in the table). */
  readonly missing?: Partial<Record<ScenarioName, string>>;
}

export type ScenarioName = "chain" | "fanout" | "runs" | "stream" | "durable-sync" | "durable-batched";

/** Thrown by an engine whose scenario cannot run here (e.g. a module not written yet). */
export class Unavailable extends Error {
  override readonly name = "Unavailable";
}

/** A timer promise, as a step awaiting an LLM call would. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
