// Every subpath export resolves to its declarations.
import { MemoryStore, type Store } from "stepwise-ai";
import { drawAllPossibleFlows, toMermaid } from "stepwise-ai/draw";
import { SqliteStore } from "stepwise-ai/sqlite";
import { PostgresStore } from "stepwise-ai/postgres";
import { Ticker } from "./handler.js";

export const stores: Store[] = [new MemoryStore(), new SqliteStore(":memory:"), new PostgresStore("postgres://localhost/test")];
export const mermaid: string = toMermaid(Ticker);
export const draw: typeof drawAllPossibleFlows = drawAllPossibleFlows;

// The client: an optional setting read from the environment (string | undefined) is accepted
// as it is, also under exactOptionalPropertyTypes.
import { createClient } from "stepwise-ai/client";
declare const fromEnv: string | undefined;
export const client = createClient({ baseUrl: "http://localhost:3000", token: fromEnv, reconnect: { attempts: undefined } });
