package main

import (
	"flag"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestFlagsMatchPackage: flagSet parses, fails and prints usage exactly as
// the flag package does, for the kinds of flag the commands define.
func TestFlagsMatchPackage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-c", "/etc/x.toml"},
		{"-c=/etc/x.toml", "-json"},
		{"--c", "a", "--json=false", "rest", "-json"},
		{"-s", "a:1", "-s=b:2", "-6", "-i", "wg0"},
		{"-json=maybe"},
		{"-json", "--", "-c", "x"},
		{"-", "-c", "x"},
		{"-c"},
		{"-nope"},
		{"---c", "x"},
		{"-=x"},
		{"-h"},
		{"-help"},
		{"--help"},
		{"-6=true", "-c", ""},
	} {
		var std, own strings.Builder
		fs := flag.NewFlagSet("wgstun test", flag.ContinueOnError)
		fs.SetOutput(&std)
		c1 := fs.String("c", "", "configuration file (default /etc/wgstun/wgstun.toml)")
		d1 := fs.String("i", "def", "an interface")
		var s1 serverFlags
		fs.Var(&s1, "s", "STUN server host:port (repeatable)")
		b1 := fs.Bool("6", false, "IPv6")
		j1 := fs.Bool("json", false, "print JSON")
		t1 := fs.Bool("yes", true, "a boolean that is on")
		err1 := fs.Parse(args)

		ff := newFlagSet("wgstun test")
		ff.SetOutput(&own)
		c2 := ff.String("c", "", "configuration file (default /etc/wgstun/wgstun.toml)")
		d2 := ff.String("i", "def", "an interface")
		var s2 serverFlags
		ff.Var(&s2, "s", "STUN server host:port (repeatable)")
		b2 := ff.Bool("6", false, "IPv6")
		j2 := ff.Bool("json", false, "print JSON")
		t2 := ff.Bool("yes", true, "a boolean that is on")
		err2 := ff.Parse(args)

		got := fmt.Sprintf("%q %q %q %v %v %v err=%v rest=%q", *c2, *d2, []string(s2), *b2, *j2, *t2, err2, restOf(ff.NArg(), ff.Arg))
		want := fmt.Sprintf("%q %q %q %v %v %v err=%v rest=%q", *c1, *d1, []string(s1), *b1, *j1, *t1, err1, fs.Args())
		if err1 == flag.ErrHelp {
			want = strings.Replace(want, "err="+flag.ErrHelp.Error(), "err="+errHelp.Error(), 1)
		}
		if got != want {
			t.Errorf("%q:\n got %s\nwant %s", args, got, want)
		}
		if own.String() != std.String() {
			t.Errorf("%q: output\n%s\nflag's:\n%s", args, own.String(), std.String())
		}
	}
}

func restOf(n int, arg func(int) string) []string {
	out := []string{}
	for i := range n {
		out = append(out, arg(i))
	}
	return slices.Clip(out)
}
