package gateway

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is the gateway's configuration. Every flag has an ECAP_GATEWAY_* variable; a flag
// given on the command line wins over the variable, the variable over the default.
type Config struct {
	Listen         string
	Backends       map[string]string // service name -> gRPC host:port
	CORSOrigins    []string
	GracePeriod    time.Duration
	BackendTimeout time.Duration
	HealthTimeout  time.Duration
}

// BackendNames are the services behind the gateway, in the order /healthz lists them.
var BackendNames = []string{"ingestion", "scoring", "analytics", "cases"}

var defaultBackends = map[string]string{
	"ingestion": "127.0.0.1:50051",
	"scoring":   "127.0.0.1:50052",
	"analytics": "127.0.0.1:50053",
	"cases":     "127.0.0.1:50054",
}

// LoadConfig reads the flags in args and the environment.
func LoadConfig(args []string, getenv func(string) string) (Config, error) {
	fs := flag.NewFlagSet("ecap-gateway", flag.ContinueOnError)
	env := func(name, fallback string) string {
		if value := getenv("ECAP_GATEWAY_" + name); value != "" {
			return value
		}
		return fallback
	}
	listen := fs.String("listen", env("LISTEN", "127.0.0.1:8080"), "HTTP listen address host:port (ECAP_GATEWAY_LISTEN)")
	backends := map[string]*string{}
	for _, name := range BackendNames {
		variable := strings.ToUpper(name) + "_ADDRESS"
		backends[name] = fs.String(name, env(variable, defaultBackends[name]),
			fmt.Sprintf("gRPC address of the %s service (ECAP_GATEWAY_%s)", name, variable))
	}
	origins := fs.String("cors-origins", env("CORS_ORIGINS", "http://localhost:5006,http://127.0.0.1:5006"),
		"comma-separated origins allowed by CORS, or * for any (ECAP_GATEWAY_CORS_ORIGINS)")
	grace := fs.String("grace-period", env("GRACE_PERIOD_S", "10"),
		"seconds to finish in-flight requests after SIGTERM (ECAP_GATEWAY_GRACE_PERIOD_S)")
	timeout := fs.String("backend-timeout", env("BACKEND_TIMEOUT_S", "30"),
		"deadline in seconds of each unary backend call without a Grpc-Timeout header (ECAP_GATEWAY_BACKEND_TIMEOUT_S)")
	healthTimeout := fs.String("health-timeout", env("HEALTH_TIMEOUT_S", "2"),
		"deadline in seconds of each backend health check behind /healthz (ECAP_GATEWAY_HEALTH_TIMEOUT_S)")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}

	config := Config{Listen: *listen, Backends: map[string]string{}}
	for name, address := range backends {
		if !strings.Contains(*address, ":") {
			return Config{}, fmt.Errorf("--%s: %q is not host:port", name, *address)
		}
		config.Backends[name] = *address
	}
	for _, origin := range strings.Split(*origins, ",") {
		if origin = strings.TrimSpace(origin); origin != "" {
			config.CORSOrigins = append(config.CORSOrigins, origin)
		}
	}
	var err error
	if config.GracePeriod, err = seconds("grace-period", *grace); err != nil {
		return Config{}, err
	}
	if config.BackendTimeout, err = seconds("backend-timeout", *timeout); err != nil {
		return Config{}, err
	}
	if config.HealthTimeout, err = seconds("health-timeout", *healthTimeout); err != nil {
		return Config{}, err
	}
	return config, nil
}

func seconds(flagName, value string) (time.Duration, error) {
	parsed, err := strconv.ParseFloat(value, 64)
	if err != nil || parsed <= 0 {
		return 0, fmt.Errorf("--%s: %q must be a positive number of seconds", flagName, value)
	}
	return time.Duration(parsed * float64(time.Second)), nil
}

// LoadConfigFromOS reads os.Args and the process environment.
func LoadConfigFromOS() (Config, error) {
	return LoadConfig(os.Args[1:], os.Getenv)
}
