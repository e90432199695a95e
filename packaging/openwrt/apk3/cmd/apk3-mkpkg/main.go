// Command apk3-mkpkg writes an unsigned apk v3 package from a staged tree, taking the
// options of `apk mkpkg` that OpenWrt's include/package-pack.mk passes:
//
//	apk3-mkpkg --info name:wgstun --info version:1.2.3-r1 --info arch:mipsel_24kc \
//	  [--info description:... license:... origin:... url:... maintainer:... depends:"a b" provides:...] \
//	  [--script post-install:FILE ...] --files DIR --output FILE.apk
//
// File mtimes are SOURCE_DATE_EPOCH (0 when unset); owners are root:root.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/wgstun/wgstun/packaging/openwrt/apk3"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "apk3-mkpkg:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fl := flag.NewFlagSet("apk3-mkpkg", flag.ContinueOnError)
	var infos, scripts multi
	fl.Var(&infos, "info", "KEY:VALUE package info field (repeatable)")
	fl.Var(&scripts, "script", "TYPE:FILE script (repeatable)")
	files := fl.String("files", "", "staged tree")
	output := fl.String("output", "", "the .apk to write")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 || *files == "" || *output == "" {
		return errors.New("usage: apk3-mkpkg --info KEY:VALUE... [--script TYPE:FILE...] --files DIR --output FILE")
	}
	var mtime int64
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		var err error
		if mtime, err = strconv.ParseInt(s, 10, 64); err != nil || mtime < 0 {
			return fmt.Errorf("SOURCE_DATE_EPOCH %q: want seconds since the epoch", s)
		}
	}

	p := apk3.Package{Scripts: map[string][]byte{}}
	for _, kv := range infos {
		k, v, ok := strings.Cut(kv, ":")
		if !ok {
			return fmt.Errorf("--info %q: want KEY:VALUE", kv)
		}
		switch k {
		case "name":
			p.Info.Name = v
		case "version":
			p.Info.Version = v
		case "arch":
			p.Info.Arch = v
		case "description":
			p.Info.Description = v
		case "license":
			p.Info.License = v
		case "origin":
			p.Info.Origin = v
		case "url":
			p.Info.URL = v
		case "maintainer":
			p.Info.Maintainer = v
		case "depends":
			p.Info.Depends = strings.Fields(v)
		case "provides":
			p.Info.Provides = strings.Fields(v)
		default:
			return fmt.Errorf("--info %q: unknown field %q (supported: name version arch description license origin url maintainer depends provides)", kv, k)
		}
	}
	for _, kv := range scripts {
		k, path, ok := strings.Cut(kv, ":")
		if !ok {
			return fmt.Errorf("--script %q: want TYPE:FILE", kv)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("--script %s: %w", k, err)
		}
		p.Scripts[k] = b
	}
	es, err := apk3.ReadTree(*files, mtime)
	if err != nil {
		return err
	}
	p.Entries = es
	b, err := p.Bytes()
	if err != nil {
		return err
	}
	tmp := *output + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, *output)
}
