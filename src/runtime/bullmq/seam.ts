/*
 * PROVISIONAL: the core's JSON Runtime seam (StepTask, StepOutcome, StepScope…) is being written
 * on branch `core`; until it is merged, these copies of its draft let the transport be built and
 * tested. Replaced by imports from "../../index.js" at the merge.
 */
import type { ErrorJSON, EventJSON } from "../../index.js";

export interface StepTask {
  readonly runId: string;
  readonly workflow: string;
  readonly step: string;
  readonly stepRunId: string;
  readonly attempt: number;
  readonly event: EventJSON;
  readonly state?: Readonly<Record<string, unknown>>;
}

export type StepWrite =
  | { readonly kind: "send"; readonly event: EventJSON; readonly step?: string }
  | { readonly kind: "stream"; readonly event: EventJSON }
  | { readonly kind: "store"; readonly key: string; readonly value: unknown };

export type StepOutcome =
  | { readonly ok: true; readonly emitted: readonly EventJSON[]; readonly writes: readonly StepWrite[] }
  | { readonly ok: false; readonly error: ErrorJSON; readonly writes: readonly StepWrite[] };

export type StepRequest =
  | { readonly kind: "store.get"; readonly key: string }
  | { readonly kind: "collect"; readonly event: EventJSON; readonly types: readonly string[] }
  | { readonly kind: "wait"; readonly type: string; readonly timeout: number | null; readonly waiterEvent?: EventJSON }
  | { readonly kind: "call"; readonly request: EventJSON; readonly reply: string; readonly timeout: number | null }
  | { readonly kind: "runWorkflow"; readonly workflow: string; readonly input?: Readonly<Record<string, unknown>> };

export type StepReply =
  | { readonly kind: "store.get"; readonly found: boolean; readonly value?: unknown }
  | { readonly kind: "collect"; readonly events: readonly EventJSON[] | null }
  | { readonly kind: "event"; readonly event: EventJSON }
  | { readonly kind: "result"; readonly result: unknown };

export interface StepScope {
  readonly signal: AbortSignal;
  apply(writes: readonly StepWrite[]): void;
  request(req: StepRequest): StepReply | Promise<StepReply>;
}

export interface Runtime {
  execute(task: StepTask, scope: StepScope): StepOutcome | Promise<StepOutcome>;
}
