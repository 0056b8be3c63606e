import { Router } from "express";
import { notFound } from "../errors.ts";
import { DOCS_ASSETS } from "./assets.ts";
import { openapiDocument } from "./document.ts";

// Everything the page loads comes from this service: no CDN, no fonts, no validator badge.
// The policy says so to the browser as well.
const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const DOCS_PAGE = `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>actions-lifecycle API reference</title>
    <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
    <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png" sizes="32x32">
    <link rel="icon" type="image/png" href="/docs/assets/favicon-16x16.png" sizes="16x16">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/assets/swagger-ui-bundle.js"></script>
    <script src="/docs/assets/init.js"></script>
  </body>
</html>
`;

/** GET /openapi.json, and the reference page GET /docs rendered from it by Swagger UI. */
export function openapiRouter(): Router {
  const r = Router();
  const body = JSON.stringify(openapiDocument());
  r.get("/openapi.json", (_req, res) => {
    res.type("application/json; charset=utf-8").send(body);
  });
  r.get("/docs", (_req, res) => {
    res.set("Content-Security-Policy", DOCS_CSP).type("text/html; charset=utf-8").send(DOCS_PAGE);
  });
  r.get("/docs/assets/:file", (req, res, next) => {
    const asset = Object.hasOwn(DOCS_ASSETS, req.params.file) ? DOCS_ASSETS[req.params.file] : undefined;
    if (!asset) throw notFound("route");
    // The files change only with the package; an hour of caching spares reloads 1.5 MB.
    res.set("Cache-Control", "public, max-age=3600");
    res.sendFile(asset.file, { headers: { "Content-Type": asset.type }, cacheControl: false, lastModified: false }, (err) => {
      if (err) next(err);
    });
  });
  return r;
}
