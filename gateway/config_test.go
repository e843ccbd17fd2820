package gateway

import (
	"strings"
	"testing"
	"time"
)

func env(values map[string]string) func(string) string {
	return func(name string) string { return values[name] }
}

func TestDefaultsAreTheDesignPorts(t *testing.T) {
	config, err := LoadConfig(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if config.Listen != "127.0.0.1:8080" || config.Backends["cases"] != "127.0.0.1:50054" {
		t.Fatalf("unexpected defaults: %+v", config)
	}
	if config.GracePeriod != 10*time.Second || config.BackendTimeout != 30*time.Second {
		t.Fatalf("unexpected durations: %+v", config)
	}
}

func TestAFlagWinsOverItsVariableAndTheVariableOverTheDefault(t *testing.T) {
	config, err := LoadConfig(
		[]string{"--scoring", "10.0.0.1:1", "--grace-period", "0.5"},
		env(map[string]string{
			"ECAP_GATEWAY_SCORING_ADDRESS":   "10.0.0.2:2",
			"ECAP_GATEWAY_ANALYTICS_ADDRESS": "10.0.0.3:3",
			"ECAP_GATEWAY_CORS_ORIGINS":      " https://a.example , https://b.example,",
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	if config.Backends["scoring"] != "10.0.0.1:1" || config.Backends["analytics"] != "10.0.0.3:3" {
		t.Fatalf("backends: %v", config.Backends)
	}
	if strings.Join(config.CORSOrigins, "|") != "https://a.example|https://b.example" {
		t.Fatalf("origins: %q", config.CORSOrigins)
	}
	if config.GracePeriod != 500*time.Millisecond {
		t.Fatalf("grace period: %v", config.GracePeriod)
	}
}

func TestBadValuesNameTheFlagAndTheRule(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--cases", "nohost"}, `--cases: "nohost" is not host:port`},
		{[]string{"--grace-period", "-1"}, "--grace-period: \"-1\" must be a positive number of seconds"},
		{[]string{"--backend-timeout", "soon"}, "--backend-timeout: \"soon\" must be a positive"},
	} {
		_, err := LoadConfig(tc.args, env(nil))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.args, err, tc.want)
		}
	}
}
