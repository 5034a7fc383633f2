package linkdel

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
)

// unlistTimeout bounds the wait for the helper before Delete deletes the
// link itself.
const unlistTimeout = 2 * time.Second

// pollInterval is how often Delete looks for the link besides watching
// link events, which a busy node's socket buffer may drop.
const pollInterval = 5 * time.Millisecond

// helperExe is the helper's binary: this very file, even if an upgrade
// has replaced the path it was started from. Tests change it.
var helperExe = "/proc/self/exe"

// fallbacks counts the deletions Delete made itself after a helper
// failed; tests read it.
var fallbacks atomic.Int32

// ServeHelper makes the calling binary able to delete links through a
// detached copy of itself. Call it first thing in main: in a helper
// process it deletes the link named by the arguments and exits; otherwise
// it returns and Delete detaches from then on.
func ServeHelper() {
	if len(os.Args) == 4 && os.Args[1] == helperArg {
		os.Exit(runHelper(os.Args[2], os.Args[3]))
	}
	detach = true
}

// Delete deletes l, a veth in the calling thread's network namespace,
// together with its peer. It returns once the link is unlisted; the
// kernel's remaining teardown goes on in a detached helper when
// ServeHelper was called, else Delete waits for it. A link that is
// already gone is not an error.
// Equivalent to: `ip link del $name`.
func Delete(l netlink.Link) error {
	if detach {
		if err := deleteDetached(l); err == nil {
			return nil
		}
		fallbacks.Add(1)
	}
	return ignoreGone(netlink.LinkDel(l))
}

// deleteDetached starts the helper from the locked calling thread, so it
// inherits this thread's network namespace, and waits until the link
// leaves the namespace. An error means the link may still be there.
func deleteDetached(l netlink.Link) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	a := l.Attrs()
	// Watch before the helper starts, so its RTM_DELLINK is not missed.
	events := make(chan netlink.LinkUpdate, 64)
	stop := make(chan struct{})
	defer close(stop)
	if err := netlink.LinkSubscribeWithOptions(events, stop, netlink.LinkSubscribeOptions{ErrorCallback: func(error) {}}); err != nil {
		events = nil // polling alone
	}
	p, err := startHelper(a.Index, a.Name)
	if err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() {
		st, err := p.Wait()
		if err == nil && !st.Success() {
			err = fmt.Errorf("helper %s", st)
		}
		exited <- err
	}()
	return waitUnlisted(a.Index, a.Name, events, exited)
}

// startHelper runs this binary again, detached in a session of its own
// with no stdio, so neither the runtime's pipes nor its signals to our
// process group reach it.
func startHelper(index int, name string) (*os.Process, error) {
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	argv0 := "podnet-delete-link"
	if len(os.Args) > 0 {
		argv0 = os.Args[0]
	}
	return os.StartProcess(helperExe, []string{argv0, helperArg, strconv.Itoa(index), name}, &os.ProcAttr{
		Files: []*os.File{devnull, devnull, devnull},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
}

// waitUnlisted waits until the link is gone or renamed: told by its
// RTM_DELLINK event, or seen by a poll (events may be nil or overflow). It
// gives up when the helper exits first or the timeout passes.
func waitUnlisted(index int, name string, events <-chan netlink.LinkUpdate, exited <-chan error) error {
	deadline := time.NewTimer(unlistTimeout)
	defer deadline.Stop()
	poll := time.NewTicker(pollInterval)
	defer poll.Stop()
	for {
		select {
		case u, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if u.Index != int32(index) || u.Header.Type != syscall.RTM_DELLINK {
				continue
			}
			return nil
		case err := <-exited:
			if gone, _ := unlisted(index, name); gone {
				return nil
			}
			return fmt.Errorf("delete link %q: helper ended with the link still there: %v", name, err)
		case <-poll.C:
			if gone, err := unlisted(index, name); err != nil || gone {
				return err
			}
		case <-deadline.C:
			return fmt.Errorf("delete link %q: helper did not delete it within %s", name, unlistTimeout)
		}
	}
}

func unlisted(index int, name string) (bool, error) {
	l, err := netlink.LinkByIndex(index)
	if isGone(err) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return l.Attrs().Name != name, nil
}

// runHelper is the helper process: it deletes the veth at index if it
// still bears name. Its exit status is its only report.
func runHelper(indexArg, name string) int {
	index, err := strconv.Atoi(indexArg)
	if err != nil {
		return 2
	}
	if err := deleteIfSame(index, name); err != nil && !errors.Is(err, errNotVeth) {
		return 1
	}
	return 0
}

func deleteIfSame(index int, name string) error {
	l, err := netlink.LinkByIndex(index)
	if isGone(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if l.Attrs().Name != name || l.Type() != "veth" {
		return errNotVeth
	}
	return ignoreGone(netlink.LinkDel(l))
}

func isGone(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, syscall.ENODEV)
}

func ignoreGone(err error) error {
	if isGone(err) {
		return nil
	}
	return err
}
