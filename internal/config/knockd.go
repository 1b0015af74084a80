package config

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"go.yaml.in/yaml/v4"
)

// KnockdDoor is one door of a knockd.conf.
type KnockdDoor struct {
	Name     string
	Sequence []PortSpec
	// OneTime is the one_time_sequences file: its sequences change after
	// each use, so they cannot be imported.
	OneTime string
	Target  string
	Line    int
}

// ParseKnockd reads a knockd.conf the way knockd's parseconfig() does:
// trimmed lines, '#' comments, [section] headers, "key = value" split on the
// first '=', keys case-insensitive, ports with an optional :tcp/:udp.
func ParseKnockd(r io.Reader) ([]KnockdDoor, error) {
	var (
		doors []KnockdDoor
		cur   *KnockdDoor
		errs  []string
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			end := strings.IndexByte(line, ']')
			if end < 0 {
				errs = append(errs, fmt.Sprintf("line %d: section header without ']'", n))
				continue
			}
			name := strings.TrimSpace(line[1:end])
			if strings.EqualFold(name, "options") {
				cur = nil
				continue
			}
			doors = append(doors, KnockdDoor{Name: name, Line: n})
			cur = &doors[len(doors)-1]
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		key = strings.ToUpper(strings.TrimSpace(key))
		val = strings.TrimSpace(val)
		if !ok || cur == nil {
			continue
		}
		switch key {
		case "SEQUENCE":
			for _, p := range strings.Split(val, ",") {
				if strings.TrimSpace(p) == "" {
					continue
				}
				ps, err := ParsePortSpec(p)
				if err != nil {
					errs = append(errs, fmt.Sprintf("line %d: [%s] sequence: %v", n, cur.Name, err))
					continue
				}
				cur.Sequence = append(cur.Sequence, ps)
			}
			if len(cur.Sequence) > 32 {
				errs = append(errs, fmt.Sprintf("line %d: [%s] sequence: more than 32 ports", n, cur.Name))
			}
		case "ONE_TIME_SEQUENCES":
			cur.OneTime = val
		case "TARGET":
			cur.Target = val
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("knockd.conf: %w", err)
	}
	if len(errs) > 0 {
		return doors, fmt.Errorf("knockd.conf: %s", strings.Join(errs, "; "))
	}
	return doors, nil
}

// AuthorizedFromKnockd turns doors into authorized sequences, with notes
// for doors that could not be imported.
func AuthorizedFromKnockd(doors []KnockdDoor) ([]Authorized, []string) {
	var out []Authorized
	var notes []string
	for _, d := range doors {
		if len(d.Sequence) == 0 {
			if d.OneTime != "" {
				notes = append(notes, fmt.Sprintf("[%s] uses one-time sequences (%s): each is valid once, so none can be authorized in advance", d.Name, d.OneTime))
			} else {
				notes = append(notes, fmt.Sprintf("[%s] has no sequence", d.Name))
			}
			continue
		}
		a := Authorized{Name: "knockd:" + d.Name, Ports: d.Sequence}
		if d.Target != "" {
			if addr, err := netip.ParseAddr(d.Target); err == nil {
				a.Targets = []netip.Prefix{netip.PrefixFrom(addr, addr.BitLen())}
			} else {
				notes = append(notes, fmt.Sprintf("[%s] target %q is not an address; imported without a target", d.Name, d.Target))
			}
		}
		out = append(out, a)
	}
	return out, notes
}

// AuthorizedYAML renders authorized sequences as a config fragment.
func AuthorizedYAML(auth []Authorized) ([]byte, error) {
	type doc struct {
		Authorized []Authorized `yaml:"authorized_sequences"`
	}
	b, err := yaml.Dump(doc{Authorized: auth})
	if err != nil {
		return nil, fmt.Errorf("render authorized sequences: %w", err)
	}
	return b, nil
}
