#!/bin/sh
# Gateway container entrypoint: write the base config if it is missing (the
# same code as `cargo xtask dev`), then run the gateway in the foreground.
set -eu
heyclaw-gateway-init --bind lan --port "${OPENCLAW_GATEWAY_PORT:-18789}"
exec openclaw gateway --bind lan --port "${OPENCLAW_GATEWAY_PORT:-18789}" --allow-unconfigured
