#!/bin/sh
# Gateway container entrypoint (one shard):
# 1. `heyclaw-keeper init` writes the base config if it is missing and the
#    roster of slot agents (GATEWAY_MAX_RESIDENT_AGENTS), before the gateway
#    reads them;
# 2. the keeper runs beside the gateway, restarted if it ever exits: it moves
#    users' workspace files in and out of slots as the database says;
# 3. the gateway runs in the foreground, without the database URL or other
#    secrets of the keeper in its environment.
set -eu
PORT="${OPENCLAW_GATEWAY_PORT:-18789}"
heyclaw-keeper init --bind lan --port "$PORT"
(
    while true; do
        heyclaw-keeper run --bind lan --port "$PORT" || true
        sleep 2
    done
) &
exec env -u DATABASE_URL -u REDIS_URL -u JWT_SECRET \
    openclaw gateway --bind lan --port "$PORT" --allow-unconfigured
