package hostlocal

import (
	"fmt"

	"github.com/podnet/podnet/pkg/cniplugin"
)

// Limits on names that reach the store. A network name is a directory name
// (NAME_MAX); a container ID only ever reaches file contents and a hash.
const (
	maxNetworkName = 255
	maxContainerID = 1024
	maxIfName      = 15
)

// ValidateNetworkName accepts what libcni and skel accept:
// ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$, at most 255 bytes. That excludes "",
// ".", "..", "/" and NUL, so the name is always one safe path element.
func ValidateNetworkName(name string) error {
	if err := validateID(name, maxNetworkName); err != nil {
		return fmt.Errorf("network name %q: %w", name, err)
	}
	return nil
}

// ValidateContainerID applies the network-name rule to a container ID (up
// to 1024 bytes), as libcni does.
func ValidateContainerID(id string) error {
	if err := validateID(id, maxContainerID); err != nil {
		return fmt.Errorf("container ID %q: %w", id, err)
	}
	return nil
}

// ValidateIfName accepts what the kernel and libcni accept: 1 to 15 bytes,
// not "." or "..", and no "/", ":", whitespace or control characters.
func ValidateIfName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("interface name is empty")
	case len(name) > maxIfName:
		return fmt.Errorf("interface name %q: longer than %d bytes", name, maxIfName)
	case name == "." || name == "..":
		return fmt.Errorf("interface name %q: not allowed", name)
	}
	for _, c := range []byte(name) {
		if c <= ' ' || c == 0x7f || c == '/' || c == ':' {
			return fmt.Errorf("interface name %q: contains %q", name, c)
		}
	}
	return nil
}

func validateID(s string, max int) error {
	switch {
	case s == "":
		return fmt.Errorf("empty")
	case len(s) > max:
		return fmt.Errorf("longer than %d bytes", max)
	}
	switch i := cniplugin.BadNameByte(s); {
	case i == 0:
		return fmt.Errorf("must start with a letter or digit")
	case i > 0:
		return fmt.Errorf("contains %q; allowed are letters, digits, '_', '.' and '-'", s[i:i+1])
	}
	return nil
}
