/**
 * Crash-matrix cells that fail today, each with the item of issue 11 that fixes it. The matrix
 * expects these to fail (at least one kill point of the flow on that store gives a wrong outcome)
 * and every other cell to pass: it turns red when one of these starts passing (remove it here) or
 * when anything else breaks.
 */
export const KNOWN_FAILURES: readonly { flow: string; store: "sqlite" | "postgres" | "any"; item: string; why: string }[] = [];
