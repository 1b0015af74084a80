package sink

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadHeaderFile(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		want    map[string]string
		wantErr string // a fragment of the error; it must never hold a value
	}{
		{"token with comment and blank line", "# the chat token\n\nAuthorization: Bearer s3cret\n", map[string]string{"Authorization": "Bearer s3cret"}, ""},
		{"names made canonical, spaces trimmed, colons in values", "x-team:  soc \r\nX-Url: https://h:8443/x\n", map[string]string{"X-Team": "soc", "X-Url": "https://h:8443/x"}, ""},
		{"no colon", "Authorization: Bearer s3cret\nBearer s3cret\n", nil, `:2: want "Name: value"`},
		{"bad name", "Auth ization: s3cret\n", nil, `:1: "Auth ization" is not a header name`},
		{"control character", "Authorization: Bearer\rs3cret\n", nil, ":1: the value holds a control character"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "headers")
			os.WriteFile(path, []byte(tc.file), 0o600)
			got, err := ReadHeaderFile(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), path+tc.wantErr) {
					t.Fatalf("error %v, want one with %q", err, path+tc.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("the error shows the secret: %v", err)
				}
				return
			}
			if err != nil || !maps.Equal(got, tc.want) {
				t.Errorf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	if _, err := ReadHeaderFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing file gave no error")
	}
}
