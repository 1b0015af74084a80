package watch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/knockwatch/knockwatch/internal/source"
)

// The state directory holds:
//
//	positions.json   per input with a position (files, journald): where to
//	                 replay from after a restart and where reading stopped
//	delivered.log    ids of alerts delivered (or spooled) to every sink,
//	                 so alerts rebuilt by the replay are not sent again
//	spool/<sink>/    alerts a sink could not take yet
//
// How a restart stays exact. Detectors hold state (a knock in progress, the
// ports a source tried in the last ten minutes) that is not written to disk.
// So each input keeps two positions: "resume", after the last line read,
// and "replay", early enough that every line whose events can still matter
// to an alert not yet delivered comes after it. The replay position lags
// the delivered watermark by the replay horizon (the longest time a
// detector remembers: max(scan_horizon, follow_window, daemon windows) plus
// max_span and max_gap). After a restart the lines between the two are read
// again only to rebuild detector state: they are counted as replayed, not
// as records in, and alerts they produce whose ids are in delivered.log are
// not sent again. Lines after "resume" are new.

// positionsFile is the JSON in positions.json.
type positionsFile struct {
	Version int                      `json:"version"`
	Inputs  map[string]inputPosition `json:"inputs"`
}

type inputPosition struct {
	Kind   string             `json:"kind"`
	Path   string             `json:"path,omitempty"`
	Replay *source.Position   `json:"replay,omitempty"`
	Resume *source.Position   `json:"resume,omitempty"`
	JReply *source.JournalPos `json:"journal_replay,omitempty"`
	JResum *source.JournalPos `json:"journal_resume,omitempty"`
}

func loadPositions(dir string) (positionsFile, error) {
	pf := positionsFile{Version: 1, Inputs: map[string]inputPosition{}}
	b, err := os.ReadFile(filepath.Join(dir, "positions.json"))
	if os.IsNotExist(err) {
		return pf, nil
	}
	if err != nil {
		return pf, fmt.Errorf("state: %w", err)
	}
	if err := json.Unmarshal(b, &pf); err != nil {
		return pf, fmt.Errorf("state: %s: %w", filepath.Join(dir, "positions.json"), err)
	}
	if pf.Inputs == nil {
		pf.Inputs = map[string]inputPosition{}
	}
	return pf, nil
}

func savePositions(dir string, pf positionsFile) error {
	b, err := json.MarshalIndent(pf, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, "positions.json"), b)
}

// writeFileAtomic replaces path with data: write a temporary file, sync
// it, rename it over path, sync the directory.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// tracker follows one input's positions: marks handed back by the engine
// with the newest event time routed up to each, thinned to one per second
// of event time.
type tracker struct {
	name string
	mu   sync.Mutex
	// marks are positions with the newest event time before them, oldest
	// first; marks[0] is the replay position.
	marks []markAt
	// resume is the position after the last batch routed.
	resume    any
	hasResume bool
}

type markAt struct {
	mark    any
	maxTime int64
}

// add records a mark routed whole.
func (t *tracker) add(mark any, maxTime int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.resume, t.hasResume = mark, true
	n := len(t.marks)
	// Within a second of the one before the last: replace the last. The
	// seed's time is the minimum int64 (unknown), which a subtraction would
	// overflow; a mark after the seed is always kept.
	if n >= 2 && t.marks[n-2].maxTime != seedTime && maxTime-t.marks[n-2].maxTime < 1e9 {
		t.marks[n-1] = markAt{mark, maxTime}
		return
	}
	t.marks = append(t.marks, markAt{mark, maxTime})
}

// seedTime stands for the unknown time of a seeded replay position.
const seedTime = -1 << 63

// seed sets the positions read from the state directory.
func (t *tracker) seed(replay, resume any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if replay != nil {
		// Its time is unknown: it stays the replay position until a mark
		// after it is older than the horizon.
		t.marks = []markAt{{replay, seedTime}}
	}
	if resume != nil {
		t.resume, t.hasResume = resume, true
	}
}

// advance drops marks no longer needed: every event before marks[0] is
// older than cut.
func (t *tracker) advance(cut int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := 0
	for i+1 < len(t.marks) && t.marks[i+1].maxTime < cut {
		i++
	}
	if i > 0 {
		t.marks = append(t.marks[:0], t.marks[i:]...)
	}
}

// positions returns the replay and resume positions (nil when unknown).
func (t *tracker) positions() (replay, resume any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.marks) > 0 {
		replay = t.marks[0].mark
	}
	if t.hasResume {
		resume = t.resume
	}
	if replay == nil {
		replay = resume
	}
	return replay, resume
}

// journal is delivered.log: the ids of alerts every sink took, with their
// times, so alerts rebuilt by a replay are not sent again.
type journal struct {
	path string
	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	ids  map[string]int64
	// pending are ids claimed and not yet delivered.
	pending map[string]struct{}
	// appended counts lines written since the file was last compacted.
	appended int
	dirty    bool
}

func openJournal(dir string) (*journal, error) {
	j := &journal{path: filepath.Join(dir, "delivered.log"), ids: map[string]int64{}, pending: map[string]struct{}{}}
	if b, err := os.ReadFile(j.path); err == nil {
		for _, line := range bytes.Split(b, []byte{'\n'}) {
			id, ts, ok := bytes.Cut(line, []byte{'\t'})
			if !ok {
				continue // a line cut by a crash
			}
			t, err := strconv.ParseInt(string(ts), 10, 64)
			if err != nil {
				continue
			}
			j.ids[string(id)] = t
		}
	} else if !os.IsNotExist(err) {
		return nil, fmt.Errorf("state: %w", err)
	}
	f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	j.f, j.w = f, bufio.NewWriter(f)
	return j, nil
}

// claim reports whether an alert id is new (not sent in this run nor
// delivered before a restart) and remembers it. Detectors may report one
// finding (one id) twice; it goes out once. The id reaches the file only
// with add, once every sink took the alert.
func (j *journal) claim(id string, t int64) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, ok := j.ids[id]; ok {
		return false
	}
	j.ids[id] = t
	j.pending[id] = struct{}{}
	return true
}

// add records a delivered alert.
func (j *journal) add(id string, t int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, ok := j.pending[id]; !ok {
		if _, ok := j.ids[id]; ok {
			return
		}
	}
	delete(j.pending, id)
	j.ids[id] = t
	j.w.WriteString(id)
	j.w.WriteByte('\t')
	j.w.WriteString(strconv.FormatInt(t, 10))
	j.w.WriteByte('\n')
	j.appended++
	j.dirty = true
}

// sync makes what was added durable.
func (j *journal) sync() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.dirty {
		return nil
	}
	j.dirty = false
	if err := j.w.Flush(); err != nil {
		return err
	}
	return j.f.Sync()
}

// compact forgets ids of alerts older than cut (no replay can rebuild
// them) and rewrites the file once it has grown.
func (j *journal) compact(cut int64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	for id, t := range j.ids {
		if _, p := j.pending[id]; t < cut && !p {
			delete(j.ids, id)
		}
	}
	if j.appended < 4096 && j.appended < 2*len(j.ids) {
		return nil
	}
	var b bytes.Buffer
	for id, t := range j.ids {
		if _, p := j.pending[id]; !p {
			fmt.Fprintf(&b, "%s\t%d\n", id, t)
		}
	}
	if err := j.w.Flush(); err != nil {
		return err
	}
	if err := writeFileAtomic(j.path, b.Bytes()); err != nil {
		return err
	}
	j.f.Close()
	f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	j.f, j.w = f, bufio.NewWriter(f)
	j.appended = 0
	j.dirty = false
	return nil
}

// size returns the number of ids remembered.
func (j *journal) size() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.ids)
}

func (j *journal) close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	err := j.w.Flush()
	if serr := j.f.Sync(); err == nil {
		err = serr
	}
	j.f.Close()
	return err
}
