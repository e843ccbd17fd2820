package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func preflight(handler http.Handler, origin string) *httptest.ResponseRecorder {
	request := httptest.NewRequest(http.MethodOptions, "/v1/cases", nil)
	request.Header.Set("Origin", origin)
	request.Header.Set("Access-Control-Request-Method", "PATCH")
	recorder := httptest.NewRecorder()
	handler.ServeHTTP(recorder, request)
	return recorder
}

func TestCORSAnswersPreflightOnlyForAllowedOrigins(t *testing.T) {
	reached := false
	handler := cors([]string{"https://desk.example"}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		reached = true
	}))

	allowed := preflight(handler, "https://desk.example")
	if allowed.Code != http.StatusNoContent ||
		allowed.Header().Get("Access-Control-Allow-Origin") != "https://desk.example" ||
		allowed.Header().Get("Access-Control-Allow-Methods") == "" {
		t.Fatalf("allowed origin: %d %v", allowed.Code, allowed.Header())
	}
	refused := preflight(handler, "https://elsewhere.example")
	if refused.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("another origin got CORS headers: %v", refused.Header())
	}
	if reached {
		t.Fatal("a preflight reached the API")
	}
}

func TestCORSStarAllowsAnyOriginOnRequests(t *testing.T) {
	handler := cors([]string{"*"}, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}))
	request := httptest.NewRequest(http.MethodGet, "/v1/cases", nil)
	request.Header.Set("Origin", "https://any.example")
	recorder := httptest.NewRecorder()
	handler.ServeHTTP(recorder, request)
	if recorder.Code != http.StatusTeapot ||
		recorder.Header().Get("Access-Control-Allow-Origin") != "https://any.example" {
		t.Fatalf("%d %v", recorder.Code, recorder.Header())
	}
}
