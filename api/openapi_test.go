package api_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	valerrors "github.com/pb33f/libopenapi-validator/errors"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/acme/billing/api"
)

const openAPIPath = "/api/billing/openapi.json"

// spec is api/openapi.json, parsed once per test binary.
type spec struct {
	model *v3.Document
}

var loadSpec = sync.OnceValues(func() (*spec, error) {
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		return nil, err
	}
	doc, err := libopenapi.NewDocument(raw)
	if err != nil {
		return nil, fmt.Errorf("parse api/openapi.json: %w", err)
	}
	m, err := doc.BuildV3Model()
	if err != nil {
		return nil, fmt.Errorf("build api/openapi.json: %w", err)
	}
	return &spec{model: &m.Model}, nil
})

func joined(errs []*valerrors.ValidationError) error {
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = e
	}
	return errors.Join(out...)
}

// Every route Handler registers for the API is in the document, and the
// document has no operation that no route serves. A pattern without a
// method is documented by every operation of its path.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	s, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string][]string{} // path → its methods
	for path, item := range s.model.Paths.PathItems.FromOldest() {
		for method := range item.GetOperations().KeysFromOldest() {
			documented[path] = append(documented[path], strings.ToUpper(method))
		}
	}
	served := map[string]bool{}
	for _, pattern := range api.RoutePatterns() {
		method, path, ok := strings.Cut(pattern, " ")
		if !ok {
			method, path = "", pattern
		}
		methods := documented[path]
		switch {
		case len(methods) == 0:
			t.Errorf("route %q is not in api/openapi.json", pattern)
		case method != "" && !slices.Contains(methods, method):
			t.Errorf("route %q: api/openapi.json has %s %s only", pattern, methods, path)
		}
		for _, m := range methods {
			if method == "" || m == method {
				served[m+" "+path] = true
			}
		}
	}
	for path, methods := range documented {
		for _, m := range methods {
			if !served[m+" "+path] {
				t.Errorf("api/openapi.json has %s %s, which no route serves", m, path)
			}
		}
	}
}

// The document's error codes are those of the error→status table.
func TestOpenAPIErrorCodes(t *testing.T) {
	s, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, c := range s.model.Components.Schemas.GetOrZero("ErrorCode").Schema().Enum {
		codes = append(codes, c.Value)
	}
	slices.Sort(codes)
	if want := api.ErrorCodes(); !slices.Equal(codes, want) {
		t.Errorf("ErrorCode enum = %v, want the codes of errorStatus %v", codes, want)
	}
}

// GET /api/billing/openapi.json answers the checked-in document, without a
// token, and it is valid OpenAPI 3.1.
func TestOpenAPIServed(t *testing.T) {
	h := setup(t)
	resp, err := h.srv.Client().Get(h.srv.URL + openAPIPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	served, _ := io.ReadAll(resp.Body)
	want, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || !bytes.Equal(served, want) {
		t.Fatalf("GET %s: %d %q, %d bytes; want 200 application/json and api/openapi.json's %d bytes",
			openAPIPath, resp.StatusCode, resp.Header.Get("Content-Type"), len(served), len(want))
	}
	doc, err := libopenapi.NewDocument(served)
	if err != nil {
		t.Fatal(err)
	}
	if v := doc.GetSpecInfo().Version; !strings.HasPrefix(v, "3.1.") {
		t.Errorf("openapi %q, want 3.1.x", v)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatal(errors.Join(errs...))
	}
	if ok, errs := v.ValidateDocument(); !ok {
		t.Errorf("not valid OpenAPI 3.1: %v", joined(errs))
	}
}
