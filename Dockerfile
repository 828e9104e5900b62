# Build a static binary, then ship it alone on a distroless, non-root base.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
# The server's go.mod replaces the verifier module with ./verifier.
COPY verifier/go.mod verifier/go.sum ./verifier/
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/authsvc/authsvc/cli.version=${VERSION}" -o /out/authsvc . \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/authsvc /authsvc
# The embedded SQLite database and its generated secret live in /data: mount a volume there.
COPY --from=build --chown=nonroot:nonroot /out/data /data
ENV DATABASE_URL=sqlite:///data/authsvc.db \
    HTTP_ADDR=:8080
USER nonroot:nonroot
EXPOSE 8080
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s CMD ["/authsvc", "healthcheck"]
ENTRYPOINT ["/authsvc"]
CMD ["serve"]
