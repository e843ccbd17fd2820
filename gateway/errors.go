package gateway

import (
	"context"
	"net/http"
	"regexp"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The field named in the gateway's own decoding errors (protojson, query parameters).
var decodedField = regexp.MustCompile(`(?:parsing field|unknown field|for \w+ field) "?([\w.]+)"?`)

// namedFieldErrors gives the INVALID_ARGUMENT the gateway raises itself (a body or query
// parameter it cannot decode) the google.rpc.BadRequest the services attach to theirs, naming
// the field and what is wrong with it. Errors from the services pass unchanged.
func namedFieldErrors(ctx context.Context, mux *runtime.ServeMux, marshaler runtime.Marshaler,
	w http.ResponseWriter, r *http.Request, err error) {
	refusal := status.Convert(err)
	if refusal.Code() == codes.InvalidArgument && len(refusal.Details()) == 0 {
		field := "body"
		if match := decodedField.FindStringSubmatch(refusal.Message()); match != nil {
			field = match[1]
		}
		detailed, detailErr := refusal.WithDetails(&errdetails.BadRequest{
			FieldViolations: []*errdetails.BadRequest_FieldViolation{{
				Field:       field,
				Description: refusal.Message(),
				Reason:      "MALFORMED",
			}},
		})
		if detailErr == nil {
			err = detailed.Err()
		}
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, marshaler, w, r, err)
}
