// Package stun finds the public address of a UDP port that wgstun does not
// own. It has two parts. The codec is a few pure functions over []byte:
// AppendBindingRequest and AppendBindingIndication build the only messages
// wgstun sends (a Binding request, optionally with an RFC 5780
// CHANGE-REQUEST, and a Binding indication used as a hole punch towards a
// peer), each ending in a FINGERPRINT; ParseResponse reads a Binding success
// or error response (RFC 8489), bounds-checking every read, verifying the
// FINGERPRINT when present, and returning the XOR-MAPPED-ADDRESS (or
// MAPPED-ADDRESS), OTHER-ADDRESS and RESPONSE-ORIGIN as netip.AddrPort. The
// Client runs transactions over a Conn that belongs to somebody else (the raw
// socket path on WireGuard's listen port): one read loop matches responses
// to outstanding requests by transaction ID and by source address, Binding
// retransmits on a short RFC 8489 §6.2.1 schedule (250 ms doubling, 4
// transmissions, 3 s in all), Discover fails over across a server list, and
// Exchange runs one RFC 5780 test (a request with CHANGE-REQUEST, whose
// answer comes from the server's other address or port) and returns the
// whole response with its source.
// The Client never closes the Conn and never sends anything but requests;
// callers write hole-punch indications to the Conn themselves.
//
// This package is public, one of the few of wgstun's (with record, rawudp,
// linuxraw and bsdbpf): another program can import the codec and the Client.
// The rest of the daemon lives under src/internal.
package stun
