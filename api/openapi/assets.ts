import { createRequire } from "node:module";
import { dirname, join } from "node:path";

// The reference page's files, served from the installed swagger-ui-dist package: the page
// works without any network but this service's. Only these names are served.

const DIST = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));

export const DOCS_ASSETS: Record<string, { file: string; type: string }> = {
  "swagger-ui.css": { file: join(DIST, "swagger-ui.css"), type: "text/css; charset=utf-8" },
  "swagger-ui-bundle.js": { file: join(DIST, "swagger-ui-bundle.js"), type: "text/javascript; charset=utf-8" },
  "favicon-32x32.png": { file: join(DIST, "favicon-32x32.png"), type: "image/png" },
  "favicon-16x16.png": { file: join(DIST, "favicon-16x16.png"), type: "image/png" },
  "init.js": { file: join(import.meta.dirname, "docs-init.js"), type: "text/javascript; charset=utf-8" },
};
