package gateway

import (
	"embed"
	"io/fs"
)

// OpenAPIDocument is the merged OpenAPI document `make gen` writes from the protos.
//
//go:embed openapi/ecap.swagger.json
var OpenAPIDocument []byte

//go:embed docs
var docsFiles embed.FS

// Docs is the Swagger UI page and its vendored assets (swagger-ui-dist from npm).
var Docs, _ = fs.Sub(docsFiles, "docs")
