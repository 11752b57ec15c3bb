# The HeyClaw API image: a release build of heyclaw-api on a slim base.
# Build from the repository root: docker build -f infrastructure/api.Dockerfile .
FROM rust:1.95-bookworm AS build
WORKDIR /src
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
