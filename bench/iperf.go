package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"time"
)

// iperfPort is the port of the benchmark's iperf3 servers.
const iperfPort = "5201"

// iperf runs a one-shot iperf3 server in server and a TCP client in client
// towards addr for secs seconds, and returns the receiver's throughput in
// Mbit/s.
func iperf(ctx context.Context, server, client *NetNS, addr string, secs int) (float64, error) {
	if _, err := exec.LookPath("iperf3"); err != nil {
		return 0, errors.New("iperf3 not found: run `make deps`")
	}
	srv := exec.CommandContext(ctx, "ip", "netns", "exec", server.Name, "iperf3", "-s", "-1", "-p", iperfPort)
	if err := srv.Start(); err != nil {
		return 0, fmt.Errorf("start iperf3 server in %s: %w", server.Name, err)
	}
	defer func() {
		_ = srv.Process.Kill()
		_ = srv.Wait()
	}()
	var last error
	for attempt := 0; attempt < 30; attempt++ {
		time.Sleep(100 * time.Millisecond) // the server needs a moment to listen
		out, err := client.Exec("iperf3", "-c", addr, "-p", iperfPort, "-t", strconv.Itoa(secs), "-J")
		if err == nil {
			return parseIperf(out)
		}
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	return 0, fmt.Errorf("iperf3 from %s to %s: %w", client.Name, addr, last)
}

// parseIperf reads the receiver's bits per second from iperf3 -J output.
func parseIperf(out string) (float64, error) {
	var doc struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return 0, fmt.Errorf("decode iperf3 output: %w", err)
	}
	if doc.Error != "" {
		return 0, fmt.Errorf("iperf3: %s", doc.Error)
	}
	if doc.End.SumReceived.BitsPerSecond <= 0 {
		return 0, errors.New("iperf3 reported no received data")
	}
	return doc.End.SumReceived.BitsPerSecond / 1e6, nil
}

// pingRetry pings addr from the namespace until it answers, for about 3 s.
func pingRetry(from *NetNS, addr string) error {
	var err error
	for i := 0; i < 6; i++ {
		if _, err = from.Exec("ping", "-n", "-c", "1", "-W", "1", addr); err == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return err
}
