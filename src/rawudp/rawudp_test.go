package rawudp

import "testing"

// TestOnesComplementSum checks the sum against the worked example in RFC 1071
// section 3: the words 0001 f203 f4f5 f6f7 sum to 2ddf0, folded ddf2.
func TestOnesComplementSum(t *testing.T) {
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := fold(sumWords(0, b)); got != 0xddf2 {
		t.Errorf("sum = %#04x, want 0xddf2", got)
	}
	// Odd length: the last byte is padded with zero on the right.
	if got := fold(sumWords(0, b[:7])); got != 0xddf2-0xf7 {
		t.Errorf("odd sum = %#04x, want %#04x", got, 0xddf2-0xf7)
	}
}
