package overlay

import (
	"net/netip"
	"testing"
)

func TestPlanFreshNode(t *testing.T) {
	k := NewFakeKernel(testUnderlay)
	ops := converge(t, k, testConfig())
	golden(t, "ops", Lines(ops), `
ip link add podnet.1 address 0e:2a:c0:00:02:0a mtu 1450 type vxlan id 1 local 192.0.2.10 dev eth0 dstport 4789 nolearning
ethtool -K podnet.1 tx-checksum-ip-generic off
ip addr add 10.244.0.0/32 dev podnet.1
ip link set podnet.1 up
ip neigh replace 10.244.1.0 lladdr 0e:2a:c0:00:02:0b dev podnet.1 nud permanent
ip neigh replace 10.244.2.0 lladdr 0e:2a:c0:00:02:0c dev podnet.1 nud permanent
bridge fdb replace 0e:2a:c0:00:02:0b dev podnet.1 dst 192.0.2.11 self permanent
bridge fdb replace 0e:2a:c0:00:02:0c dev podnet.1 dst 192.0.2.12 self permanent
ip route replace 10.244.1.0/24 via 10.244.1.0 dev podnet.1 onlink proto 77
ip route replace 10.244.2.0/24 via 10.244.2.0 dev podnet.1 onlink proto 77
`)
	golden(t, "state", dump(k.S), `
link podnet.1 vxlan vni 1 port 4789 local 192.0.2.10 dev eth0 mac 0e:2a:c0:00:02:0a mtu 1450 up true csum off
addr 10.244.0.0/32
neigh 10.244.1.0 lladdr 0e:2a:c0:00:02:0b
neigh 10.244.2.0 lladdr 0e:2a:c0:00:02:0c
fdb 0e:2a:c0:00:02:0b dst 192.0.2.11
fdb 0e:2a:c0:00:02:0c dst 192.0.2.12
route 10.244.1.0/24 via 10.244.1.0 dev podnet.1 onlink
route 10.244.2.0/24 via 10.244.2.0 dev podnet.1 onlink
`)
}

func TestPlanPeerChanges(t *testing.T) {
	k := NewFakeKernel(testUnderlay)
	cfg := testConfig()
	converge(t, k, cfg)
	// node2 leaves, node3 joins, node1 is renumbered on the underlay.
	cfg.Peers = MergePeers([]Peer{
		peer("192.0.2.10", "10.244.0.0/24"),
		peer("192.0.2.21", "10.244.1.0/24"),
		peer("192.0.2.13", "10.244.3.0/24"),
	})
	ops := converge(t, k, cfg)
	golden(t, "ops", Lines(ops), `
ip neigh replace 10.244.1.0 lladdr 0e:2a:c0:00:02:15 dev podnet.1 nud permanent
ip neigh replace 10.244.3.0 lladdr 0e:2a:c0:00:02:0d dev podnet.1 nud permanent
bridge fdb replace 0e:2a:c0:00:02:0d dev podnet.1 dst 192.0.2.13 self permanent
bridge fdb replace 0e:2a:c0:00:02:15 dev podnet.1 dst 192.0.2.21 self permanent
ip route replace 10.244.3.0/24 via 10.244.3.0 dev podnet.1 onlink proto 77
ip route del 10.244.2.0/24 via 10.244.2.0 dev podnet.1 onlink
ip neigh del 10.244.2.0 dev podnet.1
bridge fdb del 0e:2a:c0:00:02:0b dev podnet.1 dst 192.0.2.11 self
bridge fdb del 0e:2a:c0:00:02:0c dev podnet.1 dst 192.0.2.12 self
`)
	golden(t, "reasons", Reasons(ops), "neighbor 10.244.1.0 lladdr 0e:2a:c0:00:02:0b, want 0e:2a:c0:00:02:15; "+
		"neighbor 10.244.3.0 missing; fdb 0e:2a:c0:00:02:0d missing; fdb 0e:2a:c0:00:02:15 missing; "+
		"route 10.244.3.0/24 missing; stale route 10.244.2.0/24 via 10.244.2.0 dev podnet.1 onlink; "+
		"stale neighbor 10.244.2.0 lladdr 0e:2a:c0:00:02:0c; stale fdb 0e:2a:c0:00:02:0b dst 192.0.2.11; "+
		"stale fdb 0e:2a:c0:00:02:0c dst 192.0.2.12")
}

func TestPlanDeviceDrift(t *testing.T) {
	k := NewFakeKernel(testUnderlay)
	cfg := testConfig()
	converge(t, k, cfg)
	on := true
	k.S.Device.MTU, k.S.Device.Up, k.S.Device.TxChecksum = 1500, false, &on
	k.S.Addrs = append(k.S.Addrs, netip.MustParsePrefix("10.244.9.0/32"))
	ops := converge(t, k, cfg)
	golden(t, "in-place ops", Lines(ops), `
ip link set podnet.1 mtu 1450
ethtool -K podnet.1 tx-checksum-ip-generic off
ip addr del 10.244.9.0/32 dev podnet.1
ip link set podnet.1 up
`)
	cfg.TxChecksumOffload = true
	ops = converge(t, k, cfg)
	golden(t, "offload back on", Lines(ops), "ethtool -K podnet.1 tx-checksum-ip-generic on")
	k.S.Device.TxChecksum = nil // unreadable: "on" is the kernel default, nothing to do
	if ops := plan(t, k, cfg); len(ops) != 0 {
		t.Fatalf("unreadable offload with txChecksumOffload true: %s", Lines(ops))
	}
	cfg.TxChecksumOffload = false
	golden(t, "unreadable offload, want off", Lines(plan(t, k, cfg)), "ethtool -K podnet.1 tx-checksum-ip-generic off")
	cfg.VNI = 2
	ops = converge(t, k, cfg)
	golden(t, "recreate ops", Lines(ops), `
ip link del podnet.1
ip link add podnet.1 address 0e:2a:c0:00:02:0a mtu 1450 type vxlan id 2 local 192.0.2.10 dev eth0 dstport 4789 nolearning
ethtool -K podnet.1 tx-checksum-ip-generic off
ip addr add 10.244.0.0/32 dev podnet.1
ip link set podnet.1 up
ip neigh replace 10.244.1.0 lladdr 0e:2a:c0:00:02:0b dev podnet.1 nud permanent
ip neigh replace 10.244.2.0 lladdr 0e:2a:c0:00:02:0c dev podnet.1 nud permanent
bridge fdb replace 0e:2a:c0:00:02:0b dev podnet.1 dst 192.0.2.11 self permanent
bridge fdb replace 0e:2a:c0:00:02:0c dev podnet.1 dst 192.0.2.12 self permanent
ip route replace 10.244.1.0/24 via 10.244.1.0 dev podnet.1 onlink proto 77
ip route replace 10.244.2.0/24 via 10.244.2.0 dev podnet.1 onlink proto 77
`)
	if got := ops[0].Reason; got != "device podnet.1: vni: 1 vs 2 (recreate)" {
		t.Fatalf("recreate reason = %q", got)
	}
}

func TestPlanRecreateReasons(t *testing.T) {
	base := Device{Name: "podnet.1", Kind: "vxlan", VNI: 1, Port: 4789, Local: netip.MustParseAddr("192.0.2.10"),
		Underlay: "eth0", MAC: "0e:2a:c0:00:02:0a"}
	tests := []struct {
		change func(*Device)
		want   string
	}{
		{func(d *Device) {}, ""},
		{func(d *Device) { d.MTU, d.Up = 9000, true }, ""},
		{func(d *Device) { d.Kind = "dummy" }, "kind: dummy vs vxlan"},
		{func(d *Device) { d.Port = 8472 }, "port: 8472 vs 4789"},
		{func(d *Device) { d.Local = netip.MustParseAddr("192.0.2.99") }, "local: 192.0.2.99 vs 192.0.2.10"},
		{func(d *Device) { d.Underlay = "eth1" }, `underlay: "eth1" vs "eth0"`},
		{func(d *Device) { d.MAC = "02:00:00:00:00:01" }, "mac: 02:00:00:00:00:01 vs 0e:2a:c0:00:02:0a"},
		{func(d *Device) { d.Learning = true }, "learning: true vs false"},
	}
	for _, tt := range tests {
		have := base
		tt.change(&have)
		if got := have.incompatible(&base); got != tt.want {
			t.Errorf("incompatible = %q, want %q", got, tt.want)
		}
	}
}

func TestPlanDirectRouting(t *testing.T) {
	k := NewFakeKernel(testUnderlay)
	cfg := testConfig()
	cfg.DirectRouting = true
	cfg.TxChecksumOffload = true
	cfg.Peers = append(cfg.Peers, peer("198.51.100.7", "10.244.7.0/24"))
	ops := converge(t, k, cfg)
	golden(t, "ops", Lines(ops), `
ip link add podnet.1 address 0e:2a:c0:00:02:0a mtu 1450 type vxlan id 1 local 192.0.2.10 dev eth0 dstport 4789 nolearning
ip addr add 10.244.0.0/32 dev podnet.1
ip link set podnet.1 up
ip neigh replace 10.244.7.0 lladdr 0e:2a:c6:33:64:07 dev podnet.1 nud permanent
bridge fdb replace 0e:2a:c6:33:64:07 dev podnet.1 dst 198.51.100.7 self permanent
ip route replace 10.244.1.0/24 via 192.0.2.11 dev eth0 proto 77
ip route replace 10.244.2.0/24 via 192.0.2.12 dev eth0 proto 77
ip route replace 10.244.7.0/24 via 10.244.7.0 dev podnet.1 onlink proto 77
`)
	// Turning directRouting off moves the routes onto the overlay.
	cfg.DirectRouting = false
	ops = converge(t, k, cfg)
	golden(t, "ops without directRouting", Lines(ops), `
ip neigh replace 10.244.1.0 lladdr 0e:2a:c0:00:02:0b dev podnet.1 nud permanent
ip neigh replace 10.244.2.0 lladdr 0e:2a:c0:00:02:0c dev podnet.1 nud permanent
bridge fdb replace 0e:2a:c0:00:02:0b dev podnet.1 dst 192.0.2.11 self permanent
bridge fdb replace 0e:2a:c0:00:02:0c dev podnet.1 dst 192.0.2.12 self permanent
ip route replace 10.244.1.0/24 via 10.244.1.0 dev podnet.1 onlink proto 77
ip route replace 10.244.2.0/24 via 10.244.2.0 dev podnet.1 onlink proto 77
`)
}

func TestPlanTeardown(t *testing.T) {
	k := NewFakeKernel(testUnderlay)
	cfg := testConfig()
	cfg.DirectRouting = true
	cfg.Peers = append(cfg.Peers, peer("198.51.100.7", "10.244.7.0/24"))
	converge(t, k, cfg)
	have, _ := k.Read(cfg.Device, cfg.Network)
	ops := Diff(NewState(), have)
	golden(t, "teardown ops", Lines(ops), `
ip link del podnet.1
ip route del 10.244.1.0/24 via 192.0.2.11 dev eth0
ip route del 10.244.2.0/24 via 192.0.2.12 dev eth0
`)
	for _, op := range ops {
		if err := k.Apply(op); err != nil {
			t.Fatal(err)
		}
	}
	if got := dump(k.S); got != "" {
		t.Fatalf("state after teardown:\n%s", got)
	}
	if ops := Diff(NewState(), NewState()); len(ops) != 0 {
		t.Fatalf("teardown of nothing: %s", Lines(ops))
	}
}

func TestPlanIPv6(t *testing.T) {
	ul := Underlay{VTEPIP: netip.MustParseAddr("2001:db8:ffff::10"), Device: "eth0", MTU: 1500,
		Prefixes: []netip.Prefix{netip.MustParsePrefix("2001:db8:ffff::10/64")}}
	k := NewFakeKernel(ul)
	cfg := &Config{
		Name: "v6", VNI: 6, Port: 4789, Device: "podnet.6",
		Network: netip.MustParsePrefix("fd00:10::/56"), Subnet: netip.MustParsePrefix("fd00:10::/64"),
		Peers: []Peer{peer("2001:db8:ffff::11", "fd00:10:0:1::/64")}, TxChecksumOffload: true,
	}
	ops := converge(t, k, cfg)
	golden(t, "ops", Lines(ops), `
ip link add podnet.6 address 16:e3:42:3a:5c:af mtu 1430 type vxlan id 6 local 2001:db8:ffff::10 dev eth0 dstport 4789 nolearning
ip addr add fd00:10::/128 dev podnet.6
ip link set podnet.6 up
ip neigh replace fd00:10:0:1:: lladdr 36:6e:f3:28:bd:07 dev podnet.6 nud permanent
bridge fdb replace 36:6e:f3:28:bd:07 dev podnet.6 dst 2001:db8:ffff::11 self permanent
ip route replace fd00:10:0:1::/64 via fd00:10:0:1:: dev podnet.6 onlink proto 77
`)
}

func TestDesiredErrors(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config, *Underlay)
		want   string
	}{
		{"no subnet", func(c *Config, _ *Underlay) { c.Subnet = netip.Prefix{} }, "subnet: not set and not derivable; set subnet, or chain vxlan after a plugin whose result has a pod address inside network 10.244.0.0/16"},
		{"own entry with another subnet", func(c *Config, _ *Underlay) { c.Subnet = netip.MustParsePrefix("10.244.5.0/24") },
			"peers: entry for this node's vtepIP 192.0.2.10 has subnet 10.244.0.0/24, but this node's subnet is 10.244.5.0/24"},
		{"peer claims our subnet", func(c *Config, u *Underlay) { u.VTEPIP = netip.MustParseAddr("192.0.2.99") },
			"peers: subnet 10.244.0.0/24 of vtepIP 192.0.2.10 overlaps this node's subnet 10.244.0.0/24 (vtepIP 192.0.2.99)"},
		{"family", func(c *Config, _ *Underlay) { c.Peers = append(c.Peers, peer("2001:db8::1", "10.244.9.0/24")) },
			"peers: vtepIP 2001:db8::1 is not the family of this node's vtepIP 192.0.2.10"},
		{"underlay MTU too small", func(c *Config, u *Underlay) { u.MTU = 100 },
			`mtu: underlay "eth0" has MTU 100, too small for VXLAN (overhead 50); set mtu`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, ul := testConfig(), testUnderlay
			tt.change(cfg, &ul)
			_, err := Desired(cfg, ul)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Desired error = %v, want %q", err, tt.want)
			}
		})
	}
}
