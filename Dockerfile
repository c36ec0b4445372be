# Dockerfile: the image `make image` builds, for those who build with
# Docker: stable-egressd built on Debian bookworm, shipped on nothing but
# the files of its runtime libraries (deploy/image/packages and their
# dependencies, pruned by the same deploy/image/mkimage.py), as a
# non-root user.  No shell, no package manager.
#
#   docker build -t ghcr.io/tuist/stable-egressd:0.1.0 .

FROM debian:bookworm AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        gcc make libc6-dev pkg-config \
        libcurl4-openssl-dev libcjson-dev libyaml-dev \
        libseccomp-dev libcap-dev python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make -j"$(nproc)" \
 && ./build/stable-egressd --version

# The runtime libraries, installed with their maintainer scripts (the CA
# bundle is generated here); only their files reach the image.
FROM debian:bookworm AS runtime
ARG DEBIAN_FRONTEND=noninteractive
# libcurl4 brings OpenSSL; ca-certificates is the system bundle the
# workers read when no CA file is given.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        libcurl4 libcjson1 libyaml-0-2 libseccomp2 libcap2 ca-certificates \
 && rm -rf /var/lib/apt/lists/*

FROM build AS prune
COPY --from=runtime / /runtime/
RUN python3 deploy/image/mkimage.py prune --root /runtime --out /image \
        --binary build/stable-egressd --sbom /image.packages

FROM scratch
COPY --from=prune /image/ /
# Matches runAsUser/runAsGroup in the charts; /etc/passwd names it nonroot.
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/stable-egressd"]
