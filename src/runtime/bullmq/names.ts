/**
 * Names of jobs, queues and keys. BullMQ refuses `:` in custom job ids (it separates the parts
 * of its Redis keys), so ids are escaped, injectively: `%` → `%25`, `:` → `%3A`.
 */

const escape = (s: string): string => s.replaceAll("%", "%25").replaceAll(":", "%3A");

/**
 * The BullMQ job id of one attempt of one step invocation: the same for the same run, stepRunId
 * and attempt, so enqueuing it again is a no-op. (stepRunId already starts with the run id in
 * stepwise; the run id is kept explicitly so ids stay unique whatever stepRunId looks like.)
 */
export function stepJobId(runId: string, stepRunId: string, attempt: number): string {
  const sr = stepRunId.startsWith(`${runId}:`) ? stepRunId.slice(runId.length + 1) : stepRunId;
  return `${escape(runId)}.${escape(sr)}.${attempt}`;
}

/**
 * The queue a step's jobs go to: one per workflow or App member, and one of its own for a step
 * with `globalConcurrency` (BullMQ's global concurrency is a per-queue limit).
 */
export function queueName(workflowOrMember: string, step?: string): string {
  const base = escape(workflowOrMember);
  return step === undefined ? base : `${base}.${escape(step)}`;
}

/** Redis keys and channels of the runtime itself, beside BullMQ's under the same prefix. */
export const keys = {
  /** The lock settings every worker of `queue` must share. */
  lock: (prefix: string, queue: string) => `${prefix}:stepwise:lock:${queue}`,
  /** Broadcast: a step attempt must abort (cancel, timeout, run failed). */
  abort: (prefix: string) => `${prefix}:stepwise:abort`,
  /** One process's inbox for scope requests and their replies. */
  inbox: (prefix: string, processId: string) => `${prefix}:stepwise:inbox:${processId}`,
  /** Hash: steps with a queue of their own (a global concurrency limit), `routeField` → queue. */
  routes: (prefix: string) => `${prefix}:stepwise:routes`,
};

/** The field of `keys.routes` naming the queue of one step that has a queue of its own. */
export const routeField = (workflow: string, step: string): string => `${workflow}\u0000${step}`;
