// Removes the folders named on the command line (the build starts from an empty dist/, so no
// file of a deleted source lingers in the package).
import { rmSync } from "node:fs";

for (const dir of process.argv.slice(2)) rmSync(dir, { recursive: true, force: true });
