package decode

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Format is one input format.
type Format struct {
	// Name is what --format takes.
	Name string
	// Summary is one line for --help and `knockwatch formats`.
	Summary string
	// Sniff scores how much a sample record looks like this format: 0 for
	// not at all, higher for more specific evidence.
	Sniff func(rec []byte) int
	// New makes a decoder for one stream.
	New func(Options) Decoder
	// Parallel is true when every record decodes on its own, so a large file
	// may be cut into chunks decoded concurrently.
	Parallel bool
	// Lateness is how far out of time order the format's records may come
	// (Zeek writes a connection when it ends, not when it starts).
	Lateness time.Duration
	// Header is true when records depend on header lines at the top of
	// the file (Zeek's #fields, a CSV header row): a file followed from
	// its middle is primed with its head, and its decoder is never made
	// again (its times carry the year, so there is no date to refresh).
	Header bool
}

// formats is the single list of every built-in format. Order breaks sniffing
// ties: more specific formats first.
var formats = []Format{
	syslogFormat,
	knockdLogFormat,
	sentinelSyslogFormat,
	cefFormat,
	journaldFormat,
	zeekConnTSVFormat,
	zeekConnJSONFormat,
	sentinelCSLCSVFormat,
	sentinelCSLJSONFormat,
	vpcFlowFormat,
	vpcFlowCustomFormat,
	auditdFormat,
	sysmonFormat,
	defenderFormat,
	ecsFormat,
}

// Formats returns every built-in format.
func Formats() []Format { return formats }

// Lookup finds a format by name.
func Lookup(name string) (Format, error) {
	for _, f := range formats {
		if f.Name == name {
			return f, nil
		}
	}
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = f.Name
	}
	sort.Strings(names)
	return Format{}, fmt.Errorf("unknown format %q (known: %s)", name, strings.Join(names, ", "))
}

// Sniff picks the format that best matches sample records (the first
// non-empty lines of a stream). It reports false when none matches.
func Sniff(samples [][]byte) (Format, bool) {
	best, bestScore := -1, 0
	for i, f := range formats {
		score := 0
		for _, s := range samples {
			score += f.Sniff(s)
		}
		if score > bestScore {
			best, bestScore = i, score
		}
	}
	if best < 0 {
		return Format{}, false
	}
	return formats[best], true
}
