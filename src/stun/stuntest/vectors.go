package stuntest

import (
	"encoding/hex"
	"strings"
)

// RFC 5769 (Test Vectors for STUN), transcribed from the RFC's hex dumps.
// Each function returns a fresh copy, so a test may modify it.
//
// The request (§2.1) carries SOFTWARE, PRIORITY, ICE-CONTROLLED, USERNAME,
// MESSAGE-INTEGRITY and FINGERPRINT; the responses (§2.2 IPv4, §2.3 IPv6)
// carry SOFTWARE "test vector", XOR-MAPPED-ADDRESS 192.0.2.1:32853 or
// [2001:db8:1234:5678:11:2233:4455:6677]:32853, MESSAGE-INTEGRITY and
// FINGERPRINT. All three share the transaction ID RFC5769TxID.
var RFC5769TxID = [12]byte{0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae}

// RFC5769Request returns the §2.1 sample request.
func RFC5769Request() []byte {
	return fromHex(`
		0001 0058 2112a442 b7e7a701 bc34d686 fa87dfae
		8022 0010 5354554e 20746573 7420636c 69656e74
		0024 0004 6e0001ff
		8029 0008 932ff9b1 51263b36
		0006 0009 6576746a 3a683676 59202020
		0008 0014 9aeaa70c bfd8cb56 781ef2b5 b2d3f249 c1b571a2
		8028 0004 e57a3bcf`)
}

// RFC5769IPv4Response returns the §2.2 sample response.
func RFC5769IPv4Response() []byte {
	return fromHex(`
		0101 003c 2112a442 b7e7a701 bc34d686 fa87dfae
		8022 000b 74657374 20766563 746f7220
		0020 0008 0001a147 e112a643
		0008 0014 2b91f599 fd9e90c3 8c7489f9 2af9ba53 f06be7d7
		8028 0004 c07d4c96`)
}

// RFC5769IPv6Response returns the §2.3 sample response.
func RFC5769IPv6Response() []byte {
	return fromHex(`
		0101 0048 2112a442 b7e7a701 bc34d686 fa87dfae
		8022 000b 74657374 20766563 746f7220
		0020 0014 0002a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9
		0008 0014 a382954e 4be67bf1 1784c97c 8292c275 bfe3ed41
		8028 0004 c8fb0b4c`)
}

// fromHex decodes a hex dump with spaces and newlines; the dumps above are
// constants, so a bad one is a programming error.
func fromHex(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic("stuntest: bad hex dump: " + err.Error())
	}
	return b
}
