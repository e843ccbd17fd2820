package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

type healthReport struct {
	Status   string            `json:"status"`
	Backends map[string]string `json:"backends"`
}

// health asks every backend's grpc.health.v1 service at once: 200 when all are SERVING,
// 503 otherwise, naming each backend's state (or why it could not be asked).
func (gw *Gateway) health(w http.ResponseWriter, r *http.Request) {
	report := healthReport{Status: "SERVING", Backends: map[string]string{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, conn := range gw.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(r.Context(), gw.config.HealthTimeout)
			defer cancel()
			state := "UNREACHABLE"
			reply, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
			if err == nil {
				state = reply.GetStatus().String()
			}
			mu.Lock()
			defer mu.Unlock()
			report.Backends[name] = state
			if state != "SERVING" {
				report.Status = "NOT_SERVING"
			}
		}()
	}
	wg.Wait()
	w.Header().Set("Content-Type", "application/json")
	if report.Status != "SERVING" {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(report)
}
