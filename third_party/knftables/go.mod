module sigs.k8s.io/knftables

go 1.25.0

require (
	github.com/google/go-cmp v0.7.0
	github.com/google/nftables v0.3.0
	github.com/lithammer/dedent v1.1.0
	github.com/mdlayher/netlink v1.11.2
)

require (
	github.com/mdlayher/socket v0.6.1 // indirect
	golang.org/x/net v0.57.0 // indirect
	golang.org/x/sync v0.22.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
)
