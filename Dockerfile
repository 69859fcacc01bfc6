# devreg: build a static-enough release binary, run it on a slim Debian with the database
# on a volume. fly.io builds from this file (fly.toml).
FROM rust:1-bookworm AS build
WORKDIR /src
# What the binary's build reads: the manifest, the sources, and the files it embeds
# (both schemas with include_str!, console/ with include_bytes!).
COPY Cargo.toml Cargo.lock schema.sql schema.pg.sql ./
COPY console ./console
COPY src ./src
RUN cargo build --release --locked --bin devreg

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /data
COPY --from=build /src/target/release/devreg /usr/local/bin/devreg
ENV DEVREG_BIND=0.0.0.0:8080 \
    DEVREG_DB=/data/devreg.db \
    RUST_LOG=info
EXPOSE 8080
VOLUME ["/data"]
ENTRYPOINT ["devreg"]
CMD ["serve"]
