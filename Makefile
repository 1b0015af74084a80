# knockwatch developer targets. CI runs .ci/run; these are conveniences.
GO ?= go
CORPUS ?= lab/corpus

.PHONY: build test eval eval-update lab-install corpus e2e

build:
	$(GO) build -o bin/knockwatch ./cmd/knockwatch

test:
	$(GO) test ./...

# The scorecard: knockwatch and the fixed-bin baseline rule over the lab corpus.
eval:
	@$(GO) run ./cmd/kweval $(CORPUS)

# Refresh the scorecard's golden file after a deliberate detector change.
eval-update:
	$(GO) test ./cmd/kweval -run TestScorecardGolden -update

# The lab (root): install its Debian packages, re-record the corpus.
lab-install:
	lab/lab.sh install

corpus:
	lab/lab.sh record $(CORPUS)

# The end-to-end test alone (root; builds a lab in network namespaces).
e2e:
	$(GO) test -count=1 -v ./internal/e2e
