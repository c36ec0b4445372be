# Dockerfile: build stable-egressd on Debian bookworm and ship it on
# bookworm-slim with only its runtime libraries, as a non-root user.
#
#   docker build -t ghcr.io/tuist/stable-egressd:0.1.0 .

FROM debian:bookworm AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        gcc make libc6-dev pkg-config \
        libcurl4-openssl-dev libcjson-dev libyaml-dev \
        libseccomp-dev libcap-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make -j"$(nproc)" \
 && ./build/stable-egressd --version

FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
# libcurl4 brings OpenSSL; ca-certificates is the system bundle the
# hcloud worker reads when --hcloud-ca-file is not given.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        libcurl4 libcjson1 libyaml-0-2 libseccomp2 libcap2 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/stable-egressd /usr/local/bin/stable-egressd
# Matches runAsUser/runAsGroup in deploy/base; no home, no shell needed.
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/stable-egressd"]
