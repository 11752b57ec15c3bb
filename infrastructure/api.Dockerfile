# The HeyClaw API image: a release build of heyclaw-api on a slim base.
# Build from the repository root: docker build -f infrastructure/api.Dockerfile .
# Dependencies are built in a layer of their own (cargo-chef): a change to
# HeyClaw's code rebuilds HeyClaw's crates only.
FROM rust:1.95-bookworm AS chef
RUN cargo install cargo-chef --version 0.1.73 --locked
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json --package heyclaw-api
COPY . .
RUN cargo build --release --locked -p heyclaw-api

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/heyclaw-api /usr/local/bin/heyclaw-api
ENV PORT=3000
EXPOSE 3000
# Migrations are embedded; --migrate applies pending ones before serving.
ENTRYPOINT ["heyclaw-api", "--migrate"]
