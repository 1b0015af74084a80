// Command kweval is knockwatch's scorecard: it runs knockwatch (hunt.Run,
// the engine every command uses) over the lab's recorded corpus and prints,
// per label and per detector, true positives, false positives, misses,
// recall, precision and the time from the completing packet to the alert,
// next to the same numbers for the fixed-bin three-branch SIEM rule
// (internal/baseline).
//
//	go run ./cmd/kweval [-config FILE] [CORPUS]   (default CORPUS: lab/corpus)
//
// The corpus is made by lab/lab.sh record; see lab/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/knockwatch/knockwatch/internal/cli"
	"github.com/knockwatch/knockwatch/internal/config"
)

func main() {
	cfgPath := flag.String("config", "", "knockwatch configuration (default: built-in defaults)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: kweval [-config FILE] [CORPUS]\n\nScores knockwatch and the fixed-bin baseline rule over a lab corpus (default lab/corpus).\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	corpus := "lab/corpus"
	switch flag.NArg() {
	case 0:
	case 1:
		corpus = flag.Arg(0)
	default:
		flag.Usage()
		os.Exit(2)
	}
	cfg := config.Default()
	if *cfgPath != "" {
		var err error
		if cfg, err = config.Load(*cfgPath); err != nil {
			fmt.Fprintln(os.Stderr, "kweval:", err)
			os.Exit(2)
		}
	}
	sc, err := Run(context.Background(), Options{Corpus: corpus, Config: cfg, Packets: cli.PacketOpener()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "kweval:", err)
		os.Exit(1)
	}
	if err := sc.Write(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kweval:", err)
		os.Exit(1)
	}
}
