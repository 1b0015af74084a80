package kafka

import (
	"bufio"
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/knockwatch/knockwatch/internal/decode"
	"github.com/knockwatch/knockwatch/internal/stats"
)

// FuzzRouteKey: whatever a collector writes to the unkeyed topic, the
// router finds a key without failing, and a key is a canonical address or
// a daemon host. Seeds are the syslog and knockd samples of the decoders'
// testdata.
func FuzzRouteKey(f *testing.F) {
	for _, dir := range []string{"syslog", "knockd", "fwknopd", "cef"} {
		files, _ := filepath.Glob(filepath.Join("..", "decode", "testdata", dir, "*"))
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil || filepath.Ext(p) == ".md" {
				continue
			}
			sc := bufio.NewScanner(bytes.NewReader(b))
			for sc.Scan() {
				f.Add(append([]byte(nil), sc.Bytes()...))
			}
		}
	}
	f.Add([]byte("line one\nline two\r\n"))
	f.Add([]byte("a\x00b"))
	syslog, _ := decode.Lookup("syslog")
	r := &Router{opts: RouterOptions{Format: syslog, Stats: stats.New(), Location: time.UTC}, decs: map[tp]*routeDecoder{}}
	f.Fuzz(func(t *testing.T, value []byte) {
		d := r.decoder("raw", 0)
		r.keys = r.keys[:0]
		key, ok := r.keyOf(d, &kgo.Record{Topic: "raw", Value: value})
		if !ok && key != nil {
			t.Fatalf("no event but key %q", key)
		}
		if key == nil || bytes.HasPrefix(key, []byte("host:")) {
			return
		}
		a, err := netip.ParseAddr(string(key))
		if err != nil || a.Is4In6() || a.Zone() != "" || a.String() != string(key) {
			t.Fatalf("key %q is not a canonical address (%v)", key, err)
		}
	})
}
