package hostlocal

import (
	"net"
	"strings"
)

// Attachment identifies one (container, interface) pair. An empty IfName is
// a legacy reservation written before host-local recorded interface names.
type Attachment struct {
	ContainerID string
	IfName      string
}

// legacy is the attachment a pre-ifname reservation of a's container has.
func (a Attachment) legacy() Attachment { return Attachment{ContainerID: a.ContainerID} }

// content is the reference on-disk encoding: "<containerID>\r\n<ifname>",
// or just the container ID for a legacy reservation.
func (a Attachment) content() string {
	if a.IfName == "" {
		return a.ContainerID
	}
	return a.ContainerID + "\r\n" + a.IfName
}

// parseContent decodes a reservation file. Like the reference it trims
// surrounding whitespace. ok is false for an empty (torn) file.
func parseContent(b []byte) (a Attachment, ok bool) {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return Attachment{}, false
	}
	cid, ifname, _ := strings.Cut(s, "\r\n")
	return Attachment{ContainerID: strings.TrimSpace(cid), IfName: ifname}, true
}

// Reservation is one reserved address and its owner.
type Reservation struct {
	IP net.IP
	Attachment
}

// Store is the reservation database of one network. Every method except
// Lock and Close must be called with the lock held; a Store is used by one
// goroutine at a time.
type Store interface {
	// Lock takes the network's exclusive lock, waiting for other holders.
	Lock() error
	// Unlock completes the changes of this hold (each is already visible
	// and survives the death of the process) and releases the lock. It is
	// the inverse of Lock.
	Unlock() error
	// Close releases the store's resources; the lock must not be held.
	Close() error

	// Reserve records ip for a and reports false (and no error) when ip is
	// already reserved by anyone. On success ip also becomes the last
	// reserved address of range set `set`.
	Reserve(a Attachment, ip net.IP, set int) (bool, error)
	// LastReserved returns the last address Reserve recorded for range set
	// `set`, or nil when none is recorded or the record is unreadable.
	LastReserved(set int) (net.IP, error)
	// Lookup returns the addresses reserved for exactly a; none is an empty
	// list and no error.
	Lookup(a Attachment) ([]net.IP, error)
	// ReleaseIP removes the reservation of ip if a holds it. An absent
	// reservation, or one held by someone else, is left alone and is no
	// error.
	ReleaseIP(a Attachment, ip net.IP) error
	// Release removes every reservation of a; when a holds none, it
	// removes the legacy reservations of a.ContainerID instead (as the
	// reference does). It returns what it removed; nothing is no error.
	Release(a Attachment) ([]net.IP, error)
	// Reserved returns every reserved address as the keys of a set
	// (string(ip) of the 4- or 16-byte form).
	Reserved() (map[string]struct{}, error)
	// Sweep removes every reservation whose owner keep rejects and returns
	// the removed ones. It carries on past errors and returns them all.
	Sweep(keep func(Attachment) bool) ([]Reservation, error)
	// Probe checks that the store can be written, leaving nothing behind.
	Probe() error
}
