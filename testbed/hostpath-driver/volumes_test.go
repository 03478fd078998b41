// volumes_test.go checks the file helpers that need no root: sparse copy,
// growing files, mountinfo unescaping and endpoint parsing.

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestCopySparseKeepsDataAndHoles(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.img")
	const size = 64 << 20
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	head := bytes.Repeat([]byte("A"), 4096)
	tail := bytes.Repeat([]byte("Z"), 4096)
	if _, err := f.WriteAt(head, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(tail, 32<<20); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()

	dst := filepath.Join(dir, "dst.img")
	if err := copySparse(src, dst); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(src)
	got, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("copy differs from source")
	}
	var st syscall.Stat_t
	if err := syscall.Stat(dst, &st); err != nil {
		t.Fatal(err)
	}
	if allocated := st.Blocks * 512; allocated >= size/2 {
		t.Errorf("copy allocates %d bytes of %d: holes were filled", allocated, size)
	}

	if err := copySparse(src, dst); err == nil {
		t.Error("copySparse overwrote an existing file")
	}
}

func TestGrowFileNeverShrinks(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, make([]byte, 100), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ size, want int64 }{{50, 100}, {1000, 1000}} {
		if err := growFile(p, tc.size); err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(p)
		if fi.Size() != tc.want {
			t.Errorf("growFile(%d): size %d, want %d", tc.size, fi.Size(), tc.want)
		}
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{
		"/plain":              "/plain",
		`/with\040space`:      "/with space",
		`/tab\011and\134back`: "/tab\tand\\back",
		`/trailing\`:          `/trailing\`,
	} {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSocketPath(t *testing.T) {
	for in, want := range map[string]string{
		"unix:///run/csi/csi.sock": "/run/csi/csi.sock",
		"unix:/run/csi.sock":       "/run/csi.sock",
		"/run/csi.sock":            "/run/csi.sock",
	} {
		if got, err := socketPath(in); err != nil || got != want {
			t.Errorf("socketPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"tcp://127.0.0.1:10000", "unix://relative.sock", "csi.sock"} {
		if _, err := socketPath(in); err == nil {
			t.Errorf("socketPath(%q) succeeded, want error", in)
		}
	}
}
