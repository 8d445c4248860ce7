/** The agent's tools: plain objects the model sees by name, description and JSON Schema. */

/** A tool the agent may call. */
export interface Tool {
  name: string;
  description: string;
  /** JSON Schema of the arguments object. */
  parameters: Record<string, unknown>;
  /** Ask a person before running it (the run waits for a `HumanResponseEvent`). */
  dangerous?: boolean;
  /**
   * Runs the tool; the returned text is what the model observes. A thrown error is shown to the
   * model as `Error: …`. `callId` is the model's id for this call, the same when a resumed run
   * runs a call again that was in flight at a crash: use it as an idempotency key for side effects.
   */
  run(args: Record<string, unknown>, signal: AbortSignal, callId: string): Promise<string> | string;
}

/** Resolves after `ms`, or rejects with the signal's reason when it fires first. */
export const delay = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(t), reject(signal.reason as Error)), { once: true });
  });

const FACTS: Record<string, string> = {
  paris: "Paris is the capital of France, population about 2.1 million.",
  tokyo: "Tokyo is the capital of Japan, population about 14 million.",
  lima: "Lima is the capital of Peru, population about 10 million.",
  aapl: "AAPL is Apple's ticker on NASDAQ.",
};

/** A slow knowledge lookup (an API call stand-in): `latencyMs` each. */
export function lookupTool(latencyMs = 200): Tool {
  return {
    name: "lookup",
    description: "Look up a short fact about a topic (a city, a company, a ticker).",
    parameters: { type: "object", properties: { topic: { type: "string" } }, required: ["topic"], additionalProperties: false },
    async run(args, signal) {
      const topic = args.topic;
      if (typeof topic !== "string" || topic.trim() === "") throw new Error('lookup needs {"topic": "<non-empty string>"}');
      await delay(latencyMs, signal);
      return FACTS[topic.trim().toLowerCase()] ?? `No entry for ${topic.slice(0, 100)}.`;
    },
  };
}

/** Arithmetic on + - * / and parentheses, parsed (never `eval`). */
export function calculate(expression: string): number {
  if (expression.length > 200) throw new Error("expression longer than 200 characters");
  let i = 0;
  const peek = () => expression[i];
  const skip = () => {
    while (peek() === " ") i++;
  };
  const number = (): number => {
    skip();
    if (peek() === "(") {
      i++;
      const v = sum();
      skip();
      if (peek() !== ")") throw new Error(`expected ")" at ${i}`);
      i++;
      return v;
    }
    if (peek() === "-") {
      i++;
      return -number();
    }
    const m = /^\d+(\.\d+)?/.exec(expression.slice(i));
    if (!m) throw new Error(`expected a number at ${i} in "${expression}"`);
    i += m[0].length;
    return Number(m[0]);
  };
  const product = (): number => {
    let v = number();
    for (skip(); peek() === "*" || peek() === "/"; skip()) v = expression[i++] === "*" ? v * number() : v / number();
    return v;
  };
  const sum = (): number => {
    let v = product();
    for (skip(); peek() === "+" || peek() === "-"; skip()) v = expression[i++] === "+" ? v + product() : v - product();
    return v;
  };
  const v = sum();
  skip();
  if (i !== expression.length) throw new Error(`unexpected "${expression[i] ?? ""}" at ${i}`);
  return v;
}

export const calculatorTool: Tool = {
  name: "calculator",
  description: "Evaluate an arithmetic expression with + - * / and parentheses.",
  parameters: { type: "object", properties: { expression: { type: "string" } }, required: ["expression"], additionalProperties: false },
  run(args) {
    if (typeof args.expression !== "string") throw new Error('calculator needs {"expression": "<string>"}');
    return String(calculate(args.expression));
  },
};

/** A pretend mailer: the dangerous tool. Sent mails land in `outbox`. */
export function sendEmailTool(outbox: { to: string; subject: string; body: string }[] = []): Tool {
  return {
    name: "send_email",
    description: "Send an email on the user's behalf. A person approves every mail first.",
    parameters: { type: "object", properties: { to: { type: "string" }, subject: { type: "string" }, body: { type: "string" } }, required: ["to", "body"], additionalProperties: false },
    dangerous: true,
    run(args) {
      if (typeof args.to !== "string" || typeof args.body !== "string") throw new Error('send_email needs {"to": "<address>", "body": "<text>"}');
      outbox.push({ to: args.to, subject: typeof args.subject === "string" ? args.subject : "", body: args.body });
      return `Sent to ${args.to}.`;
    },
  };
}

/** The tools the agent has when none are given. */
export const defaultTools = (): Tool[] => [lookupTool(), calculatorTool, sendEmailTool()];
