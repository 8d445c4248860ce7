import type { Engine } from "../types.js";

/** Engines by name, loaded on demand so each child process imports only the one it measures. */
export const engines: Record<string, () => Promise<Engine>> = {
  stepwise: async () => (await import("./stepwise.js")).stepwise,
  "workflow-core": async () => (await import("./workflow-core.js")).workflowCore,
  langgraph: async () => (await import("./langgraph.js")).langgraph,
  baseline: async () => (await import("./baseline.js")).baseline,
  floor: async () => (await import("./floor.js")).floor,
};
