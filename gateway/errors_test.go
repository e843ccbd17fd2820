package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type violation struct {
	Field, Description, Reason string
}

func errorBody(t *testing.T, err error) (int, []violation) {
	t.Helper()
	recorder := httptest.NewRecorder()
	request := httptest.NewRequest(http.MethodGet, "/v1/cases", nil)
	mux := runtime.NewServeMux()
	namedFieldErrors(context.Background(), mux, &runtime.JSONPb{}, recorder, request, err)
	var body struct {
		Code    int
		Details []struct {
			Type            string `json:"@type"`
			FieldViolations []violation
		}
	}
	if err := json.Unmarshal(recorder.Body.Bytes(), &body); err != nil {
		t.Fatal(err, recorder.Body.String())
	}
	var violations []violation
	for _, detail := range body.Details {
		violations = append(violations, detail.FieldViolations...)
	}
	return recorder.Code, violations
}

func TestTheGatewaysOwnDecodingErrorsNameTheField(t *testing.T) {
	for message, field := range map[string]string{
		`parsing field "page_size": strconv.ParseInt: parsing "abc": invalid syntax`: "page_size",
		`proto: (line 1:20): unknown field "colour"`:                                 "colour",
		`proto: (line 1:16): invalid value for string field customerId: 5`:           "customerId",
		`invalid character 'n' looking for beginning of object key string`:           "body",
	} {
		code, violations := errorBody(t, status.Error(codes.InvalidArgument, message))
		if code != http.StatusBadRequest || len(violations) != 1 ||
			violations[0].Field != field || violations[0].Description != message {
			t.Errorf("%q: %d %+v, want field %q", message, code, violations, field)
		}
	}
}

func TestServiceErrorsPassUnchanged(t *testing.T) {
	code, violations := errorBody(t, status.Error(codes.NotFound, "case c-1 does not exist"))
	if code != http.StatusNotFound || violations != nil {
		t.Fatalf("%d %+v", code, violations)
	}
}
