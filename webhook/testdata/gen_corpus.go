//go:build ignore

// gen_corpus writes the seed corpora of the webhook input fuzz targets from
// the real fixtures of every API version (trigger/events/):
//
//	webhook/testdata/fuzz/FuzzDecode/  data.object of every fixture
//	webhook/testdata/fuzz/FuzzVerify/  a few events with typical headers
//	api/testdata/fuzz/FuzzWebhook/     every fixture event, unsigned or stale
//
// Run from the module root after changing the fixtures:
//
//	go run ./webhook/testdata/gen_corpus.go
//
// It replaces only the files it names (fixture-*), so inputs the fuzzer
// found and that were kept stay.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/acme/billing/trigger"
	"github.com/acme/billing/webhook"
)

// stamp is the fixtures' period start: events built at a fixed time, so that
// the corpus does not change from one run to the next.
var stamp = time.Unix(1767225600, 0)

// Secrets of the fuzz targets (webhook/fuzz_test.go, api/harness_test.go).
const (
	verifySecret  = "whsec_fuzz"
	webhookSecret = "whsec_test_secret_for_the_suite"
)

type fixture struct {
	version, name, typ, variant string
	set                         map[string]any
}

func fixtures() []fixture {
	var out []fixture
	for _, v := range trigger.APIVersions() {
		entries, err := os.ReadDir(filepath.Join("trigger", "events", v))
		if err != nil {
			log.Fatal(err)
		}
		for _, e := range entries {
			name := strings.TrimSuffix(e.Name(), ".json")
			typ, variant := name, ""
			if t, ok := strings.CutSuffix(name, ".payment"); ok {
				typ, variant = t, "payment"
			}
			out = append(out, fixture{version: v, name: name, typ: typ, variant: variant})
		}
	}
	// The old shape as sent before Stripe added the new fields to old
	// versions: the decoder's overlay alone must read it.
	out = append(out,
		fixture{version: "2020-08-27", name: "invoice.paid.as-sent-in-2020", typ: "invoice.paid", set: map[string]any{
			"data.object.parent": nil, "data.object.subscription_details": nil,
			"data.object.lines.data.0.pricing": nil, "data.object.lines.data.0.parent": nil}},
		fixture{version: "2020-08-27", name: "customer.subscription.updated.as-sent-in-2020", typ: "customer.subscription.updated", set: map[string]any{
			"data.object.items.data.0.current_period_start": nil, "data.object.items.data.0.current_period_end": nil}},
	)
	return out
}

func (fx fixture) build() []byte {
	p, err := trigger.Build(trigger.Options{Type: fx.typ, Variant: fx.variant, APIVersion: fx.version,
		EventID: "evt_fuzz_" + strings.ReplaceAll(fx.version+"_"+fx.name, ".", "_"), Created: stamp, Set: fx.set})
	if err != nil {
		log.Fatal(err)
	}
	return p
}

// write writes one input in Go's corpus file format.
func write(dir, name string, args ...any) {
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch a := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", a)
		case string:
			fmt.Fprintf(&b, "string(%q)\n", a)
		case int64:
			fmt.Fprintf(&b, "int64(%d)\n", a)
		case bool:
			fmt.Fprintf(&b, "bool(%t)\n", a)
		default:
			log.Fatalf("type %T", a)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "fixture-"+name), b.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
}

func main() {
	decodeDir := filepath.Join("webhook", "testdata", "fuzz", "FuzzDecode")
	verifyDir := filepath.Join("webhook", "testdata", "fuzz", "FuzzVerify")
	webhookDir := filepath.Join("api", "testdata", "fuzz", "FuzzWebhook")
	n := 0
	for i, fx := range fixtures() {
		p := fx.build()
		name := fx.version + "_" + fx.name
		var env struct {
			Data struct {
				Object json.RawMessage `json:"object"`
			} `json:"data"`
		}
		if err := json.Unmarshal(p, &env); err != nil {
			log.Fatal(err)
		}
		write(decodeDir, name, []byte(env.Data.Object))
		// Unsigned, and signed with the right secret long ago (too old):
		// the fuzzer mutates towards the checks after the signature.
		header := ""
		if i%2 == 1 {
			header = webhook.Sign(p, webhookSecret, stamp)
		}
		write(webhookDir, name, p, header)
		n += 2
		switch fx.name {
		case "invoice.paid", "customer.subscription.updated", "checkout.session.completed.payment":
		default:
			continue
		}
		signed := webhook.Sign(p, verifySecret, stamp)
		sig := signed[strings.Index(signed, "v1="):]
		headers := []string{signed} // stale
		if fx.name == "invoice.paid" {
			headers = append(headers,
				signed+",v1="+strings.Repeat("0", 64),    // several v1
				strings.Replace(signed, "v1=", "v0=", 1), // v0 only
				sig+",t=1767225600",                      // t last
			)
		}
		for j, h := range headers {
			write(verifyDir, fmt.Sprintf("%s_%d", name, j), p, h, int64(0), fx.version == trigger.LatestAPIVersion && j == 0)
			n++
		}
	}
	log.Printf("wrote %d corpus files", n)
}
