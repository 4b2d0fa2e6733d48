# booking-bridge, as a container: the package installed with pip into a slim Python 3.11,
# run as an unprivileged user. Configuration, certificates and secrets are mounted, never
# baked in (docs/operations.md, "In a container").
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed uid/gid, so files on a mounted volume can be given to it from the host.
RUN groupadd --system --gid 10001 booking-bridge \
 && useradd --system --uid 10001 --gid booking-bridge --home-dir /var/lib/booking-bridge \
        --shell /usr/sbin/nologin booking-bridge \
 && install -d -o booking-bridge -g booking-bridge -m 0700 /var/lib/booking-bridge

# Only what the package is built from (see .dockerignore): pyproject.toml, its README, the code.
WORKDIR /tmp/src
COPY pyproject.toml README.md ./
COPY bridge ./bridge
RUN pip install . && cd / && rm -rf /tmp/src

# The store lives here (set [store] path = "/var/lib/booking-bridge/bridge.sqlite3").
WORKDIR /var/lib/booking-bridge
VOLUME ["/var/lib/booking-bridge"]
USER booking-bridge:booking-bridge

# gRPC (v0, v2, health, reflection) and the v3 REST front, as config.example.toml has them.
EXPOSE 50051 8443

# A real gRPC health check against the running server's port, over its TLS. Under mutual TLS
# add --client-cert/--client-key (a certificate the server accepts) when running the image.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["booking-bridge", "healthcheck", "--config", "/etc/booking-bridge/config.toml", "--timeout", "5"]

# SIGTERM stops gracefully (give docker stop more than shutdown_grace_seconds: -t 20);
# SIGHUP (docker kill --signal HUP) reloads certificates, mappings and REST credentials.
ENTRYPOINT ["booking-bridge"]
CMD ["serve", "--config", "/etc/booking-bridge/config.toml"]
