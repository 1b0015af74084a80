package argv

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"knock -d 200 203.0.113.10 7000 8000 9000", []string{"knock", "-d", "200", "203.0.113.10", "7000", "8000", "9000"}, false},
		{"  a\t b  ", []string{"a", "b"}, false},
		{`fwknop --key-rijndael "correct horse" -D gw01`, []string{"fwknop", "--key-rijndael", "correct horse", "-D", "gw01"}, false},
		{`bash -c 'for p in 1 2; do echo > /dev/tcp/h/$p; done'`, []string{"bash", "-c", "for p in 1 2; do echo > /dev/tcp/h/$p; done"}, false},
		{`a"b c"d`, []string{"ab cd"}, false},
		{`say "a \"q\" \$x \n"`, []string{"say", `a "q" $x \n`}, false},
		{`a\ b c\\d`, []string{"a b", `c\d`}, false},
		{`''`, []string{""}, false},
		{`x "" y`, []string{"x", "", "y"}, false},
		{"echo 'unterminated", []string{"echo", "unterminated"}, true},
		{`echo "open`, []string{"echo", "open"}, true},
		{"", nil, false},
		{"a;b|c>d", []string{"a;b|c>d"}, false},
	}
	for _, tt := range tests {
		got, err := Split(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("Split(%q) err = %v, want error %v", tt.in, err, tt.wantErr)
		}
		if err != nil && !errors.Is(err, ErrUnterminated) {
			t.Errorf("Split(%q) err = %v, want ErrUnterminated", tt.in, err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Split(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSplitWindows(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{`"C:\Tools\fwknop\fwknop.exe" -A tcp/3389 -D 203.0.113.10`, []string{`C:\Tools\fwknop\fwknop.exe`, "-A", "tcp/3389", "-D", "203.0.113.10"}},
		{`fwknop.exe -A tcp/3389 -a 198.51.100.7`, []string{"fwknop.exe", "-A", "tcp/3389", "-a", "198.51.100.7"}},
		{`"powershell.exe" -NoProfile`, []string{"powershell.exe", "-NoProfile"}},
		// CommandLineToArgvW examples from the Microsoft C runtime documentation.
		{`prog "a b c" d e`, []string{"prog", "a b c", "d", "e"}},
		{`prog "ab\"c" "\\" d`, []string{"prog", `ab"c`, `\`, "d"}},
		{`prog a\\\b d"e f"g h`, []string{"prog", `a\\\b`, "de fg", "h"}},
		{`prog a\\\"b c d`, []string{"prog", `a\"b`, "c", "d"}},
		{`prog a\\\\"b c" d e`, []string{"prog", `a\\b c`, "d", "e"}},
		{`prog "a""b"`, []string{"prog", `a"b`}},
		{`C:\dir with\p.exe x`, []string{`C:\dir`, "with\\p.exe", "x"}},
		{"   ", nil},
	}
	for _, tt := range tests {
		if got := SplitWindows(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("SplitWindows(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestBaseAndLooksWindows(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/bin/knock":             "knock",
		`C:\Tools\fwknop\FWKNOP.EXE`: "fwknop",
		"fwknop.exe":                 "fwknop",
		"hping3":                     "hping3",
		"/usr/sbin/iptables":         "iptables",
		"":                           "",
	} {
		if got := Base(in); got != want {
			t.Errorf("Base(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]bool{
		`C:\Tools\fwknop.exe`: true,
		`\\srv\share\x.exe`:   true,
		"/usr/bin/knock":      false,
		"knock":               false,
		`powershell.exe`:      false,
	} {
		if got := LooksWindows(in); got != want {
			t.Errorf("LooksWindows(%q) = %v, want %v", in, got, want)
		}
	}
}

func args(r Result) [][]string {
	var out [][]string
	for _, c := range r.Commands {
		out = append(out, c.Args)
	}
	return out
}

func TestScript(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want [][]string
	}{
		{"simple", "knock 203.0.113.10 7000 8000", [][]string{{"knock", "203.0.113.10", "7000", "8000"}}},
		{"list", "a 1; b 2 && c 3 || d 4 | e 5 & f", [][]string{{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}, {"e", "5"}, {"f"}}},
		{"for loop", "for p in 7000 8000 9000; do nc -z -w1 203.0.113.10 $p; done",
			[][]string{{"nc", "-z", "-w1", "203.0.113.10", "7000"}, {"nc", "-z", "-w1", "203.0.113.10", "8000"}, {"nc", "-z", "-w1", "203.0.113.10", "9000"}}},
		{"for newline", "for p in 1 2\ndo\n  hping3 -S -p \"$p\" -c 1 h\ndone",
			[][]string{{"hping3", "-S", "-p", "1", "-c", "1", "h"}, {"hping3", "-S", "-p", "2", "-c", "1", "h"}}},
		{"variables", `H=gw01; P="7000 8000"; for p in $P; do telnet $H ${p}; done`,
			[][]string{{"telnet", "gw01", "7000"}, {"telnet", "gw01", "8000"}}},
		{"quoted var not split", `P="1 2"; for p in "$P"; do x $p; done`, [][]string{{"x", "1", "2"}}},
		{"brace list", "for p in {7000,8000}; do x $p; done", [][]string{{"x", "7000"}, {"x", "8000"}}},
		{"brace range", "for p in {1..3}; do x $p; done", [][]string{{"x", "1"}, {"x", "2"}, {"x", "3"}}},
		{"brace in word", "echo a{b,c}d", [][]string{{"echo", "abd", "acd"}}},
		{"quoted brace", "echo '{a,b}'", [][]string{{"echo", "{a,b}"}}},
		{"seq", "for p in $(seq 7000 1000 9000); do x $p; done", [][]string{{"x", "7000"}, {"x", "8000"}, {"x", "9000"}}},
		{"backtick seq", "for p in `seq 2`; do x $p; done", [][]string{{"x", "1"}, {"x", "2"}}},
		{"nested loops", "for h in a b; do for p in 1 2; do x $h $p; done; done",
			[][]string{{"x", "a", "1"}, {"x", "a", "2"}, {"x", "b", "1"}, {"x", "b", "2"}}},
		{"while once", "while true; do knock h 1 2; sleep 60; done", [][]string{{"true"}, {"knock", "h", "1", "2"}, {"sleep", "60"}}},
		{"if", "if ping -c1 h; then knock h 1; else echo no; fi", [][]string{{"ping", "-c1", "h"}, {"knock", "h", "1"}, {"echo", "no"}}},
		{"case", "case $1 in a) knock h 1;; *) echo x;; esac", [][]string{{"knock", "h", "1"}, {"echo", "x"}}},
		{"group and subshell", "{ a; b; }; (c; d)", [][]string{{"a"}, {"b"}, {"c"}, {"d"}}},
		{"comment", "a # b c\nd", [][]string{{"a"}, {"d"}}},
		{"ansi-c", `echo $'a\tb'`, [][]string{{"echo", "a\tb"}}},
		{"default", `x ${HOST:-gw01}`, [][]string{{"x", "gw01"}}},
		{"export", `export T=gw01; knock $T 1`, [][]string{{"export", "T=gw01"}, {"knock", "gw01", "1"}}},
		{"function", `k() { knock h 1 2; }; k`, [][]string{{"knock", "h", "1", "2"}, {"k"}}},
		{"c-style for", `for ((i=0;i<3;i++)); do x; done`, [][]string{{"x"}}},
		{"heredoc marker", `cat <<EOF`, [][]string{{"cat"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Script(tt.in, nil)
			if err != nil {
				t.Fatalf("Script(%q): %v", tt.in, err)
			}
			if got := args(r); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Script(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestScriptRedirects(t *testing.T) {
	r, err := Script(`for p in 7000 8000 9000; do echo > /dev/tcp/203.0.113.10/$p; done; exec 3<>/dev/udp/h/53; cat </dev/tcp/h/1 2>&1`, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range r.Commands {
		for _, rd := range c.Redirs {
			got = append(got, rd.Op+rd.Target)
		}
	}
	want := []string{">/dev/tcp/203.0.113.10/7000", ">/dev/tcp/203.0.113.10/8000", ">/dev/tcp/203.0.113.10/9000", "<>/dev/udp/h/53", "</dev/tcp/h/1", ">&1"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("redirects = %q, want %q", got, want)
	}
}

func TestScriptDynamic(t *testing.T) {
	r, _ := Script(`nc $(cat host) $PORT`, nil)
	if len(r.Commands) != 1 || !r.Commands[0].Dynamic {
		t.Fatalf("want one dynamic command, got %+v", r.Commands)
	}
	if got := r.Commands[0].Args; !reflect.DeepEqual(got, []string{"nc", "$(cat host)", "$PORT"}) {
		t.Errorf("args = %q", got)
	}
	r, _ = Script(`nc h $PORT`, map[string]string{"PORT": "7000"})
	if r.Commands[0].Dynamic || r.Commands[0].Args[2] != "7000" {
		t.Errorf("vars not applied: %+v", r.Commands[0])
	}
}

func TestScriptLimits(t *testing.T) {
	r, _ := Script("for p in {1..100000}; do x $p; done", nil)
	if !r.Truncated || len(r.Commands) != MaxLoopItems || r.LoopItems <= MaxLoopItems {
		t.Errorf("loop: truncated=%v commands=%d items=%d", r.Truncated, len(r.Commands), r.LoopItems)
	}
	r, _ = Script("for a in {1..64}; do for b in {1..64}; do for c in {1..64}; do x; done; done; done", nil)
	if !r.Truncated || len(r.Commands) > MaxCommands {
		t.Errorf("nested loops: truncated=%v commands=%d", r.Truncated, len(r.Commands))
	}
	deep := strings.Repeat("$(seq ", 40) + "1" + strings.Repeat(")", 40)
	if _, err := Script("x "+deep, nil); err != nil {
		t.Logf("deep substitution: %v", err)
	}
	if _, err := Script(strings.Repeat("(", 1000), nil); err == nil {
		t.Error("deep nesting: want an error")
	}
}

func TestScriptErrors(t *testing.T) {
	for _, in := range []string{"for p in 1 2; do x", "echo 'open", "if a; then b", "echo $(open", "x >", "case a in"} {
		r, err := Script(in, nil)
		if err == nil {
			t.Errorf("Script(%q): want an error, got %q", in, args(r))
		}
	}
}

func FuzzSplit(f *testing.F) {
	for _, s := range []string{"knock -d 200 h 1 2", `a "b c" 'd e' f\ g`, `"x`, `'`, `\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, _ := Split(s)
		for _, w := range words {
			if len(w) > len(s) {
				t.Fatalf("word longer than input: %q from %q", w, s)
			}
		}
		_ = SplitWindows(s)
	})
}

func FuzzScript(f *testing.F) {
	for _, s := range []string{
		"for p in 7000 8000 9000; do echo > /dev/tcp/203.0.113.10/$p; done",
		`H=h; for p in $(seq 1 3) {4..6}; do nc -z $H $p & done; wait`,
		"case $x in a|b) y;; esac; if a; then b; elif c; then d; else e; fi",
		"while read l; do x \"$l\"; done <<EOF\nEOF\n",
		`echo $'\x41' "${a:-b}" $((1+2)) ` + "`seq 3`",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, _ := Script(s, nil)
		if len(r.Commands) > MaxCommands {
			t.Fatalf("%d commands, more than %d", len(r.Commands), MaxCommands)
		}
	})
}

func BenchmarkScript(b *testing.B) {
	src := "for p in 7000 8000 9000; do nc -z -w1 203.0.113.10 $p; done"
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if _, err := Script(src, nil); err != nil {
			b.Fatal(err)
		}
	}
}
