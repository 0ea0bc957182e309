package redact_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/acme/billing/redact"
)

func TestMask(t *testing.T) {
	for secret, want := range map[string]string{
		"sk_test_51AbCdEf":   "sk_test_****",
		"sk_live_51AbCdEf":   "sk_live_****",
		"rk_test_51AbCdEf":   "rk_test_****",
		"rk_live_51AbCdEf":   "rk_live_****",
		"pk_test_51AbCdEf":   "pk_test_****",
		"pk_live_51AbCdEf":   "pk_live_****",
		"whsec_0123456789ab": "whsec_****",
		"bk_dev_0123456789":  "bk_dev_****",
		// Unknown types show at most 4 characters, up to an underscore.
		"sk_foo_123":             "sk_****",
		"sec_bad":                "sec_****",
		"abcdefghi_jklmnopqrstu": "****",
		"my_long_api_key_value":  "my_****",
		"api-key-0123456789":     "****",
		"bk_live_0123456789":     "bk_****",
		"_":                      "_****",
		"":                       `""`,
	} {
		if got := redact.Mask(secret); got != want {
			t.Errorf("Mask(%q) = %q, want %q", secret, got, want)
		}
	}
}

// Every form in which pgx takes a password, and URLs it would misread.
func TestDSN(t *testing.T) {
	tests := []struct {
		name, in, want string
		passwords      []string
	}{
		{"user info", "postgres://billing:s3cret@db:5432/billing?sslmode=require",
			"postgres://billing:****@db:5432/billing?sslmode=require", []string{"s3cret"}},
		{"postgresql scheme, escaped", "postgresql://billing:p%40ss%2Fw@db/billing",
			"postgresql://billing:****@db/billing", []string{"p%40ss%2Fw", "p@ss/w"}},
		{"query parameter", "postgres://billing@db/billing?sslmode=disable&password=s3cret&search_path=x",
			"postgres://billing@db/billing?sslmode=disable&password=****&search_path=x", []string{"s3cret"}},
		{"sslpassword and an escaped key", "postgres://db/billing?sslpassword=key-pw&pass%77ord=qu%26ery",
			"postgres://db/billing?sslpassword=****&pass%77ord=****", []string{"key-pw", "qu%26ery", "qu&ery"}},
		{"user info and query", "postgres://u:one@db/b?password=two", "postgres://u:****@db/b?password=****", []string{"one", "two"}},
		{"keyword/value", "host=db user=billing password=s3cret dbname=billing",
			"host=db user=billing password=**** dbname=billing", []string{"s3cret"}},
		{"keyword/value, spaced and quoted", `host=db password = 'pass phrase' sslpassword=k\ ey dbname=b`,
			"host=db password = **** sslpassword=**** dbname=b", []string{"'pass phrase'", "pass phrase", `k\ ey`, "k ey"}},
		{"keyword/value, quoted with escapes", `password='a \'b\' c' host=db`, "password=**** host=db", []string{`'a \'b\' c'`, "a 'b' c"}},
		{"keyword/value, unterminated quote", "host=db password='never ends", "host=db password=****", []string{"'never ends", "never ends"}},
		{"unescaped @ in the password", "postgres://billing:p@ss@db/billing", "postgres://billing:****@db/billing", []string{"p@ss"}},
		{"unescaped / and ? in the password", "postgres://billing:p/a?ss@db/billing", "postgres://billing:****@db/billing", []string{"p/a?ss"}},
		{"no host", "postgres://billing:s3cret/billing", "postgres://billing:****/billing", []string{"s3cret"}},
		{"foreign scheme", "mysql://root:pw@tcp(localhost:3306)/db", "mysql://root:****@tcp(localhost:3306)/db", []string{"pw"}},
		{"smtp", "smtps://mailer:s3cret@mail.example.com:465?auth=plain", "smtps://mailer:****@mail.example.com:465?auth=plain", []string{"s3cret"}},
		{"no password", "postgres://billing@db:5432/billing", "postgres://billing@db:5432/billing", nil},
		{"empty password", "postgres://billing:@db/billing", "postgres://billing:@db/billing", nil},
		{"numeric ports, many hosts", "postgres://db1:5432,db2:5433/billing", "postgres://db1:5432,db2:5433/billing", nil},
		{"IPv6 host", "postgres://[::1]:5432/billing", "postgres://[::1]:5432/billing", nil},
		{"IPv6 host without a port", "postgres://[::1]/billing", "postgres://[::1]/billing", nil},
		{"sqlite", "sqlite:billing.db", "sqlite:billing.db", nil},
		{"sqlite URL", "sqlite:///var/lib/billing.db?mode=rwc", "sqlite:///var/lib/billing.db?mode=rwc", nil},
		{"empty", "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := redact.DSN(tt.in); got != tt.want {
				t.Errorf("DSN(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if got := redact.Passwords(tt.in); !slices.Equal(got, tt.passwords) {
				t.Errorf("Passwords(%q) = %q, want %q", tt.in, got, tt.passwords)
			}
		})
	}
}

func TestText(t *testing.T) {
	check(t, "Text", redact.Text, map[string]string{
		"Authorization was 'Bearer sk_live_123abc'.":          "Authorization was 'Bearer sk_live_****'.",
		"Invalid API Key provided: sk_test_****1234":          "Invalid API Key provided: sk_test_****",
		"restricted rk_test_AbC and pk_live_x, whsec_y":       "restricted rk_test_**** and pk_live_****, whsec_****",
		"dev key bk_dev_0123abcd":                             "dev key bk_dev_****",
		"No such price: 'price_TestPro'":                      "No such price: 'price_TestPro'",
		"task_live_1 is no key":                               "task_live_1 is no key",
		"want a key starting sk_test_, rk_live_ or whsec_":    "want a key starting sk_test_, rk_live_ or whsec_",
		"bk_other is no development key":                      "bk_other is no development key",
		"cannot parse `postgres://u:pw@db/x`: invalid":        "cannot parse `postgres://u:****@db/x`: invalid",
		`DATABASE_URL "mysql://root:pw@db/x": no`:             `DATABASE_URL "mysql://root:****@db/x": no`,
		"dial smtp://a:b@h and postgres://c:d@h/x?password=e": "dial smtp://a:****@h and postgres://c:****@h/x?password=****",
		"connect host=db password=pw dbname=x: refused":       "connect host=db password=**** dbname=x: refused",
		"user=billing database=billing: refused":              "user=billing database=billing: refused",
		"owner@acme.example is not http://acme.example/a@b":   "owner@acme.example is not http://acme.example/a@b",
		"the password was wrong":                              "the password was wrong",
	})
}

// check runs f on each case's input.
func check(t *testing.T, name string, f func(string) string, cases map[string]string) {
	t.Helper()
	for in, want := range cases {
		if got := f(in); got != want {
			t.Errorf("%s(%q) = %q, want %q", name, in, got, want)
		}
	}
}

func TestRedactor(t *testing.T) {
	r := redact.New("sk_test_51Configured", "api-key-0123456789", "db-word", "", "smtp-pass-word", "smtp-pass-word-longer")
	check(t, "String", r.String, map[string]string{
		"the page quoted sk_test_51Configured and api-key-0123456789": "the page quoted sk_test_**** and ****",
		// db-word is shorter than MinLength: replaced only where it is structurally a password.
		"db-word is short; postgres://u:db-word@h/db": "db-word is short; postgres://u:****@h/db",
		"550 mailer:smtp-pass-word-longer refused":    "550 mailer:**** refused",
		"535 smtp-pass-word? no":                      "535 ****? no",
		"nothing secret here":                         "nothing secret here",
	})
	var none *redact.Redactor
	if got := none.String("key sk_live_abc in postgres://u:pw@h"); got != "key sk_live_**** in postgres://u:****@h" {
		t.Errorf("nil Redactor: %q", got)
	}
	if got := redact.New("short").String("short"); got != "short" {
		t.Errorf("a secret under MinLength was replaced as a substring: %q", got)
	}
	if !strings.Contains(redact.New(strings.Repeat("x", redact.MinLength)).String("a xxxxxxxx b"), "****") {
		t.Errorf("a secret of MinLength was not replaced")
	}
}
