// Command billing keeps a SaaS app's billing state in sync with Stripe.
// See package cli for the commands.
package main

import (
	"context"
	"os"

	"github.com/acme/billing/cli"
)

func main() {
	os.Exit(cli.Run(context.Background(), os.Args[1:], &cli.Env{
		Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, DotEnv: ".env",
	}))
}
