# A static binary on a distroless base, running as a non-root user.
#   docker build -t billing .
#   docker run -p 8000:8000 -v billing-data:/data billing
# Base images by their full names, which Podman needs as Docker does not.
FROM docker.io/library/golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Pure Go (modernc.org/sqlite): no cgo, so the binary needs no libc.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/billing ./cmd/billing && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/billing /billing
# The data directory belongs to the non-root user (distroless has no shell to chown).
COPY --from=build --chown=65532:65532 /out/data /data
COPY plans.json /etc/billing/plans.json
# SQLite's file lives on the volume; set DATABASE_URL=postgres://… to use PostgreSQL.
ENV DATABASE_URL=sqlite:/data/billing.db \
    BILLING_PLANS=/etc/billing/plans.json \
    BILLING_ADDR=:8000
WORKDIR /data
VOLUME /data
USER nonroot:nonroot
EXPOSE 8000
ENTRYPOINT ["/billing"]
CMD ["serve", "--log-format", "json"]
