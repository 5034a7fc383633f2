// Package linkdel deletes a veth pair without making the CNI call wait
// for the kernel's slow half of the deletion.
//
// RTM_DELLINK unlists both ends of a veth pair in about half a
// millisecond: from then on neither end is in any namespace and its name
// is free. The same request then blocks for another 10-35 ms while the
// kernel waits for RCU callbacks and device references (netdev_run_todo),
// work that completes on its own once it has begun and that no caller can
// observe. Delete hands the request to a detached copy of the running
// binary and returns as soon as the link is unlisted, so a DEL pays the
// first half only. If the helper cannot start, dies, or is too slow, Delete
// deletes the link itself and waits as usual.
package linkdel

import "errors"

// helperArg is argv[1] of a helper process. A CNI runtime never passes
// arguments to a plugin, so it cannot collide with a real invocation.
const helperArg = "podnet-delete-link"

// detach is set by ServeHelper: only a binary that can serve as its own
// helper may start one. In-process callers (tests) delete synchronously.
var detach bool

// errNotVeth means the index no longer names the link the caller meant.
var errNotVeth = errors.New("not the expected veth")
