package cli

import "github.com/knockwatch/knockwatch/internal/source"

// PacketOpener returns the capture opener built into this binary, or nil
// while captures are not supported. The scorecard (cmd/kweval) and the
// end-to-end tests use it so they read captures exactly as hunt does.
func PacketOpener() source.PacketOpener { return packetOpener() }
