# syntax=docker/dockerfile:1
# Tandem: the editor and the relay on one port (1234). See docs/deploy.md.
#
#   docker build -t tandem .
#   docker run -d -p 1234:1234 -v tandem-data:/data -e TANDEM_AUTH_SECRET tandem   # secret from your env
#
# Stages: build (all dependencies, `npm run build`: client into client/dist, server into dist),
# prune (the same node_modules without devDependencies, so better-sqlite3's native binary is built
# or downloaded once), runtime (Node, production node_modules and the two build outputs only).

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# better-sqlite3 downloads a prebuilt binary when one matches; otherwise it compiles from source,
# which needs these. They stay in this stage.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# `npm prune --omit=dev` leaves what `npm ci --omit=dev` would install, without installing (and
# possibly compiling better-sqlite3) a second time.
FROM build AS prune
RUN npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
  HOST=0.0.0.0 \
  PORT=1234 \
  TANDEM_DB=/data/tandem.db
WORKDIR /app
COPY --from=prune /app/package.json /app/package-lock.json ./
COPY --from=prune /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/client/dist ./client/dist
# The SQLite file (single instance) lives in the volume; with DATABASE_URL set, TANDEM_DB is ignored.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node
EXPOSE 1234
# Liveness: /health answers 200 while the process serves (503 while store writes fail or during
# shutdown). Readiness for a load balancer is /ready; docker-compose.yml probes that one.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||1234)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# main.ts handles SIGTERM itself (closes sockets with 1012, flushes rooms, exits 0): no shell in between.
STOPSIGNAL SIGTERM
CMD ["node", "dist/server/main.js"]
