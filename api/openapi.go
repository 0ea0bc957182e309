package api

import (
	_ "embed"
	"net/http"
)

// openAPI is the OpenAPI 3.1 document of the API: every route of
// Server.routes. It is served as checked in, without a token: it describes
// the API and holds no secret, and client generators fetch it.
//
//go:embed openapi.json
var openAPI []byte

func openAPIHandler(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPI)
}
