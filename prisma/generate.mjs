// Runs `prisma generate` offline. The CLI insists on a schema engine binary it cannot
// download here; generate never uses it, so any existing file will do.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const env = { ...process.env };
env.PRISMA_SCHEMA_ENGINE_BINARY ??= process.execPath;
env.PRISMA_HIDE_UPDATE_MESSAGE = "1";
env.CHECKPOINT_DISABLE = "1";
const cli = require.resolve("prisma/build/index.js");
const schema = fileURLToPath(new URL("./schema.prisma", import.meta.url));
const r = spawnSync(process.execPath, [cli, "generate", "--schema", schema], { env, stdio: "inherit" });
process.exit(r.status ?? 1);
