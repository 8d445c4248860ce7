import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Engine } from "../types.js";

/** bench/peers/, the peers' own package (its node_modules is installed by `npm run bench`, not by the library's install). */
export const PEERS_DIR = fileURLToPath(new URL("../peers/", import.meta.url));

/** True when bench/peers/node_modules is installed (`npm --prefix bench/peers ci`). */
export const peersInstalled = (): boolean => existsSync(new URL("../peers/node_modules/.package-lock.json", import.meta.url));

/** Thrown when a peer engine is asked for but bench/peers is not installed. */
export class PeersMissing extends Error {
  override readonly name = "PeersMissing";
}

// The peers' files are imported through a computed URL so that type-checking the library
// (which does not install the peers) does not follow them; bench/peers/tsconfig.json checks them.
async function peer<T>(file: string): Promise<T> {
  if (!peersInstalled()) throw new PeersMissing(`bench/peers is not installed: run \`npm --prefix bench/peers ci\` (npm run bench does it when missing).`);
  return (await import(new URL(`../peers/${file}`, import.meta.url).href)) as T;
}

type WorkflowCore = { workflowCore(idiom: "stream" | "stop handler"): Engine };

/** Engines by name, loaded on demand so each child process imports only the one it measures. */
export const engines: Record<string, () => Promise<Engine>> = {
  stepwise: async () => (await import("./stepwise.js")).stepwise,
  "stepwise-fields": async () => (await import("./stepwise.js")).stepwiseFields,
  "workflow-core": async () => (await peer<WorkflowCore>("workflow-core.ts")).workflowCore("stream"),
  "workflow-core-stop": async () => (await peer<WorkflowCore>("workflow-core.ts")).workflowCore("stop handler"),
  langgraph: async () => (await peer<{ langgraph: Engine }>("langgraph.ts")).langgraph,
  mastra: async () => (await peer<{ mastra: Engine }>("mastra.ts")).mastra,
  baseline: async () => (await import("./baseline.js")).baseline,
  floor: async () => (await import("./floor.js")).floor,
  "floor-queue": async () => (await import("./floor.js")).floorQueue,
};

/** The engines that live in bench/peers. */
export const PEER_ENGINES = new Set(["workflow-core", "workflow-core-stop", "langgraph", "mastra"]);
