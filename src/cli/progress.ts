/**
 * How a run is shown while it goes, all fed by inspection events: a live view redrawn in
 * place on a terminal (log-update), plain lines elsewhere (pipes, CI), or JSON lines.
 */
import { createLogUpdate } from "log-update";
import pc from "picocolors";
import { eventTypeName, type Event, type EventClass, type InspectionEvent } from "../index.js";
import { clean, cleanJson } from "./text.js";

/** Receives a run's inspection events and shows them. */
export interface ProgressView {
  onEvent(e: InspectionEvent): void;
  /** The run ended: draw the last state and release the terminal. */
  finish(): void;
  /** Stop drawing while something else (a prompt) uses the terminal. */
  pause?(): void;
  /** Draw again after {@link pause}. */
  resume?(): void;
}

type Writable = Pick<NodeJS.WriteStream, "write"> & { columns?: number; isTTY?: boolean };

const typeOf = (ev: Event): string => clean(eventTypeName(ev.constructor as EventClass), true);
/** Seconds with two decimals: `3.01s`. */
export const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)}s`;
const errorText = (err: unknown): string => clean(err instanceof Error ? err.message : String(err), true);

/** An event's fields as compact JSON, shortened to `max` characters. */
export function eventData(ev: Event, max = 120): string {
  let text: string;
  try {
    text = cleanJson(JSON.stringify(ev.toJSON().data) ?? "undefined");
  } catch {
    text = "{…}";
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

interface StepRow {
  label: string;
  started: number;
  done: number;
  failed: number;
  inFlight: number;
  totalMs: number;
  lastStart: number;
  lastOutcome: "done" | "failed" | undefined;
}

/** What the live and plain views both track. */
class RunState {
  readonly rows = new Map<string, StepRow>();
  readonly rootWorkflow: string;
  status = "running";
  events = 0;
  streamed = 0;
  startedAt: number | undefined;
  endedAt: number | undefined;

  constructor(rootWorkflow: string, steps: readonly string[]) {
    this.rootWorkflow = rootWorkflow;
    for (const s of steps) this.row(rootWorkflow, s);
  }

  row(workflow: string, step: string): StepRow {
    const key = `${workflow}\u0000${step}`;
    let r = this.rows.get(key);
    if (!r) this.rows.set(key, (r = { label: clean(workflow === this.rootWorkflow ? step : `${workflow} › ${step}`, true), started: 0, done: 0, failed: 0, inFlight: 0, totalMs: 0, lastStart: 0, lastOutcome: undefined }));
    return r;
  }

  apply(e: InspectionEvent): void {
    this.startedAt ??= e.time;
    switch (e.kind) {
      case "step_started": {
        const r = this.row(e.workflow, e.step);
        r.started++;
        r.inFlight++;
        r.lastStart = e.time;
        break;
      }
      case "step_finished": {
        const r = this.row(e.workflow, e.step);
        r.done++;
        r.inFlight = Math.max(0, r.inFlight - 1);
        r.totalMs += e.durationMs;
        r.lastOutcome = "done";
        this.events += e.emitted.length;
        break;
      }
      case "step_failed": {
        const r = this.row(e.workflow, e.step);
        r.failed++;
        r.inFlight = Math.max(0, r.inFlight - 1);
        r.totalMs += e.durationMs;
        r.lastOutcome = "failed";
        break;
      }
      case "event_sent":
        this.events++;
        break;
      case "stream":
        this.streamed++;
        break;
      case "run_started":
        this.events++;
        break;
      case "run_finished":
        if (e.workflow === this.rootWorkflow && e.time >= (this.startedAt ?? 0) && this.isRoot(e)) {
          this.status = e.status;
          this.endedAt = e.time;
        }
        break;
    }
  }

  rootRunId: string | undefined;
  isRoot(e: InspectionEvent): boolean {
    this.rootRunId ??= e.runId;
    return e.runId === this.rootRunId;
  }
}

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/**
 * The live view: a block redrawn in place, streamed events printed above it as they come.
 * While it is shown, whatever the process writes to stdout or stderr (a step's console.log)
 * is printed above the block too, instead of being erased by the next redraw.
 */
export class LiveView implements ProgressView {
  readonly #state: RunState;
  readonly #out: Writable;
  readonly #write: (chunk: string) => boolean;
  readonly #log: ReturnType<typeof createLogUpdate>;
  readonly #timer: NodeJS.Timeout;
  readonly #colors: ReturnType<typeof pc.createColors>;
  readonly #now: () => number;
  readonly #restore: (() => void)[] = [];
  #frame = 0;
  #paused = false;
  /** True while the view itself draws (log-update also writes to process.stderr directly, to hide the cursor). */
  #drawing = false;

  constructor(out: NodeJS.WriteStream, workflow: string, steps: readonly string[], now: () => number = Date.now) {
    this.#state = new RunState(workflow, steps);
    this.#out = out;
    this.#now = now;
    this.#colors = pc.createColors(true);
    // The view's own output goes to the stream's real write, which the capture below leaves alone.
    const bound = out.write.bind(out);
    const write = (chunk: string): boolean => bound(chunk);
    this.#write = write;
    // A pseudo-terminal may report a size of 0 × 0 (e.g. under `script`); log-update would then draw nothing.
    const sized = {
      write,
      isTTY: true,
      get columns() {
        return out.columns || 100;
      },
      get rows() {
        return out.rows || 50;
      },
    };
    this.#log = createLogUpdate(sized as unknown as NodeJS.WriteStream, { showCursor: false });
    this.#capture(process.stdout);
    if (out !== process.stdout) this.#capture(process.stderr);
    // Elapsed times and the spinner move even while no event arrives.
    this.#timer = setInterval(() => {
      this.#frame++;
      this.#render();
    }, 100);
    this.#timer.unref();
    this.#render();
  }

  /** Routes `stream.write` around the live block: clear it, write, draw it again below. */
  #capture(stream: NodeJS.WriteStream): void {
    // eslint-disable-next-line @typescript-eslint/unbound-method -- kept to be put back as it was
    const original = stream.write;
    const write = original.bind(stream) as (...args: unknown[]) => boolean;
    stream.write = ((...args: unknown[]): boolean => {
      if (this.#paused || this.#drawing) return write(...args);
      this.#log.clear();
      const ok = write(...args);
      this.#render();
      return ok;
    });
    this.#restore.push(() => {
      stream.write = original;
    });
  }

  pause(): void {
    this.#paused = true;
    this.#log.clear();
  }

  resume(): void {
    this.#paused = false;
    this.#render();
  }

  onEvent(e: InspectionEvent): void {
    if (e.kind === "run_started") this.#state.isRoot(e);
    this.#state.apply(e);
    if (e.kind === "stream") {
      this.#log.clear();
      this.#write(`${this.#colors.cyan("  ↳")} ${this.#colors.bold(typeOf(e.event))} ${this.#colors.dim(eventData(e.event, Math.max(20, (this.#out.columns || 100) - typeOf(e.event).length - 8)))}\n`);
    } else if (e.kind === "step_failed") {
      this.#log.clear();
      this.#write(`${this.#colors.red("  ✖")} ${clean(e.step, true)} failed: ${errorText(e.error)}${e.willRetry ? this.#colors.yellow(" (retrying)") : ""}\n`);
    }
    this.#render();
  }

  finish(): void {
    clearInterval(this.#timer);
    // Put the streams back first: log-update's done() writes to process.stderr, which must not redraw.
    for (const restore of this.#restore.splice(0)) restore();
    this.#paused = false;
    this.#render();
    this.#log.done();
  }

  #render(): void {
    if (this.#paused || this.#drawing) return;
    this.#drawing = true;
    try {
      this.#draw();
    } finally {
      this.#drawing = false;
    }
  }

  #draw(): void {
    const c = this.#colors;
    const s = this.#state;
    const now = s.endedAt ?? this.#now();
    const elapsed = s.startedAt === undefined ? 0 : now - s.startedAt;
    const spin = SPINNER[this.#frame % SPINNER.length] ?? "•";
    const statusText = s.status === "running" ? c.cyan(`${spin} running`) : s.status === "completed" ? c.green("✔ completed") : c.red(`✖ ${s.status}`);
    const width = Math.max(...[...s.rows.values()].map((r) => r.label.length), 4);
    const lines = [`${c.bold(clean(s.rootWorkflow, true))}  ${statusText}  ${c.dim(seconds(elapsed))}`];
    for (const r of s.rows.values()) {
      let state: string;
      if (r.inFlight > 0) state = `${c.cyan(spin)} ${r.label.padEnd(width)}  ${c.cyan("running".padEnd(7))}  ×${r.started}  ${c.dim(seconds(now - r.lastStart))}`;
      else if (r.lastOutcome === "failed") state = `${c.red("✖")} ${r.label.padEnd(width)}  ${c.red("failed".padEnd(7))}  ×${r.started}  ${c.dim(seconds(r.totalMs))}`;
      else if (r.done > 0) state = `${c.green("✔")} ${r.label.padEnd(width)}  ${c.green("done".padEnd(7))}  ×${r.started}  ${c.dim(seconds(r.totalMs))}`;
      else state = `${c.dim("·")} ${c.dim(r.label.padEnd(width))}  ${c.dim("waiting")}`;
      lines.push(`  ${state}`);
    }
    const started = [...s.rows.values()].reduce((n, r) => n + r.started, 0);
    const done = [...s.rows.values()].reduce((n, r) => n + r.done, 0);
    const failed = [...s.rows.values()].reduce((n, r) => n + r.failed, 0);
    lines.push(c.dim(`  ${started} step runs · ${done} done · ${failed} failed · ${s.events} events · ${s.streamed} streamed`));
    this.#log(lines.join("\n"));
  }
}

/** Plain lines, one per thing that happened, for pipes and CI logs. */
export class PlainView implements ProgressView {
  readonly #out: Writable;
  #t0: number | undefined;

  constructor(out: Writable) {
    this.#out = out;
  }

  onEvent(e: InspectionEvent): void {
    this.#t0 ??= e.time;
    const line = this.#line(e);
    if (line !== undefined) this.#out.write(`[${seconds(e.time - this.#t0).padStart(7)}] ${clean(line, true)}\n`);
  }

  #line(e: InspectionEvent): string | undefined {
    switch (e.kind) {
      case "run_started":
        return `run ${e.workflow} started (run ${e.runId}${e.parentRunId ? `, nested in ${e.parentRunId}` : ""})`;
      case "step_started":
        return `step ${e.step} running (on ${typeOf(e.event)}${e.attempt > 1 ? `, attempt ${e.attempt}` : ""})`;
      case "step_finished":
        return `step ${e.step} done in ${seconds(e.durationMs)}${e.emitted.length ? ` → ${e.emitted.map(typeOf).join(", ")}` : ""}`;
      case "step_failed":
        return `step ${e.step} failed in ${seconds(e.durationMs)}: ${errorText(e.error)}${e.willRetry ? " (retrying)" : ""}`;
      case "stream":
        return `stream ${typeOf(e.event)} ${eventData(e.event, 500)}`;
      case "event_sent":
        return undefined;
      case "run_finished":
        return `run ${e.workflow} ${e.status} in ${seconds(e.durationMs)}`;
    }
  }

  finish(): void {}
}

/** An inspection event as one JSON object (events as `{ type, data }`, errors as `{ name, message, code }`). */
export function inspectionJson(e: InspectionEvent): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) {
    if (v === undefined) continue;
    if (k === "event" || k === "input") out[k] = (v as Event).toJSON();
    else if (k === "emitted") out[k] = (v as readonly Event[]).map((x) => x.toJSON());
    else if (k === "error") out[k] = errorJson(v);
    else out[k] = v;
  }
  return out;
}

/** An error as JSON: name, message and code. */
export function errorJson(err: unknown): Record<string, unknown> {
  if (err instanceof Error) return { name: err.name, message: err.message, ...((err as { code?: unknown }).code !== undefined ? { code: (err as { code?: unknown }).code } : {}) };
  return { message: String(err) };
}

/** JSON lines on stdout: every inspection event, then the result or the error. */
export class JsonView implements ProgressView {
  readonly #out: Writable;
  constructor(out: Writable) {
    this.#out = out;
  }
  onEvent(e: InspectionEvent): void {
    this.#out.write(`${safeJson(inspectionJson(e))}\n`);
  }
  finish(): void {}
}

/** JSON.stringify that survives cycles and BigInts, with control characters escaped (see {@link cleanJson}). */
export function safeJson(value: unknown): string {
  const seen = new WeakSet();
  return cleanJson(JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === "bigint") return v.toString();
    if (v !== null && typeof v === "object") {
      if (seen.has(v)) return "[Circular]";
      seen.add(v);
    }
    return v;
  }) ?? "undefined");
}
