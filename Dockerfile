# syntax=docker/dockerfile:1
#
# The kinesyslog relay as a container image: a static binary on an empty base, run as a
# non-root user, configured by KINESYSLOG_* variables (README.md, "Container").
#
#   docker build -t kinesyslog --build-arg VERSION=v1.2.3 .
#   docker run --stop-timeout 60 -v kinesyslog-spool:/var/spool/kinesyslog -p 514:5514/udp \
#     -p 514:5514/tcp -p 6514:6514 -p 9514:9514 -e KINESYSLOG_STREAM=my-stream \
#     -e AWS_REGION=eu-west-1 kinesyslog
#
# Stop it with room for its shutdown (--stop-timeout): it spools what it holds and uploads within
# KINESYSLOG_SHUTDOWN_TIMEOUT (20s), longer than docker stop's default 10 s.
#
# The build stage leaves everything the image holds under /rootfs, so that the final stage can
# be built around files made elsewhere: `--build-context build=DIR` (docker buildx, buildah)
# replaces the build stage with DIR, whose rootfs/ holds the same files, as the test
# TestContainerImage (internal/e2e) does where no registry is reachable.

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd cmd
COPY internal internal
ARG VERSION=
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" \
      -o /rootfs/kinesyslog ./cmd/kinesyslog \
 && install -D -m 0644 /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ca-certificates.crt \
 && install -d -m 0700 /rootfs/var/spool/kinesyslog

FROM scratch
# The binary embeds its time zone database (time/tzdata); AWS's TLS needs the CA certificates.
COPY --from=build /rootfs/kinesyslog /kinesyslog
COPY --from=build /rootfs/etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# The spool, and the intake log under it, survive the container on a volume; a new volume takes
# this directory's owner and mode (0700), so that the user below can write it.
COPY --from=build --chown=65532:65532 /rootfs/var/spool/ /var/spool/
USER 65532:65532
VOLUME ["/var/spool/kinesyslog"]
# Ports above 1024, which a non-root user binds without privileges: map 514 to 5514 outside.
ENV KINESYSLOG_SPOOL_DIR=/var/spool/kinesyslog \
    KINESYSLOG_UDP_PORT=5514 \
    KINESYSLOG_TCP_PORT=5514 \
    KINESYSLOG_TLS_PORT=6514 \
    KINESYSLOG_METRICS_ADDRESS=0.0.0.0:9514
# Syslog over UDP and TCP, TLS (RFC5425), metrics with /healthz and /readyz; RELP
# (KINESYSLOG_RELP_PORT=2514) and GELF (KINESYSLOG_GELF_UDP_PORT=12201 and
# KINESYSLOG_GELF_TCP_PORT=12201) when configured.
EXPOSE 5514/udp 5514/tcp 6514/tcp 9514/tcp 2514/tcp 12201/udp 12201/tcp
ENTRYPOINT ["/kinesyslog"]
CMD ["listen"]
