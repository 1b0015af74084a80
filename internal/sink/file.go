package sink

import (
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/knockwatch/knockwatch/internal/alert"
)

// File appends alerts as JSON lines to a file (or writes them to a stream
// such as stdout). Each alert is written whole with one write call, so a
// returned nil means the line is in the file, and lines of concurrent
// writers are not interleaved. Reopen opens the path again (after the
// alert file was rotated, on SIGHUP).
type File struct {
	mu   sync.Mutex
	path string
	w    io.Writer
	f    *os.File
}

// NewFile appends to path (created 0640 if missing).
func NewFile(path string) (*File, error) {
	fl := &File{path: path}
	if err := fl.Reopen(); err != nil {
		return nil, err
	}
	return fl, nil
}

// NewStream writes to w (stdout); nothing is closed.
func NewStream(w io.Writer) *File { return &File{w: w} }

// Reopen opens the file again; for a stream it does nothing.
func (fl *File) Reopen() error {
	if fl.path == "" {
		return nil
	}
	f, err := os.OpenFile(fl.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	fl.mu.Lock()
	old := fl.f
	fl.f, fl.w = f, f
	fl.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// Write appends one alert.
func (fl *File) Write(a *alert.Alert) error {
	b, err := a.Encode()
	if err != nil {
		return &ErrRejected{err}
	}
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if _, err := fl.w.Write(b); err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	return nil
}

// Sync flushes the file to disk.
func (fl *File) Sync() error {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.f != nil {
		return fl.f.Sync()
	}
	return nil
}

// Close syncs and closes the file.
func (fl *File) Close() error {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.f == nil {
		return nil
	}
	_ = fl.f.Sync()
	err := fl.f.Close()
	fl.f = nil
	return err
}
