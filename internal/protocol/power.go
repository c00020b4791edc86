package protocol

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Power: the hub wakes PCs with Wake-on-LAN through an awake PC on the same
// subnet (the relay), from the network interfaces each PC reports in its
// status; a router does not pass the broadcast, so the hub itself cannot.

// MaxNICs bounds the interfaces a status reports.
const MaxNICs = 8

// NIC is one of a PC's network interfaces, for waking it: its MAC and its
// IPv4 address with prefix (CIDR form, e.g. 192.168.10.23/24).
type NIC struct {
	MAC  string `json:"mac"`
	CIDR string `json:"cidr"`
}

// Subnet is the NIC's network (e.g. 192.168.10.0/24).
func (n NIC) Subnet() (netip.Prefix, error) {
	p, err := netip.ParsePrefix(n.CIDR)
	if err != nil {
		return netip.Prefix{}, err
	}
	return p.Masked(), nil
}

func (n NIC) validate(t Type, field string) error {
	if _, err := ParseMAC(n.MAC); err != nil {
		return &FieldError{t, field + ".mac", err.Error()}
	}
	p, err := netip.ParsePrefix(n.CIDR)
	if err != nil || !p.Addr().Is4() {
		return &FieldError{t, field + ".cidr", "is not an IPv4 address with a prefix"}
	}
	return nil
}

// ParseMAC reads a 48-bit MAC address (aa:bb:cc:dd:ee:ff or with dashes) and
// returns it in lower case with colons.
func ParseMAC(s string) (string, error) {
	if len(s) > 17 {
		return "", fmt.Errorf("is not a MAC address")
	}
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return "", fmt.Errorf("is not a 48-bit MAC address")
	}
	return hw.String(), nil
}

// Arguments of ActionWake, sent to the relay PC.
const (
	// ArgMACs lists the MACs to wake, comma-separated (at most MaxWake).
	ArgMACs = "macs"
	// ArgSubnet is the subnet (CIDR) they are on: the relay sends to its
	// broadcast address from its own interface in it.
	ArgSubnet = "subnet"
)

// MaxWake bounds the PCs one wake command names.
const MaxWake = 256

// ParseWakeArgs reads ActionWake's arguments.
func ParseWakeArgs(args map[string]string) (macs []string, subnet netip.Prefix, err error) {
	subnet, err = netip.ParsePrefix(args[ArgSubnet])
	if err != nil || !subnet.Addr().Is4() {
		return nil, subnet, fmt.Errorf("%s %q is not an IPv4 subnet", ArgSubnet, Clip(args[ArgSubnet], 40))
	}
	parts := strings.Split(args[ArgMACs], ",")
	if len(parts) > MaxWake {
		return nil, subnet, fmt.Errorf("%s names %d PCs, more than %d", ArgMACs, len(parts), MaxWake)
	}
	for _, p := range parts {
		m, err := ParseMAC(strings.TrimSpace(p))
		if err != nil {
			return nil, subnet, fmt.Errorf("%s: %q %v", ArgMACs, Clip(p, 20), err)
		}
		macs = append(macs, m)
	}
	return macs, subnet.Masked(), nil
}

// WakeResult says what waking one PC did.
type WakeResult struct {
	Terminal string `json:"terminal"`
	Name     string `json:"name"`
	Subnet   string `json:"subnet,omitempty"`
	Relay    string `json:"relay,omitempty"` // the name of the PC that sent the packets
	// Outcome is "sent", "already on", "no MAC known", "no PC awake on the subnet", or
	// "failed: ..." (every relay tried failed).
	Outcome string `json:"outcome"`
}

// Wake outcomes.
const (
	WakeSent      = "sent"
	WakeAlreadyOn = "already on"
	WakeNoMAC     = "no MAC known (the PC has not reported its network since an upgrade)"
	WakeNoRelay   = "no PC awake on the subnet"
)

// WakeArgs is the body of POST PathControlWake and of the staff op power.wake:
// the terminals (IDs or names) to wake.
type WakeArgs struct {
	Terminals []string `json:"terminals"`
}

// WakeResponse answers it.
type WakeResponse struct {
	Results []WakeResult `json:"results,omitempty"`
	Error   string       `json:"error,omitempty"`
}
