import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { conditions: ["stepwise-source"] },
  ssr: { resolve: { conditions: ["stepwise-source"] } },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 20_000,
    typecheck: { enabled: false },
  },
});
