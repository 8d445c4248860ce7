import { MemoryStore } from "../../src/index.js";
import { describeStoreConformance } from "./conformance.js";

describeStoreConformance("MemoryStore", async () => ({ store: new MemoryStore() }));
