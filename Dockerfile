# One image for every process of the service; the command picks the role.
# The base image is a build argument so that a machine without a registry can build from a
# local stand-in tagged with another name (docs/containers.md, "Docker compose").
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
# npm behind a TLS-inspecting proxy needs the proxy's CA: NPM_CA_FILE names a PEM bundle
# inside the build context (e.g. a copy of /etc/ssl/certs/ca-certificates.crt). Empty, the
# default, keeps Node's own CA store. It is read in this stage only and never reaches the image.
ARG NPM_CA_FILE=
COPY package.json package-lock.json ./
COPY prisma ./prisma
# COPY needs a source even without a CA; package.json stands in and is never read as one.
COPY ${NPM_CA_FILE:-package.json} /tmp/npm-ca.pem
# The processes need only the production dependencies (tsx is one). postinstall generates
# the Prisma client with the Prisma CLI, which npm installs as @prisma/client's peer; an
# npm that skipped the script would leave no client, and the build stops here saying so.
RUN if [ -n "$NPM_CA_FILE" ]; then export NODE_EXTRA_CA_CERTS=/tmp/npm-ca.pem; fi \
 && npm ci --omit=dev --no-audit --no-fund --no-update-notifier \
 && { test -f infra/generated/prisma/client.ts || { echo "npm ci ran no postinstall: no Prisma client in infra/generated/prisma" >&2; exit 1; }; } \
 && rm -rf /root/.npm /tmp/npm-ca.pem

# The sources without the CA file the build context may hold for the stage above.
FROM ${NODE_IMAGE} AS src
ARG NPM_CA_FILE=
COPY . /src
RUN if [ -n "$NPM_CA_FILE" ]; then rm -f "/src/$NPM_CA_FILE"; fi

FROM ${NODE_IMAGE}
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY --from=deps /app/infra/generated ./infra/generated
COPY --from=src /src ./
USER node
CMD ["node", "--import", "tsx", "api/server.ts"]
