"""The service mesh bootstrap shared by every ECAP service.

`server.serve(spec, settings)` runs a service: a `grpc.aio` server with health, reflection,
Prometheus metrics and one interceptor (auth, validation, metrics, tracing, logging, error
mapping). `client.connect(target, ...)` opens a channel with deadlines, retries and auth.
"""
