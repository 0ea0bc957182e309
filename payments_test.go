package billing_test

import (
	"testing"

	"github.com/acme/billing"
)

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "127.0.0.1": true, "127.0.0.2": true, "::1": true,
		"": false, "example.com": false, "10.0.0.7": false, "[::1]": false, "localhost.example.com": false,
	} {
		if got := billing.IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}
