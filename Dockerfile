# PersonalOS container image: multi-stage, Debian 12, runs as a non-root user.
#   docker build -t personalos .
#   docker compose up -d            (docker-compose.yml; settings from .env)
# The build stage compiles the server and the web app from this tree; the
# runtime stage holds only the binary, the web app and the shared libraries.
#
# The two bases can be overridden (scripts/container-drill builds both from a
# local Debian 12 rootfs made by debootstrap, where no registry is reachable):
#   podman build --build-arg BUILD_BASE=localhost/debian12 \
#                --build-arg RUNTIME_BASE=localhost/debian12 -t personalos .
ARG BUILD_BASE=debian:12
ARG RUNTIME_BASE=debian:12-slim

FROM ${BUILD_BASE} AS build
# The commit `personalos --version` names (.git is not in the build context):
#   docker build --build-arg GIT_COMMIT="$(git describe --always --dirty --abbrev=12)" .
ARG GIT_COMMIT=unknown
ENV DEBIAN_FRONTEND=noninteractive
COPY scripts/install-deps /tmp/install-deps
RUN apt-get update && sh /tmp/install-deps --build-only && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN rm -rf build web/node_modules web/dist \
 && ./scripts/build-web \
 && cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
          -DCMAKE_INSTALL_PREFIX=/usr \
 && POS_GIT_COMMIT="$GIT_COMMIT" cmake --build build -j"$(nproc)" \
 && DESTDIR=/out cmake --install build

FROM ${RUNTIME_BASE}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends \
      libmicrohttpd12 libjansson4 libsqlite3-0 libsodium23 libcurl4 \
      libgmime-3.0-0 libzxcvbn0 libical3 libxml2 libarchive13 zlib1g ca-certificates curl \
      liblua5.4-0 libmagic1 libpoppler-glib8 libexif12 libtesseract5 tesseract-ocr-eng \
      libvips42 libseccomp2 libpq5 libhiredis0.14 libnettle8 libstemmer0d wordnet-base \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /var/lib/personalos --create-home --uid 10001 personalos
COPY --from=build /out/usr/ /usr/
USER personalos
WORKDIR /var/lib/personalos
VOLUME ["/var/lib/personalos"]
# Inside the container the server listens on all interfaces; publish the port
# on the host's loopback (docker-compose.yml) and put TLS in front (docs/DEPLOY.md).
ENV PERSONALOS_LISTEN=0.0.0.0:8420 \
    PERSONALOS_DATA=/var/lib/personalos \
    PERSONALOS_WEB_ROOT=/usr/share/personalos/web \
    PERSONALOS_PLUGINS_DIR=/usr/share/personalos/plugins
EXPOSE 8420
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8420/health || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/personalos"]
CMD ["serve"]
