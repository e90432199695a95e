package natcheck

import "strings"

// Mapping is a NAT's mapping behaviour (RFC 4787 §4.1): how the public
// address and port of one local address and port depend on the destination.
type Mapping uint8

// Mapping behaviours. The zero Mapping is unknown.
const (
	MappingUnknown Mapping = iota
	// NoNAT: the server saw the local address and port themselves.
	NoNAT
	// EndpointIndependent: one public mapping for every destination (the
	// cone NATs).
	EndpointIndependent
	// AddressDependent: a new mapping per destination address.
	AddressDependent
	// AddressAndPortDependent: a new mapping per destination address and
	// port.
	AddressAndPortDependent
	// Dependent: not endpoint-independent, but which of the two is not
	// known (two servers at different addresses saw different mappings,
	// or a record's legacy "symmetric" hint).
	Dependent
)

// Filtering is a NAT's filtering behaviour (RFC 4787 §5): which senders
// may reach a mapping once the host has sent from it.
type Filtering uint8

// Filtering behaviours. The zero Filtering is unknown.
const (
	FilteringUnknown Filtering = iota
	// FilterNone: anybody may send to the mapping (full cone).
	FilterNone
	// FilterAddress: only addresses the host has sent to (restricted cone).
	FilterAddress
	// FilterAddressAndPort: only address and port pairs the host has sent
	// to (port-restricted cone, and most symmetric NATs).
	FilterAddressAndPort
)

// Class is what is known about one side's NAT.
type Class struct {
	Mapping   Mapping
	Filtering Filtering
}

// symmetric reports a mapping that changes with the destination.
func (m Mapping) symmetric() bool {
	return m == AddressDependent || m == AddressAndPortDependent || m == Dependent
}

// String names the mapping behaviour in RFC 4787's words.
func (m Mapping) String() string {
	switch m {
	case NoNAT:
		return "none (no NAT)"
	case EndpointIndependent:
		return "endpoint-independent"
	case AddressDependent:
		return "address-dependent"
	case AddressAndPortDependent:
		return "address-and-port-dependent"
	case Dependent:
		return "address-dependent or address-and-port-dependent"
	}
	return "unknown"
}

// String names the filtering behaviour in RFC 4787's words.
func (f Filtering) String() string {
	switch f {
	case FilterNone:
		return "endpoint-independent"
	case FilterAddress:
		return "address-dependent"
	case FilterAddressAndPort:
		return "address-and-port-dependent"
	}
	return "unknown"
}

// Classic is RFC 3489's name for the class: full cone, restricted cone,
// port-restricted cone, symmetric; "cone" when the mapping is
// endpoint-independent but the filtering is unknown; "no NAT" or
// "no NAT, firewalled"; "unknown".
func (c Class) Classic() string {
	switch {
	case c.Mapping == NoNAT && c.Filtering == FilterNone:
		return "no NAT"
	case c.Mapping == NoNAT && c.Filtering == FilteringUnknown:
		return "no NAT (filtering unknown)"
	case c.Mapping == NoNAT:
		return "no NAT, firewalled"
	case c.Mapping.symmetric():
		return "symmetric"
	case c.Mapping != EndpointIndependent:
		return "unknown"
	}
	switch c.Filtering {
	case FilterNone:
		return "full cone"
	case FilterAddress:
		return "restricted cone"
	case FilterAddressAndPort:
		return "port-restricted cone"
	}
	return "cone"
}

// Hint is the class as a record's nat field carries it (see ParseHint):
// "cone" or "symmetric" when the filtering is unknown, as older wgstun
// versions wrote, otherwise MAPPING+FILTERING in RFC 4787's initials, for
// example "eim+apdf". The unknown class is "".
func (c Class) Hint() string {
	var m string
	switch c.Mapping {
	case NoNAT:
		m = "none"
	case EndpointIndependent:
		m = "eim"
		if c.Filtering == FilteringUnknown {
			return "cone"
		}
	case AddressDependent:
		m = "adm"
	case AddressAndPortDependent:
		m = "apdm"
	case Dependent:
		m = "symmetric"
	default:
		return ""
	}
	switch c.Filtering {
	case FilterNone:
		return m + "+eif"
	case FilterAddress:
		return m + "+adf"
	case FilterAddressAndPort:
		return m + "+apdf"
	}
	return m
}

// ParseHint reads a record's nat field. Values (case-insensitive):
//
//	cone        endpoint-independent mapping, filtering unknown (older wgstun)
//	symmetric   mapping depends on the destination, filtering unknown (older wgstun)
//	MAP[+FILT]  MAP one of none, eim, adm, apdm, symmetric (or cone, as eim);
//	            FILT one of eif, adf, apdf
//	full-cone, restricted-cone, port-restricted-cone
//
// Anything else is the unknown class: a hint is advice, never an error.
func ParseHint(s string) Class {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "full-cone":
		return Class{EndpointIndependent, FilterNone}
	case "restricted-cone":
		return Class{EndpointIndependent, FilterAddress}
	case "port-restricted-cone":
		return Class{EndpointIndependent, FilterAddressAndPort}
	}
	ms, fs, hasF := strings.Cut(s, "+")
	var c Class
	switch ms {
	case "none":
		c.Mapping = NoNAT
	case "cone", "eim":
		c.Mapping = EndpointIndependent
	case "adm":
		c.Mapping = AddressDependent
	case "apdm":
		c.Mapping = AddressAndPortDependent
	case "symmetric":
		c.Mapping = Dependent
	default:
		return Class{}
	}
	if !hasF {
		return c
	}
	switch fs {
	case "eif":
		c.Filtering = FilterNone
	case "adf":
		c.Filtering = FilterAddress
	case "apdf":
		c.Filtering = FilterAddressAndPort
	default:
		return Class{}
	}
	return c
}

// Verdict says whether a direct path can exist between two NATs.
type Verdict uint8

// Verdicts of Direct.
const (
	Maybe Verdict = iota // it depends on what is not known
	Yes
	No
)

// String is "maybe", "yes" or "no".
func (v Verdict) String() string {
	switch v {
	case Yes:
		return "yes"
	case No:
		return "no"
	}
	return "maybe"
}

// mappings and filterings a partly known value may stand for.
func (m Mapping) cases() []Mapping {
	switch m {
	case MappingUnknown:
		return []Mapping{EndpointIndependent, AddressDependent, AddressAndPortDependent}
	case Dependent:
		return []Mapping{AddressDependent, AddressAndPortDependent}
	case NoNAT:
		return []Mapping{EndpointIndependent} // a public address maps to itself
	}
	return []Mapping{m}
}

func (f Filtering) cases() []Filtering {
	if f == FilteringUnknown {
		return []Filtering{FilterNone, FilterAddress, FilterAddressAndPort}
	}
	return []Filtering{f}
}

// reaches reports whether x's first packet to y's published mapping (the
// one y's STUN server saw) gets through y's NAT, when y has sent to x's
// published mapping too. The packet comes from x's mapping toward y, which
// is x's published one only if x's mapping is endpoint-independent. y's
// published mapping accepts it if y filters nothing; or if y's mapping is
// endpoint-independent (so y's packets to x left from the same mapping)
// and y filters by address (x's address is the one y sent to) or by
// address and port with x's port unchanged. Once the first packet is
// through, the answer goes back over the flow it opened, which x's NAT
// expects, so one direction suffices.
func reaches(xm Mapping, yf Filtering, ym Mapping) bool {
	switch {
	case yf == FilterNone:
		return true
	case ym != EndpointIndependent:
		return false
	case yf == FilterAddress:
		return true
	}
	return xm == EndpointIndependent
}

// Direct says whether two WireGuard peers behind NATs of classes a and b,
// each sending to the mapping the other published, can reach each other
// without help: Yes or No when that holds whatever the unknown parts are,
// Maybe otherwise. An address-dependent mapping counts as changing the
// port, as such NATs do.
func Direct(a, b Class) Verdict {
	yes, no := false, false
	for _, am := range a.Mapping.cases() {
		for _, af := range a.Filtering.cases() {
			for _, bm := range b.Mapping.cases() {
				for _, bf := range b.Filtering.cases() {
					if reaches(am, bf, bm) || reaches(bm, af, am) {
						yes = true
					} else {
						no = true
					}
				}
			}
		}
	}
	switch {
	case yes && !no:
		return Yes
	case no && !yes:
		return No
	}
	return Maybe
}

// Help is what a pair that cannot connect directly can do.
const Help = "enable port_mapping on either gateway or use a relay"

// Explain says in words why a direct path between this side (ours) and the
// peer (theirs) is impossible; "" unless Direct(ours, theirs) is No. The
// words follow the three ways both directions can fail: both sides
// symmetric and filtering; this side symmetric and the peer filtering by
// address and port; or the other way round.
func Explain(ours, theirs Class) string {
	if Direct(ours, theirs) != No {
		return ""
	}
	const prefix = "no direct path: "
	oursSym := ours.Mapping.symmetric()
	theirsSym := theirs.Mapping.symmetric()
	switch {
	case oursSym && theirsSym:
		return prefix + "both NATs are symmetric (" + mappingWords(ours.Mapping, theirs.Mapping) +
			") and neither accepts packets from senders it has not sent to; " + Help
	case oursSym:
		return prefix + "this side is symmetric (" + ours.Mapping.String() + " mapping) and the peer filters by " +
			filterWords(theirs.Filtering) + "; " + Help
	case theirsSym:
		return prefix + "the peer is symmetric (" + theirs.Mapping.String() + " mapping) and this side filters by " +
			filterWords(ours.Filtering) + "; " + Help
	}
	// Direct found no mapping that changes ports, so it cannot say No.
	return prefix + "the two NATs cannot be traversed directly; " + Help
}

func mappingWords(a, b Mapping) string {
	if a == b {
		return "each maps every destination to a new port: " + a.String() + " mapping"
	}
	return "each maps every destination to a new port: " + a.String() + " mapping here, " + b.String() + " at the peer"
}

func filterWords(f Filtering) string {
	switch f {
	case FilterAddress:
		return "address"
	case FilterAddressAndPort:
		return "address and port"
	}
	return "sender" // not reached for No verdicts
}

// Meaning says in one sentence what the class means for reaching peers.
func (c Class) Meaning() string {
	pm := " Port mapping (NAT-PMP/PCP) on the gateway or a relay is the way around that."
	switch {
	case c.Mapping == MappingUnknown:
		return "The NAT's behaviour could not be determined, so wgstun cannot predict which peers it can reach directly."
	case c.Filtering == FilterNone || c.Mapping == NoNAT && c.Filtering == FilteringUnknown:
		return "Peers behind any NAT, even symmetric ones, can reach this host directly."
	case c.Mapping == NoNAT:
		return "There is no NAT but a firewall filters; peers reach this host once it has sent to them, which wgstun does."
	case c.Mapping == EndpointIndependent && c.Filtering == FilterAddress:
		return "Peers behind any NAT, even symmetric ones, can reach this host directly (the peer's address is let in once this host sent to it)."
	case c.Mapping == EndpointIndependent && c.Filtering == FilterAddressAndPort:
		return "Peers behind cone NATs connect directly; a peer behind a symmetric NAT cannot, because its packets come from a port this NAT has not seen." + pm
	case c.Mapping == EndpointIndependent:
		return "Peers behind cone NATs connect directly; whether symmetric ones can depends on the filtering, which could not be tested (no server offers OTHER-ADDRESS)."
	case c.Filtering == FilteringUnknown:
		return "This NAT uses a new port for every destination, so unless it lets in packets from anyone (not testable without OTHER-ADDRESS) only peers behind full or restricted cone NATs can connect directly." + pm
	}
	return "This NAT uses a new port for every destination and filters, so only peers behind full or restricted cone NATs (or none) can connect directly; symmetric and port-restricted cone peers cannot." + pm
}
