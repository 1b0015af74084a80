package decode

import (
	"time"
)

// clock turns the timestamps of log lines into Unix nanoseconds without
// allocating. time.Parse allocates and is slow for the millions of lines a
// hunt reads, so the common syslog layouts are parsed by hand here, and the
// conversion of a local wall-clock hour to UTC is cached: consecutive lines
// almost always fall in the same hour, and a cache per hour stays right
// across daylight-saving changes.
type clock struct {
	loc      *time.Location
	year     int // fixed year from options, 0 to infer
	refYear  int
	refMonth int
	refDay   int

	// cache of the last local hour converted: key is year<<20|month<<16|day<<8|hour.
	hourKey  int64
	hourBase int64

	// the last RFC 3164 stamp parsed, and its time
	lastStamp     [15]byte
	lastStampTime int64
	lastStampOK   bool
}

func newClock(o Options) clock {
	c := clock{loc: o.location(), year: o.Year, hourKey: -1}
	ref := o.Reference
	if ref.IsZero() {
		ref = time.Now()
	}
	ref = ref.In(c.loc)
	c.refYear, c.refMonth, c.refDay = ref.Year(), int(ref.Month()), ref.Day()
	return c
}

// inferYear picks the year for a year-less month and day: the reference year,
// unless that would put the date more than a day after the reference, in
// which case the line was written the year before (a December line in a file
// last written in January).
func (c *clock) inferYear(month, day int) int {
	if c.year != 0 {
		return c.year
	}
	if month > c.refMonth || (month == c.refMonth && day > c.refDay+1) {
		return c.refYear - 1
	}
	return c.refYear
}

// local converts a wall-clock time in the clock's location to Unix ns.
func (c *clock) local(year, month, day, hour, min, sec int, nsec int64) int64 {
	key := int64(year)<<20 | int64(month)<<16 | int64(day)<<8 | int64(hour)
	if key != c.hourKey {
		c.hourKey = key
		c.hourBase = time.Date(year, time.Month(month), day, hour, 0, 0, 0, c.loc).UnixNano()
	}
	return c.hourBase + int64(min)*int64(time.Minute) + int64(sec)*int64(time.Second) + nsec
}

// daysFromCivil returns the number of days since 1970-01-01 of a proleptic
// Gregorian date (Howard Hinnant's algorithm), for timestamps that carry
// their own offset and need no time zone database.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// utc converts a date and time with a known UTC offset (seconds east) to Unix ns.
func utc(year, month, day, hour, min, sec int, nsec int64, offset int) int64 {
	days := daysFromCivil(year, month, day)
	secs := days*86400 + int64(hour)*3600 + int64(min)*60 + int64(sec) - int64(offset)
	return secs*int64(time.Second) + nsec
}

var monthIndex = func() (m [26 * 26 * 26]uint8) {
	for i, name := range []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"} {
		m[monthKey(name[0], name[1], name[2])] = uint8(i + 1)
	}
	return m
}()

func monthKey(a, b, c byte) int {
	return int(lower(a)-'a')*676 + int(lower(b)-'a')*26 + int(lower(c)-'a')
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func isAlpha(c byte) bool { return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }

// parseMonth reads a three-letter English month abbreviation.
func parseMonth(b []byte) int {
	if len(b) < 3 || !isAlpha(b[0]) || !isAlpha(b[1]) || !isAlpha(b[2]) {
		return 0
	}
	return int(monthIndex[monthKey(b[0], b[1], b[2])])
}

func digit(c byte) bool { return '0' <= c && c <= '9' }

// atoi2 reads exactly two digits.
func atoi2(b []byte) (int, bool) {
	if len(b) < 2 || !digit(b[0]) || !digit(b[1]) {
		return 0, false
	}
	return int(b[0]-'0')*10 + int(b[1]-'0'), true
}

// atoi4 reads exactly four digits.
func atoi4(b []byte) (int, bool) {
	if len(b) < 4 {
		return 0, false
	}
	n := 0
	for i := 0; i < 4; i++ {
		if !digit(b[i]) {
			return 0, false
		}
		n = n*10 + int(b[i]-'0')
	}
	return n, true
}

// parseHMS reads "hh:mm:ss".
func parseHMS(b []byte) (h, m, s int, ok bool) {
	if len(b) < 8 || b[2] != ':' || b[5] != ':' {
		return 0, 0, 0, false
	}
	var ok1, ok2, ok3 bool
	h, ok1 = atoi2(b[0:])
	m, ok2 = atoi2(b[3:])
	s, ok3 = atoi2(b[6:])
	if !ok1 || !ok2 || !ok3 || h > 23 || m > 59 || s > 60 {
		return 0, 0, 0, false
	}
	if s == 60 { // leap second: fold into the next second's start
		s = 59
	}
	return h, m, s, true
}

// parseFraction reads ".ddd…" (up to 9 digits kept) and returns the
// nanoseconds and the bytes consumed, including the dot.
func parseFraction(b []byte) (int64, int) {
	if len(b) < 2 || (b[0] != '.' && b[0] != ',') || !digit(b[1]) {
		return 0, 0
	}
	var ns int64
	i := 1
	digits := 0
	for i < len(b) && digit(b[i]) {
		if digits < 9 {
			ns = ns*10 + int64(b[i]-'0')
			digits++
		}
		i++
	}
	for ; digits < 9; digits++ {
		ns *= 10
	}
	return ns, i
}

// parseRFC3339 reads "2025-11-22T10:15:02[.frac](Z|±hh:mm|±hhmm)" and returns
// Unix ns and the bytes consumed. A space may stand for the T.
func parseRFC3339(b []byte) (int64, int, bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != 't' && b[10] != ' ') {
		return 0, 0, false
	}
	y, ok1 := atoi4(b)
	mo, ok2 := atoi2(b[5:])
	d, ok3 := atoi2(b[8:])
	// Unix nanoseconds in an int64 reach only 1678..2262; logs are newer
	// than 1970 and a year past 2200 is damage, not a date.
	if !ok1 || !ok2 || !ok3 || mo < 1 || mo > 12 || d < 1 || d > 31 || y < 1970 || y > 2200 {
		return 0, 0, false
	}
	h, mi, s, ok := parseHMS(b[11:])
	if !ok {
		return 0, 0, false
	}
	i := 19
	ns, n := parseFraction(b[i:])
	i += n
	if i >= len(b) {
		return 0, 0, false
	}
	offset := 0
	switch b[i] {
	case 'Z', 'z':
		i++
	case '+', '-':
		sign := 1
		if b[i] == '-' {
			sign = -1
		}
		oh, okh := atoi2(b[i+1:])
		if !okh {
			return 0, 0, false
		}
		j := i + 3
		if j < len(b) && b[j] == ':' {
			j++
		}
		om, okm := atoi2(b[j:])
		if !okm {
			return 0, 0, false
		}
		offset = sign * (oh*3600 + om*60)
		i = j + 2
	default:
		return 0, 0, false
	}
	return utc(y, mo, d, h, mi, s, ns, offset), i, true
}

// parseEpoch reads decimal seconds with an optional fraction ("1763806502.118311").
func parseEpoch(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var sec int64
	i := 0
	for i < len(b) && digit(b[i]) {
		if i >= 10 { // 10 digits of seconds reach the year 2286
			return 0, false
		}
		sec = sec*10 + int64(b[i]-'0')
		i++
	}
	if i == 0 {
		return 0, false
	}
	ns, n := parseFraction(b[i:])
	if i+n != len(b) {
		return 0, false
	}
	return sec*int64(time.Second) + ns, true
}

// parseUint reads an unsigned decimal that fits max.
func parseUint(b []byte, max uint64) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if !digit(c) {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
		if n > max {
			return 0, false
		}
	}
	return n, true
}
