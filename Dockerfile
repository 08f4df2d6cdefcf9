# lb4's container image (README "Deploying"): a build stage that compiles
# the native relay and the TypeScript, and a runtime stage with no compiler.
#
#   docker build -t lb4 .
#   docker run --network host lb4 --listen 4443 --backend 127.0.0.1:8081
#
# The base image is a build argument, so the image can be built where no
# registry is reachable (any Debian-like image with Node.js 20 in
# /usr/local, its npm and its headers, as in the official images):
#
#   docker build --build-arg BASE=my-node20:bookworm -t lb4 .
ARG BASE=node:20-bookworm-slim

# ---- build: compiler, node-gyp, tsc ----
FROM ${BASE} AS build
# node-gyp needs python3, make and a C compiler; only this stage gets them
RUN set -eux; \
    if ! command -v gcc >/dev/null || ! command -v make >/dev/null || ! command -v python3 >/dev/null; then \
        apt-get update; \
        apt-get install -y --no-install-recommends gcc g++ make python3 libc6-dev; \
        rm -rf /var/lib/apt/lists/*; \
    fi
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the relay is compiled below, once its sources are here
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json binding.gyp ./
COPY native native
COPY scripts scripts
COPY src src
COPY bin bin
# the relay (against the headers installed with Node, no download), then the
# TypeScript, then drop the dev dependencies
RUN node scripts/build-native.mjs --strict \
    && npm run build \
    && npm prune --omit=dev --no-audit --no-fund \
    && test -f build/Release/lb4_relay.node

# ---- runtime: node, lb4, no compiler ----
FROM ${BASE}
ENV NODE_ENV=production
# a dedicated user; numeric in USER so that Kubernetes' runAsNonRoot can check it
RUN set -eux; \
    groupadd --gid 10001 lb4; \
    useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin lb4; \
    mkdir -p /etc/lb4
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules node_modules
COPY --from=build /src/dist dist
COPY --from=build /src/bin bin
COPY --from=build /src/build/Release/lb4_relay.node build/Release/lb4_relay.node
COPY deploy/healthcheck.mjs deploy/healthcheck.mjs
COPY LICENSE README.md ./
USER 10001:10001
EXPOSE 4443
# lb4 drains on SIGTERM (up to --drain-timeout, 30 s by default): give
# `docker stop` more than that (docker stop -t 35, or --stop-timeout 35)
STOPSIGNAL SIGTERM
# asks /health on the admin listener when there is one (deploy/healthcheck.mjs)
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["node", "/app/deploy/healthcheck.mjs"]
# exec form: lb4 is PID 1 (node with bin/lb4), so `docker stop`'s SIGTERM
# reaches it and drains; lb4 installs its own signal handlers and reaps its
# --workers children. `docker run --init` (tini) works as well.
ENTRYPOINT ["/app/bin/lb4"]
CMD ["--config", "/etc/lb4/lb4.yaml"]
