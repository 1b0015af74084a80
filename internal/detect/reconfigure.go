package detect

import (
	"time"

	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/rules"
)

// Reconfigurer is implemented by detectors that can take a new
// configuration without losing their state: the sensor reloads its
// configuration on SIGHUP. Reconfigure is called from the goroutine that
// owns the detector (the engine pauses the shard first), so it needs no
// locks. Thresholds, allowlists, authorized sequences and rules change;
// state caps (state.max_bytes) size tables at start and do not.
type Reconfigurer interface {
	Reconfigure(cfg config.Config)
}

var (
	_ Reconfigurer = (*Sequence)(nil)
	_ Reconfigurer = (*Daemon)(nil)
	_ Reconfigurer = (*SPA)(nil)
	_ Reconfigurer = (*Magic)(nil)
)

// Reconfigure takes new thresholds, allowlists and authorized sequences.
// Bursts already open keep their deadlines; they are judged with the new
// thresholds.
func (d *Sequence) Reconfigure(cfg config.Config) {
	if cfg.Sequence.ScanHorizon != d.cfg.ScanHorizon {
		d.halfHorizon = int64(cfg.Sequence.ScanHorizon) / 2
	}
	d.cfg = cfg.Sequence
	d.allow = cfg.Allowlist
	d.auth = cfg.Authorized
}

// Reconfigure takes new allowlists and authorized sequences.
func (d *Daemon) Reconfigure(cfg config.Config) {
	d.allow = cfg.Allowlist
	d.auth = cfg.Authorized
}

// Reconfigure takes a new follow window and admin networks.
func (d *SPA) Reconfigure(cfg config.Config) {
	d.follow = int64(cfg.Sequence.FollowWindow)
	d.admin = cfg.Allowlist.AdminNetworks
}

// Reconfigure takes new magic-packet rules (the built-in set when
// cfg.Rules is nil).
func (d *Magic) Reconfigure(cfg config.Config) {
	rs := cfg.Rules
	if rs == nil {
		var err error
		if rs, err = rules.Builtin(); err != nil {
			return // keep the rules in use; Builtin is tested
		}
	}
	d.rules = rs
}

// Horizon is the longest stretch of event time the detectors' state can
// depend on: a source's scan-likeness and recurrence (scan_horizon), a
// knock waiting for its connection (follow_window), a daemon's aggregation
// and close windows, each plus a whole knock (max_span) and its settle time
// (at most max_gap). An alert not yet emitted depends only on events less
// than Horizon older than the watermark, so the sensor replays that much
// after a restart to rebuild what the detectors held.
func Horizon(cfg config.Config) time.Duration {
	s := cfg.Sequence
	h := max(s.ScanHorizon, s.FollowWindow, time.Duration(daemonWindow), time.Duration(daemonCloseWait)+time.Duration(daemonSettle))
	return h + s.MaxSpan + s.MaxGap
}
