#include "drivers/host/conformance.hpp"

namespace overlayd::drivers {

// Each script exercises one area; together they cover every operation of
// every driver interface and every row of the spec's idempotence table
// (dataplane.md §4.2, §13.7). Names stay within this file's own prefixes so
// a real run never collides with the host's links.

std::vector<conformance_script> standard_conformance_scripts() {
  return {
    {"links and idempotence", R"(
create_bridge zl-t-b
create_bridge zl-t-b                  # existing: success
get_link zl-t-b
set_bridge_stp zl-t-b 0
set_bridge_stp nope0 0                # missing
create_veth_pair veth-1-s vc-1-s
create_veth_pair veth-1-s vc-1-x      # host name taken
create_veth_pair veth-1-y vc-1-s      # peer name taken
get_link veth-1-s
get_link vc-1-s
link_exists veth-1-s
link_exists nope0
get_link nope0
set_link_up nope0
set_link_down nope0
set_mtu nope0 1400
set_mtu veth-1-s 1400
set_mtu veth-1-s 67
set_mtu veth-1-s 65536
set_mtu veth-1-s 68
set_mtu veth-1-s 65535
set_mtu veth-1-s 1500
set_master veth-1-s zl-t-b
set_master veth-1-s zl-t-b            # already enslaved: success
bridge_member_count zl-t-b
bridge_member_count nope0             # missing: 0
bridge_member_count veth-1-s          # not a bridge: 0
set_master veth-1-s nope0
set_master nope0 zl-t-b
dump
delete_link vc-1-s                    # takes the pair
link_exists veth-1-s
bridge_member_count zl-t-b
delete_link vc-1-s                    # missing: success
delete_link zl-t-b
delete_link zl-t-b
)"},
    {"bad names", R"(
create_bridge zl-0123456789abc
create_bridge zl-012345678abc
delete_link zl-012345678abc
create_bridge a/b
create_bridge a:b
create_bridge ..
create_veth_pair veth-12345678901 vc-1
create_veth_pair veth-1 vc-1234567890123
get_link zl-0123456789abc
delete_link zl-0123456789abc
set_link_up a:b
add_address a/b 10.0.0.1/24
)"},
    {"addresses and routes", R"(
create_bridge zl-r-b
add_address zl-r-b 10.9.0.1/24
add_address zl-r-b 10.9.0.1/24        # same address and prefix
add_address zl-r-b 10.9.0.1/16        # IPv4: another prefix is allowed
add_address nope0 10.9.0.1/24
add_route 10.10.0.0/16 zl-r-b         # device down
dump
set_link_up zl-r-b
add_route 10.10.0.0/16 zl-r-b
add_route 10.10.0.0/16 zl-r-b         # exists
add_route 10.10.0.1/16 zl-r-b         # host bits
add_route 10.9.0.0/24 zl-r-b          # clashes with the connected route
add_route 10.11.0.0/16 nope0
replace_route 10.10.0.0/16 zl-r-b 10.9.0.1
replace_route 10.12.0.5/32 zl-r-b 10.9.0.1
replace_route 10.12.0.5/32 zl-r-b 10.9.0.1
replace_route 10.12.0.6/32 zl-r-b fd00::1
replace_route 10.12.0.7/32 zl-r-b 10.99.0.1
replace_route 10.12.0.8/32 nope0 10.9.0.1
add_default_route 10.50.0.1           # not on-link
add_default_route 10.9.0.1            # our own address: accepted
dump
delete_route 0.0.0.0/0 zl-r-b
add_default_route 10.9.0.254
add_default_route 10.9.0.253          # a default exists
dump
delete_route 10.12.0.5/32 zl-r-b
delete_route 10.12.0.5/32 zl-r-b      # missing: success
delete_route 10.12.0.5/32 nope0       # missing device: success
delete_address zl-r-b 10.9.0.1/16
delete_address zl-r-b 10.9.0.1/16
delete_address nope0 10.9.0.1/16
dump
flush_addresses zl-r-b
flush_addresses nope0
dump
add_address zl-r-b fd00:9::1/64
add_address zl-r-b fd00:9::1/64
add_address zl-r-b fd00:9::1/80       # IPv6: same address, any prefix
add_route fd00:10::/48 zl-r-b
add_route fd00:10::/48 zl-r-b
dump
set_link_down zl-r-b
add_route fd00:11::/48 zl-r-b
dump
delete_link zl-r-b
)"},
    {"namespaces", R"(
pin c1
create_veth_pair veth-7-s vc-7-s
move_link vc-7-s c1 eth0
move_link vc-7-s c1 eth0              # already moved
create_veth_pair veth-8-s vc-8-s
move_link vc-8-s c1 eth0              # name taken in the target
create_bridge zl-n-b
move_link zl-n-b c1 br0               # bridges stay in their namespace
move_link vc-8-s c1 a/b
enter c1
@c1 get_link eth0
@c1 add_address eth0 10.20.0.2/24
@c1 add_address eth0 10.20.0.2/24
@c1 set_link_up eth0
@c1 set_link_up lo
@c1 add_default_route 10.20.0.1
@c1 add_default_route 10.20.0.1
@c1 create_bridge zl-in-b
set_master veth-7-s zl-n-b
set_link_up veth-7-s
set_link_up zl-n-b
add_address zl-n-b 10.20.0.1/24
dump
delete_link veth-8-s
origin_alive c1
pin_pid 2147483646                    # no such process
destroy c1
origin_alive c1
@c1 get_link eth0                     # the namespace is gone
move_link vc-8-s c1 eth1
pin c1
delete_link veth-7-s                  # takes the moved peer with it
link_exists veth-7-s
delete_link zl-n-b
)"},
    {"sysctls", R"(
read_sysctl net.ipv4.ip_forward
write_sysctl net.ipv4.ip_forward 1
read_sysctl net.ipv4.ip_forward
read_sysctl net/ipv4/ip_forward
write_sysctl net.ipv4.ip_forward abc
write_sysctl net.ipv4.ip_forward 0
read_sysctl net.ipv6.conf.nope0.forwarding
write_sysctl net.ipv6.conf.nope0.forwarding 1
read_sysctl net..ipv4
create_bridge zl-s-b
write_sysctl net.ipv6.conf.zl-s-b.forwarding 1
read_sysctl net/ipv6/conf/zl-s-b/forwarding
write_sysctl net.ipv4.ip_forward 1
create_bridge zl-s2-b                 # inherits the default
dump
write_sysctl net.ipv4.ip_forward 0
write_sysctl net.ipv6.conf.all.forwarding 1
read_sysctl net.ipv6.conf.zl-s-b.forwarding
write_sysctl net.ipv6.conf.all.forwarding 0
delete_link zl-s-b
read_sysctl net.ipv6.conf.zl-s-b.forwarding
delete_link zl-s2-b
)"},
    {"firewall", R"(
ensure_subnet_rules 10.200.0.0/16
ensure_subnet_rules 10.200.0.0/16
ensure_masquerade 10.200.0.0/16
ensure_masquerade 10.200.0.0/16
ensure_member_isolation net1 10.200.1.2 - 10.200.0.1 10.200.0.0/16
ensure_member_isolation net1 10.200.1.3 10.200.1.2 10.200.0.1 10.200.0.0/16
ensure_member_isolation net1 10.200.1.3 10.200.1.2 10.200.0.1 10.200.0.0/16
ensure_subnet_rules bogus
ensure_member_isolation net1 fd00::5 - 10.200.0.1 10.200.0.0/16
ensure_subnet_rules fd00:200::/48
ensure_masquerade fd00:200::/48
dump
remove_member_isolation net1 10.200.1.2 10.200.1.3 10.200.0.1 10.200.0.0/16
dump
remove_subnet_rules
ensure_member_isolation net2 10.200.2.2 - 10.200.0.1 10.200.0.0/16
ensure_subnet_rules 10.200.0.0/16     # goes below the isolation jump
dump
remove_masquerade
remove_subnet_rules
remove_isolation
remove_isolation
remove_masquerade
)"},
    {"bridges and ports", R"(
create_bridge zl-p-b
create_bridge zl-p2-b
create_veth_pair veth-3-s vc-3-s
set_mtu veth-3-s 9000
set_master veth-3-s zl-p-b            # the bridge follows its port
get_link zl-p-b
set_mtu veth-3-s 1400
get_link zl-p-b
set_mtu zl-p-b 1300                   # now set by hand
set_mtu veth-3-s 2000
get_link zl-p-b
set_master veth-3-s zl-p2-b           # moves to the other bridge
bridge_member_count zl-p-b
bridge_member_count zl-p2-b
set_master vc-3-s veth-3-s            # a veth is no master
set_master zl-p2-b zl-p-b             # no bridge in a bridge
set_master zl-p-b zl-p-b
set_master lo zl-p-b
set_bridge_stp veth-3-s 1             # not a bridge
set_bridge_stp zl-p-b 1
delete_link lo
delete_link zl-p2-b                   # the port is released
get_link veth-3-s
dump
delete_link veth-3-s
delete_link zl-p-b
)"},
    {"link state and routes", R"(
create_veth_pair veth-4-s vc-4-s
add_address veth-4-s 10.30.0.1/24
add_address veth-4-s 10.31.0.1/32     # a /32 has no prefix route
add_address veth-4-s 10.30.0.1/33
add_address veth-4-s fd00:30::1/64
set_link_up veth-4-s
add_route 10.32.0.0/16 veth-4-s
add_route 10.33.0.0/33 veth-4-s
add_route fd00:32::/48 veth-4-s
add_default_route fd00:30::7
add_default_route fd00:31::7
add_default_route 10.30.0.9
dump
set_link_down veth-4-s                # IPv4 routes go, IPv6 addresses too
dump
set_link_up veth-4-s
dump
delete_address veth-4-s 10.30.0.1/16  # not that prefix
delete_address veth-4-s 10.31.0.1/32
add_address veth-4-s 10.30.0.2/24     # a second address in the subnet
delete_address veth-4-s 10.30.0.1/24
dump
delete_link vc-4-s
)"},
    {"namespaces, peers and disappearance", R"(
pin c1
enter c1
create_veth_pair veth-5-s vc-5-s
move_link vc-5-s c1 eth0
@c1 set_link_up eth0
@c1 add_address eth0 10.40.0.2/24
@c1 add_address eth0 fd00:40::2/64
@c1 create_veth_pair in-a in-b
@c1 move_link in-a c1 in-c            # same namespace: a rename
@c1 delete_link in-b
@c1 create_bridge zl-c-b
@c1 set_master eth0 zl-c-b
@c1 bridge_member_count zl-c-b
set_link_up veth-5-s
dump
@c1 delete_link eth0                  # takes the host end with it
link_exists veth-5-s
create_veth_pair veth-6-s vc-6-s
destroy c1
move_link vc-6-s c1 eth0              # origin gone
origin_alive c1
@c1 list_links_count
delete_link veth-6-s
)"},
    {"sysctl defaults and values", R"(
write_sysctl net.ipv6.conf.default.forwarding 1
create_bridge zl-d-b                  # copies the default
read_sysctl net.ipv6.conf.zl-d-b.forwarding
write_sysctl net.ipv6.conf.default.forwarding 0
write_sysctl net.ipv6.conf.zl-d-b.forwarding 2
read_sysctl net.ipv6.conf.zl-d-b.forwarding
write_sysctl net.ipv6.conf.zl-d-b.forwarding -1
read_sysctl net.ipv6.conf.zl-d-b.forwarding
write_sysctl net.ipv6.conf.zl-d-b.forwarding 0x1
read_sysctl net.ipv6.conf.zl-d-b.forwarding
write_sysctl net.ipv6.conf.zl-d-b.forwarding 010
read_sysctl net.ipv6.conf.zl-d-b.forwarding
write_sysctl net.ipv6.conf.zl-d-b.forwarding 1x
write_sysctl net.ipv4.conf.zl-d-b.forwarding 1
read_sysctl net.ipv4.ip_forward
write_sysctl net.ipv4.conf.all.forwarding 1
read_sysctl net.ipv4.ip_forward
read_sysctl net.ipv4.conf.lo.forwarding
write_sysctl net.ipv4.conf.all.forwarding 0
write_sysctl net.ipv6.conf.zl-d-b.forwarding 0
delete_link zl-d-b
)"},
    {"firewall on a host with rules of its own", R"(
iptables -w -A FORWARD -j ACCEPT
iptables -w -A INPUT -s 192.0.2.1 -j DROP
iptables -w -t nat -A POSTROUTING -s 192.0.2.0/24 -j MASQUERADE
ip6tables -w -A FORWARD -j ACCEPT
iptables -w -N ZLAYER-OVERLAY           # a leftover empty chain
iptables -w -A FORWARD -j ZLAYER-OVERLAY  # ... and a stray jump
ensure_subnet_rules 10.200.0.0/16
ensure_member_isolation n6 fd00:200::5 - fd00:200::1 fd00:200::/48
ensure_member_isolation n6 fd00:200::6 fd00:200::5 fd00:200::1 fd00:200::/48
ensure_subnet_rules fd00:200::/48
dump
remove_member_isolation n6 fd00:200::5 fd00:200::6 fd00:200::1 fd00:200::/48
remove_member_isolation n6 fd00:200::5 fd00:200::6 fd00:200::1 fd00:200::/48
iptables -w -C FORWARD -j ZLAYER-OVERLAY
iptables -w -S ZLAYER-OVERLAY
iptables -w -I FORWARD 9 -j ACCEPT
iptables -w -X ZLAYER-OVERLAY
iptables -w -A FORWARD -j NOPE
iptables -w -D FORWARD -j NOPE
iptables -w -F NOPE
iptables -w -t bogus -S
ip6tables -w -A FORWARD -s 10.0.0.1 -j ACCEPT
remove_subnet_rules
remove_isolation
remove_masquerade
)"},
    {"the engine's attach, detach and teardown", R"(
# setup_service_overlay (dataplane.md 5.3)
create_bridge zl-dep-i0-web-b
set_bridge_stp zl-dep-i0-web-b 0
flush_addresses zl-dep-i0-web-b
add_address zl-dep-i0-web-b 10.200.187.129/26
set_link_up zl-dep-i0-web-b
# attach_to_interface (5.4), service side
pin c1
delete_link veth-42-s
delete_link vc-42-s
create_veth_pair veth-42-s vc-42-s
move_link vc-42-s c1 eth0
enter c1
@c1 add_address eth0 10.200.187.130/26
@c1 set_link_up eth0
@c1 set_link_up lo
@c1 add_default_route 10.200.187.129
set_link_up veth-42-s
set_master veth-42-s zl-dep-i0-web-b
read_sysctl net.ipv4.ip_forward
write_sysctl net.ipv4.ip_forward 1
write_sysctl net.ipv6.conf.veth-42-s.forwarding 1
write_sysctl net.ipv6.conf.zl-dep-i0-web-b.forwarding 1
# global side: no bridge, a host route through the veth
create_veth_pair veth-42-g vc-42-g
move_link vc-42-g c1 eth1
@c1 add_address eth1 10.200.0.2/24
@c1 set_link_up eth1
set_link_up veth-42-g
replace_route 10.200.0.2/32 veth-42-g 10.200.187.129
dump
# attaching the same container again: the default route exists
create_veth_pair veth-42-x vc-42-x
move_link vc-42-x c1 eth2
@c1 add_address eth2 10.200.187.131/26
@c1 add_default_route 10.200.187.129
delete_link veth-42-x
# detach (5.5) and teardown (5.7): routes, veths, bridges, sysctls
delete_link veth-42-s
delete_link veth-42-g
delete_link veth-42-s
bridge_member_count zl-dep-i0-web-b
delete_route 10.200.0.2/32 veth-42-g
write_sysctl net.ipv4.ip_forward 0
write_sysctl net.ipv6.conf.veth-42-s.forwarding 0
write_sysctl net.ipv6.conf.zl-dep-i0-web-b.forwarding 0
delete_link zl-dep-i0-web-b
)"},
    {"forwarding snapshot and restore", R"(
write_sysctl net.ipv4.ip_forward 1      # the host had it on already
create_bridge zl-f-b
create_veth_pair veth-9-s vc-9-s
create_veth_pair veth-9-g vc-9-g
enable_forwarding v4 veth-9-s zl-f-b
write_sysctl net.ipv4.ip_forward 0      # someone else turns it off
enable_forwarding v6 veth-9-s zl-f-b    # snapshot stays the first value
enable_forwarding v6 veth-9-g
enable_forwarding v6 nope0              # write fails: not remembered
dump
delete_link veth-9-g                    # gone before teardown
revert_forwarding
dump
revert_forwarding                       # nothing left to revert
write_sysctl net.ipv4.ip_forward 0
delete_link veth-9-s
delete_link zl-f-b
)"},
    {"drop-ins", R"(
mark_unmanaged
mark_unmanaged
dump
unmark_unmanaged
unmark_unmanaged
)"},
  };
}

} // namespace overlayd::drivers
