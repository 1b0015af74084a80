package sink

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/knockwatch/knockwatch/internal/alert"
)

// WebhookOptions configure a Webhook sink.
type WebhookOptions struct {
	URL     string
	Headers map[string]string
	// Timeout bounds one request.
	Timeout time.Duration
	// Client replaces the HTTP client (tests).
	Client *http.Client
}

// Webhook POSTs each alert as a JSON object. A 2xx answer is delivery; a
// network error, a timeout, 408, 429 or 5xx is a failure to retry (the
// caller spools the alert); any other answer is a rejection that retrying
// cannot fix (ErrRejected), counted and dropped so one bad alert cannot
// block the ones after it.
type Webhook struct {
	opts   WebhookOptions
	client *http.Client
}

// ErrRejected wraps a refusal that retrying cannot fix.
type ErrRejected struct{ Err error }

func (e *ErrRejected) Error() string { return e.Err.Error() }
func (e *ErrRejected) Unwrap() error { return e.Err }

// NewWebhook makes a webhook sink.
func NewWebhook(opts WebhookOptions) *Webhook {
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	c := opts.Client
	if c == nil {
		c = &http.Client{Timeout: opts.Timeout}
	}
	return &Webhook{opts: opts, client: c}
}

// Write posts one alert.
func (w *Webhook) Write(a *alert.Alert) error {
	body, err := a.Encode()
	if err != nil {
		return &ErrRejected{err}
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.opts.URL, bytes.NewReader(body))
	if err != nil {
		return &ErrRejected{err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "knockwatch")
	// Receivers can de-duplicate redelivered alerts by this key.
	req.Header.Set("Idempotency-Key", a.ID)
	for k, v := range w.opts.Headers {
		req.Header.Set(k, v)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return fmt.Errorf("webhook: %s", resp.Status)
	default:
		return &ErrRejected{fmt.Errorf("webhook: %s", resp.Status)}
	}
}

// ReadHeaderFile reads a webhook's extra headers from path: one
// "Name: value" line each, as curl -H @file takes them; blank lines and
// lines starting with # are skipped. Errors name the file and line but
// never echo a value, which is usually a secret.
func ReadHeaderFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("headers file: %w", err)
	}
	h := map[string]string{}
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		switch {
		case !ok:
			return nil, fmt.Errorf("headers file %s:%d: want \"Name: value\"", path, n+1)
		case !validHeaderName(name):
			return nil, fmt.Errorf("headers file %s:%d: %q is not a header name", path, n+1, name)
		case strings.ContainsAny(value, "\r\x00"):
			return nil, fmt.Errorf("headers file %s:%d: the value holds a control character", path, n+1)
		}
		h[http.CanonicalHeaderKey(name)] = value
	}
	return h, nil
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// Close releases idle connections.
func (w *Webhook) Close() error {
	w.client.CloseIdleConnections()
	return nil
}
