# One image for every process of the service; the command picks the role.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
COPY prisma ./prisma
# Dev dependencies included: the Prisma CLI generates the client at install.
RUN npm ci --no-audit --no-fund
COPY . .
ENV NODE_ENV=production
USER node
CMD ["node", "--import", "tsx", "api/server.ts"]
