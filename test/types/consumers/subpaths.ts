// Every subpath export resolves to its declarations.
import { MemoryStore, type Store } from "stepwise-ai";
import { drawAllPossibleFlows, toMermaid } from "stepwise-ai/draw";
import { SqliteStore } from "stepwise-ai/sqlite";
import { PostgresStore } from "stepwise-ai/postgres";
import { Ticker } from "./handler.js";

export const stores: Store[] = [new MemoryStore(), new SqliteStore(":memory:"), new PostgresStore("postgres://localhost/test")];
export const mermaid: string = toMermaid(Ticker);
export const draw: typeof drawAllPossibleFlows = drawAllPossibleFlows;
