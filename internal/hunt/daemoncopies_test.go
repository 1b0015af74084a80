package hunt

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
)

// TestDaemonCopiesLinked: one knockd run wrote its LogFile and syslog
// (testdata of package decode, captured from the daemon lab); hunted
// together, each event's syslog finding supersedes its LogFile twin, and
// nothing else is linked.
func TestDaemonCopiesLinked(t *testing.T) {
	res, err := Run(context.Background(), Options{
		Paths:  []string{"../decode/testdata/knockd/syslog.log", "../decode/testdata/knockd-log/knockd.log"},
		Config: config.Default(), Location: time.UTC, Year: 2026,
	})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*alert.Alert{}
	for _, a := range res.Alerts {
		byID[a.ID] = a
	}
	// What each syslog finding supersedes, by event and source.
	links := map[string]string{}
	for _, a := range res.Alerts {
		if a.Supersedes == "" {
			continue
		}
		old := byID[a.Supersedes]
		if old == nil || a.Host != "gw01" || old.Attributes["time_precision"] != "minute" {
			t.Errorf("%s (%s) supersedes %s, not its LogFile twin", a.ID, a.Summary, a.Supersedes)
			continue
		}
		if old.Src != a.Src || old.Attributes["event"] != a.Attributes["event"] || old.Attributes["door"] != a.Attributes["door"] {
			t.Errorf("%s (%s) supersedes %s (%s), another event", a.ID, a.Summary, old.ID, old.Summary)
		}
		links[a.Attributes["event"]+" "+a.Attributes["door"]+" "+a.Src.String()] = old.ID
	}
	want := []string{
		"knock_completed openSSH 198.51.100.7",
		"knock_completed openSSH 2001:db8::7",
		"knock_completed opencloseSSH 198.51.100.7",
		"knock_failed openSSH 198.51.100.8",
		"knock_failed openSSH 198.51.100.9",
	}
	if got := slices.Sorted(maps.Keys(links)); !slices.Equal(got, want) {
		t.Errorf("linked %q, want %q", got, want)
	}
}
