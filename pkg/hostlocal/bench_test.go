package hostlocal

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// benchSizes are the existing reservations on the /16 for every benchmark.
var benchSizes = []int{10, 1000, 10000}

// benchPool returns a pool on a /16 whose store already holds n
// reservations (written in the reference format, then indexed once), with
// the round-robin cursor after the last of them.
func benchPool(b *testing.B, n int) (*Pool, *Config) {
	b.Helper()
	data := b.TempDir()
	dir := filepath.Join(data, "net1")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	addr := net.ParseIP("10.0.0.2").To4()
	for i := 0; i < n; i++ {
		content := fmt.Sprintf("existing%d\r\neth0", i)
		if err := os.WriteFile(filepath.Join(dir, addr.String()), []byte(content), 0o600); err != nil {
			b.Fatal(err)
		}
		if i == n-1 {
			if err := os.WriteFile(filepath.Join(dir, lastIPPrefix+"0"), []byte(addr.String()), 0o600); err != nil {
				b.Fatal(err)
			}
		}
		addr = nextIP(addr)
	}
	st, err := OpenDisk(data, "net1", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	// Index the reference-written store once, outside the measurement.
	if err := st.Lock(); err != nil {
		b.Fatal(err)
	}
	if err := st.Unlock(); err != nil {
		b.Fatal(err)
	}
	c, err := ParseConfig(conf("1.1.0", `{"subnet":"10.0.0.0/16"}`), "")
	if err != nil {
		b.Fatal(err)
	}
	return &Pool{Store: st}, c
}

// BenchmarkAllocate measures one ADD (lock, duplicate check, reserve with
// cursor, index, unlock) with n reservations already on the network.
// Each allocation is released outside the timer to keep n constant.
func BenchmarkAllocate(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("reservations=%d", n), func(b *testing.B) {
			p, c := benchPool(b, n)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				a := Attachment{ContainerID: fmt.Sprintf("bench%d", i), IfName: "eth0"}
				if _, err := p.Allocate(a, c); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if _, err := p.Release(a); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkRelease measures one DEL with n other reservations on the
// network: an index read, the owner check and unlink per address, no scan.
func BenchmarkRelease(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("reservations=%d", n), func(b *testing.B) {
			p, c := benchPool(b, n)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				a := Attachment{ContainerID: fmt.Sprintf("bench%d", i), IfName: "eth0"}
				b.StopTimer()
				if _, err := p.Allocate(a, c); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				rel, err := p.Release(a)
				if err != nil || len(rel) != 1 {
					b.Fatalf("release: %v %v", rel, err)
				}
			}
		})
	}
}

// BenchmarkReindex measures the one-time cost paid on the first operation
// after anything but podnet (the reference plugin, a crash) changed the
// store: a scan of every reservation that rewrites only what changed.
func BenchmarkReindex(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("reservations=%d", n), func(b *testing.B) {
			p, _ := benchPool(b, n)
			st := p.Store.(*DiskStore)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				if err := os.Remove(filepath.Join(st.meta, stampName)); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := st.Lock(); err != nil {
					b.Fatal(err)
				}
				if err := st.Unlock(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
