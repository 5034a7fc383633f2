package cniplugin

import (
	"errors"

	"github.com/containernetworking/plugins/pkg/ns"
)

// ErrNetNSGone marks an error from WithNetNS whose namespace does not exist.
// DEL treats it as success: the pod and everything inside it are gone.
var ErrNetNSGone = errors.New("network namespace does not exist")

// OpenNetNS opens the network namespace at path. A missing path returns an
// error wrapping ErrNetNSGone; a path that is not a network namespace
// returns code 4 (invalid CNI_NETNS) saying so. The caller closes it.
func OpenNetNS(path string) (ns.NetNS, error) {
	if path == "" {
		return nil, Errorf(ErrInvalidEnvironment, "CNI_NETNS is empty")
	}
	netns, err := ns.GetNS(path)
	if err != nil {
		var gone ns.NSPathNotExistErr
		var notNS ns.NSPathNotNSErr
		switch {
		case errors.As(err, &gone):
			return nil, Errorf(ErrInvalidEnvironment, "open CNI_NETNS %q: %w", path, ErrNetNSGone)
		case errors.As(err, &notNS):
			return nil, Errorf(ErrInvalidEnvironment, "open CNI_NETNS %q: not a network namespace", path)
		}
		return nil, Errorf(ErrInvalidEnvironment, "open CNI_NETNS %q: %w", path, err)
	}
	return netns, nil
}

// WithNetNS runs fn inside the network namespace at path, opened with
// OpenNetNS (same errors). Errors from fn pass through.
func WithNetNS(path string, fn func(ns.NetNS) error) error {
	netns, err := OpenNetNS(path)
	if err != nil {
		return err
	}
	defer netns.Close()
	return netns.Do(fn)
}
