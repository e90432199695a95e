package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

const (
	testKey   = "37b7dcf21e0e183a9a86170997df242a84a85ff7" // spec vector SHA-1(A‖B)
	testKey2  = "9c8d8e5a31c9802b093c4116dfb0a23a311b8029" // spec vector SHA-1(B‖A)
	testValue = "0101010101010101010101010101010101010101010101013b59f51c411ca39650207eeeefc586190c150da3da2bf0c45fcae4a067e7273da6"
)

func TestFileRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "a", "store")
	f, err := NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Get(ctx, testKey); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get before Set: %v, want ErrNotFound", err)
	}
	if err := f.Set(ctx, testKey, testValue); err != nil {
		t.Fatal(err)
	}
	got, err := f.Get(ctx, testKey)
	if err != nil || got != testValue {
		t.Fatalf("Get = %q, %v; want %q", got, err, testValue)
	}
	if err := f.Set(ctx, testKey, "ab"); err != nil {
		t.Fatal(err)
	}
	if got, err := f.Get(ctx, testKey); err != nil || got != "ab" {
		t.Fatalf("Get after replace = %q, %v", got, err)
	}
	if _, err := f.Get(ctx, testKey2); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of other key: %v, want ErrNotFound", err)
	}
	// Only the key file remains: no temporary files left behind.
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != testKey {
		t.Errorf("directory holds %v, want only %s", ents, testKey)
	}
	if f.String() != "file:"+dir {
		t.Errorf("String = %q", f.String())
	}
}

func TestFilePermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix permission bits")
	}
	dir := filepath.Join(t.TempDir(), "new")
	f, err := NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Set(context.Background(), testKey, testValue); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want os.FileMode
	}{
		{"directory", dir, 0o700},
		{"value file", filepath.Join(dir, testKey), 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fi, err := os.Stat(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != tt.want {
				t.Errorf("mode %v, want %v", got, tt.want)
			}
		})
	}

	// An existing directory keeps its mode.
	shared := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(shared, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o750); err != nil {
		t.Fatal(err)
	}
	if _, err := NewFile(shared); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(shared); fi.Mode().Perm() != 0o750 {
		t.Errorf("existing directory mode changed to %v", fi.Mode().Perm())
	}
}

func TestFileBadInput(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f, err := NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		key   string
		value string
		want  error
	}{
		{"empty key", "", "ab", ErrInvalidKey},
		{"short key", testKey[:39], "ab", ErrInvalidKey},
		{"long key", testKey + "0", "ab", ErrInvalidKey},
		{"upper case key", strings.ToUpper(testKey), "ab", ErrInvalidKey},
		{"path traversal", "../../../../../../../../../../../etc/pass", "ab", ErrInvalidKey},
		{"slash inside", testKey[:20] + "/" + testKey[21:], "ab", ErrInvalidKey},
		{"dot temp name", "." + testKey[1:], "ab", ErrInvalidKey},
		{"empty value", testKey, "", ErrInvalidValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := f.Set(ctx, tt.key, tt.value); !errors.Is(err, tt.want) {
				t.Errorf("Set error = %v, want %v", err, tt.want)
			}
			if tt.want == ErrInvalidKey {
				if _, err := f.Get(ctx, tt.key); !errors.Is(err, ErrInvalidKey) {
					t.Errorf("Get error = %v, want ErrInvalidKey", err)
				}
			}
		})
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("bad input left files: %v", ents)
	}

	// A file where the directory should be.
	plain := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(plain, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewFile(plain); err == nil {
		t.Error("NewFile on a regular file succeeded")
	}
	if _, err := NewFile(""); err == nil {
		t.Error("NewFile with empty name succeeded")
	}
}

func TestFileContentAsIs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f, err := NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		content string
		want    string
		err     error
	}{
		{"truncated value returned as is", testValue[:17], testValue[:17], nil},
		{"trailing newline kept", testValue + "\n", testValue + "\n", nil},
		{"garbage returned as is", "not hex at all", "not hex at all", nil},
		{"zero length is not found", "", "", ErrNotFound},
		{"whitespace only is not found", " \n\t", "", ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(dir, testKey), []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := f.Get(ctx, testKey)
			if !errors.Is(err, tt.err) || tt.err == nil && err != nil {
				t.Fatalf("Get error = %v, want %v", err, tt.err)
			}
			if got != tt.want {
				t.Errorf("Get = %q, want %q", got, tt.want)
			}
		})
	}

	if err := os.WriteFile(filepath.Join(dir, testKey), make([]byte, maxFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Get(ctx, testKey); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized file: error = %v", err)
	}
}

// TestFileAtomicReplace has readers race a writer that alternates two
// values of different lengths; every read must see one whole value.
func TestFileAtomicReplace(t *testing.T) {
	ctx := context.Background()
	f, err := NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("ab", 500)
	short := "cd"
	if err := f.Set(ctx, testKey, long); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan string, 4)
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				got, err := f.Get(ctx, testKey)
				if err != nil || (got != long && got != short) {
					select {
					case errs <- got + " / " + errorString(err):
					default:
					}
					return
				}
			}
		})
	}
	for i := range 200 {
		v := long
		if i%2 == 0 {
			v = short
		}
		if err := f.Set(ctx, testKey, v); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("reader saw a partial value: %.60s", e)
	}
}

func errorString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestFileCanceledContext(t *testing.T) {
	f, err := NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.Set(ctx, testKey, "ab"); !errors.Is(err, context.Canceled) {
		t.Errorf("Set error = %v, want context.Canceled", err)
	}
	if _, err := f.Get(ctx, testKey); !errors.Is(err, context.Canceled) {
		t.Errorf("Get error = %v, want context.Canceled", err)
	}
}
