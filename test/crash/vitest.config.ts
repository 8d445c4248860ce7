import { defineConfig } from "vitest/config";

/** `npm run test:crash`: the crash matrix only (slow: it spawns hundreds of processes), apart from `npm test`. */
export default defineConfig({
  resolve: { conditions: ["stepwise-source"] },
  ssr: { resolve: { conditions: ["stepwise-source"] } },
  test: {
    root: new URL("../..", import.meta.url).pathname,
    include: ["test/crash/**/*.crash.ts"],
    testTimeout: 1_800_000,
    hookTimeout: 60_000,
    typecheck: { enabled: false },
  },
});
