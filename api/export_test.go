package api

import (
	"maps"
	"net/http"
	"slices"
)

// RoutePatterns are the patterns Handler registers for the API, which
// api/openapi.json must describe.
func RoutePatterns() []string {
	var patterns []string
	(&Server{}).routes(func(pattern string, _ http.Handler) { patterns = append(patterns, pattern) })
	return patterns
}

// ErrorCodes are the codes of the error→status table, sorted.
func ErrorCodes() []string { return slices.Sorted(maps.Keys(errorStatus)) }
