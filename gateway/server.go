// Package gateway is ECAP's REST front door: grpc-gateway handlers generated from the
// protos' google.api.http annotations, in front of the four gRPC services.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	// Registers google.rpc.BadRequest, ErrorInfo, ... so error details marshal to JSON.
	_ "google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	ecapv1 "ecap.dev/gateway/gen/ecap/v1"
)

// Retries on UNAVAILABLE come from the service config, as in the Python mesh's clients.
const retryServiceConfig = `{
  "methodConfig": [{
    "name": [{}],
    "retryPolicy": {
      "maxAttempts": 3,
      "initialBackoff": "0.1s",
      "maxBackoff": "1s",
      "backoffMultiplier": 2,
      "retryableStatusCodes": ["UNAVAILABLE"]
    }
  }]
}`

type registerFunc func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error

var registrations = map[string][]registerFunc{
	"ingestion": {ecapv1.RegisterIngestionServiceHandler},
	"scoring":   {ecapv1.RegisterScoringServiceHandler},
	"analytics": {ecapv1.RegisterAnalyticsServiceHandler},
	"cases":     {ecapv1.RegisterCaseServiceHandler},
}

// Gateway holds the backend connections and the HTTP handler in front of them.
type Gateway struct {
	config  Config
	conns   map[string]*grpc.ClientConn
	handler http.Handler
	log     *slog.Logger
}

// New dials the backends (lazily: a backend that is down shows in /healthz and as 503s,
// it does not stop the gateway) and builds the routes.
func New(config Config, log *slog.Logger) (*Gateway, error) {
	gw := &Gateway{config: config, conns: map[string]*grpc.ClientConn{}, log: log}
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.HTTPBodyMarshaler{
			Marshaler: &runtime.JSONPb{
				// Zeros and empty lists are written out; unset messages are left out, not null.
				MarshalOptions: protojson.MarshalOptions{EmitDefaultValues: true},
				// An unknown field is a 400 naming it, not silently dropped.
				UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
			},
		}),
		runtime.WithRoutingErrorHandler(routingError),
		runtime.WithErrorHandler(namedFieldErrors),
	)
	ctx := context.Background()
	for _, name := range BackendNames {
		conn, err := grpc.NewClient(config.Backends[name],
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultServiceConfig(retryServiceConfig),
			grpc.WithUnaryInterceptor(defaultDeadline(config.BackendTimeout)),
		)
		if err != nil {
			gw.Close()
			return nil, fmt.Errorf("backend %s at %s: %w", name, config.Backends[name], err)
		}
		gw.conns[name] = conn
		for _, register := range registrations[name] {
			if err := register(ctx, mux, conn); err != nil {
				gw.Close()
				return nil, fmt.Errorf("routes of %s: %w", name, err)
			}
		}
	}

	routes := http.NewServeMux()
	routes.Handle("/v1/", mux)
	routes.HandleFunc("GET /healthz", gw.health)
	routes.HandleFunc("GET /openapi.json", serveOpenAPI)
	routes.Handle("GET /docs", http.RedirectHandler("/docs/", http.StatusMovedPermanently))
	routes.Handle("GET /docs/", http.StripPrefix("/docs/", http.FileServerFS(Docs)))
	// Anything else is answered by grpc-gateway, so unknown paths get a google.rpc.Status 404.
	routes.Handle("/", mux)
	gw.handler = logRequests(log, cors(config.CORSOrigins, routes))
	return gw, nil
}

// Handler is the gateway's HTTP handler (routes, CORS and request logging).
func (gw *Gateway) Handler() http.Handler { return gw.handler }

// Close closes the backend connections.
func (gw *Gateway) Close() {
	for _, conn := range gw.conns {
		_ = conn.Close()
	}
}

// Serve answers HTTP on listener until ctx ends, then shuts down gracefully: it stops
// accepting, lets in-flight requests finish within the grace period, then closes the rest
// (open watch streams).
func (gw *Gateway) Serve(ctx context.Context, listener net.Listener) error {
	server := &http.Server{Handler: gw.handler, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	gw.log.Info("listening", "address", listener.Addr().String(), "backends", gw.config.Backends)

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	gw.log.Info("draining", "grace_period_s", gw.config.GracePeriod.Seconds())
	drainCtx, cancel := context.WithTimeout(context.Background(), gw.config.GracePeriod)
	defer cancel()
	err := server.Shutdown(drainCtx)
	if errors.Is(err, context.DeadlineExceeded) {
		gw.log.Warn("grace period over, closing open connections")
		err = server.Close()
	}
	if served := <-served; !errors.Is(served, http.ErrServerClosed) {
		return served
	}
	gw.log.Info("stopped")
	return err
}

// routingError answers a known path asked with another method 405 (grpc-gateway's default is
// 501, a server error), with the same google.rpc.Status body as every other error.
func routingError(ctx context.Context, mux *runtime.ServeMux, marshaler runtime.Marshaler,
	w http.ResponseWriter, r *http.Request, httpStatus int) {
	if httpStatus != http.StatusMethodNotAllowed {
		runtime.DefaultRoutingErrorHandler(ctx, mux, marshaler, w, r, httpStatus)
		return
	}
	refusal := status.New(codes.Unimplemented,
		fmt.Sprintf("method %s is not allowed on %s", r.Method, r.URL.Path)).Proto()
	body, err := marshaler.Marshal(refusal)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", marshaler.ContentType(refusal))
	w.WriteHeader(http.StatusMethodNotAllowed)
	_, _ = w.Write(body)
}

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(OpenAPIDocument)
}

// defaultDeadline gives every unary backend call a deadline unless the caller set one
// (grpc-gateway turns a Grpc-Timeout request header into one).
func defaultDeadline(timeout time.Duration) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
		invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}
