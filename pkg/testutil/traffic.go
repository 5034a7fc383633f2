package testutil

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Ping sends count ICMP echo requests from the namespace to addr (v4 or v6)
// and returns an error with ping's output when none is answered.
func Ping(from *NetNS, addr string, count int) error {
	_, err := from.Exec("ping", "-n", "-c", strconv.Itoa(count), "-W", "2", "-i", "0.2", addr)
	return err
}

// PingDF sends one ping of the given ICMP payload size with Don't Fragment
// set, to prove a path's MTU (IPv4).
func PingDF(from *NetNS, addr string, payload int) error {
	_, err := from.Exec("ping", "-n", "-c", "1", "-W", "2", "-M", "do", "-s", strconv.Itoa(payload), addr)
	return err
}

// MustPing fails the test unless addr answers from the namespace. It retries
// for a few seconds: a fresh bridge port or neighbor entry may need a moment.
func MustPing(t TB, from *NetNS, addr string) {
	t.Helper()
	var err error
	for i := 0; i < 5; i++ {
		if err = Ping(from, addr, 1); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("ping %s from %s: %v", addr, from.Name, err)
}

// MustNotPing fails the test if addr answers from the namespace.
func MustNotPing(t TB, from *NetNS, addr string) {
	t.Helper()
	if err := Ping(from, addr, 2); err == nil {
		t.Fatalf("ping %s from %s succeeded, want no answer", addr, from.Name)
	}
}

// EchoServer answers every TCP connection or UDP datagram with the address of
// the peer it saw ("ip:port\n"), and remembers those addresses.
type EchoServer struct {
	// Addr is the listening address, "ip:port".
	Addr  string
	mu    sync.Mutex
	peers []string
	close func() error
}

// Peers returns the peer addresses seen so far, "ip:port" each.
func (s *EchoServer) Peers() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.peers...)
}

func (s *EchoServer) record(peer string) {
	s.mu.Lock()
	s.peers = append(s.peers, peer)
	s.mu.Unlock()
}

// StartEcho starts an echo server in the namespace on proto ("tcp" or "udp")
// and addr ("0.0.0.0:8080", "[::]:8080"). The socket is created inside the
// namespace and serves from ordinary goroutines; it is closed when the test
// ends.
func StartEcho(t TB, in *NetNS, proto, addr string) *EchoServer {
	t.Helper()
	s := &EchoServer{}
	err := in.Do(func() error {
		switch proto {
		case "tcp", "tcp4", "tcp6":
			ln, err := net.Listen(proto, addr)
			if err != nil {
				return err
			}
			s.Addr, s.close = ln.Addr().String(), ln.Close
			go s.serveTCP(ln)
		case "udp", "udp4", "udp6":
			pc, err := net.ListenPacket(proto, addr)
			if err != nil {
				return err
			}
			s.Addr, s.close = pc.LocalAddr().String(), pc.Close
			go s.serveUDP(pc)
		default:
			return fmt.Errorf("unknown protocol %q", proto)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("start %s echo server on %s in %s: %v", proto, addr, in.Name, err)
	}
	t.Cleanup(func() { _ = s.close() })
	return s
}

func (s *EchoServer) serveTCP(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		peer := c.RemoteAddr().String()
		s.record(peer)
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = bufio.NewReader(c).ReadString('\n')
			_, _ = fmt.Fprintf(c, "%s\n", peer)
		}()
	}
}

func (s *EchoServer) serveUDP(pc net.PacketConn) {
	buf := make([]byte, 2048)
	for {
		_, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		s.record(from.String())
		_, _ = pc.WriteTo([]byte(from.String()+"\n"), from)
	}
}

// Dial connects from the namespace to addr ("ip:port") over proto, sends a
// line, and returns the peer address the echo server reported seeing: the
// source address after any NAT on the way.
func Dial(from *NetNS, proto, addr string, timeout time.Duration) (string, error) {
	var conn net.Conn
	err := from.Do(func() error {
		var err error
		conn, err = net.DialTimeout(proto, addr, timeout)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("dial %s %s from %s: %w", proto, addr, from.Name, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	if _, err := fmt.Fprintf(conn, "hello from %s\n", from.Name); err != nil {
		return "", fmt.Errorf("write to %s %s: %w", proto, addr, err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("read reply from %s %s: %w", proto, addr, err)
	}
	return strings.TrimSpace(line), nil
}

// DialRetry is Dial retried until it succeeds or ctx ends: UDP datagrams and
// the first packets through fresh NAT state may be lost.
func DialRetry(ctx context.Context, from *NetNS, proto, addr string) (string, error) {
	var last error
	for {
		peer, err := Dial(from, proto, addr, time.Second)
		if err == nil {
			return peer, nil
		}
		last = err
		select {
		case <-ctx.Done():
			return "", errors.Join(ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// PeerIP returns the host part of an "ip:port" peer address.
func PeerIP(peer string) string {
	host, _, err := net.SplitHostPort(peer)
	if err != nil {
		return peer
	}
	return host
}
