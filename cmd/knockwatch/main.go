// Command knockwatch detects traffic signaling (MITRE ATT&CK T1205): port
// knocking, single-packet authorization and magic packets. See
// `knockwatch --help`.
package main

import (
	"os"

	"github.com/knockwatch/knockwatch/internal/cli"
)

func main() {
	os.Exit(cli.Execute(os.Args[1:]))
}
