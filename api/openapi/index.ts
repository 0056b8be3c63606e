export { openapiRouter } from "./router.ts";
export { openapiDocument } from "./document.ts";
