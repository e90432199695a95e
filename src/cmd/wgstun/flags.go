package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// flagSet is the part of the flag package the commands use, parsed the
// same way: -name value, -name=value, --name, a boolean alone or as
// -name=false, flags end at "--" or at the first argument that is not one,
// -h and -help print the usage. Errors and usage read as flag's do. A few
// lines of its own instead of the package keep about 29 KB out of the
// router build; TestFlagsMatchPackage compares the two.
type flagSet struct {
	name string
	out  io.Writer
	defs []*flagDef
	args []string
}

// value is a flag's value, as flag.Value.
type value interface {
	String() string
	Set(string) error
}

type flagDef struct {
	name, usage, def string
	v                value
	boolean          bool
}

func newFlagSet(name string) *flagSet { return &flagSet{name: name, out: io.Discard} }

func (f *flagSet) SetOutput(w io.Writer) { f.out = w }

type stringValue struct{ p *string }

func (s stringValue) String() string     { return *s.p }
func (s stringValue) Set(v string) error { *s.p = v; return nil }

type boolValue struct{ p *bool }

func (b boolValue) String() string { return strconv.FormatBool(*b.p) }
func (b boolValue) Set(v string) error {
	x, err := strconv.ParseBool(v)
	if err != nil {
		return errors.New("parse error")
	}
	*b.p = x
	return nil
}

func (f *flagSet) String(name, def, usage string) *string {
	p := new(string)
	*p = def
	f.defs = append(f.defs, &flagDef{name: name, usage: usage, def: def, v: stringValue{p}})
	return p
}

func (f *flagSet) Bool(name string, def bool, usage string) *bool {
	p := new(bool)
	*p = def
	f.defs = append(f.defs, &flagDef{name: name, usage: usage, def: strconv.FormatBool(def), v: boolValue{p}, boolean: true})
	return p
}

func (f *flagSet) Var(v value, name, usage string) {
	f.defs = append(f.defs, &flagDef{name: name, usage: usage, def: v.String(), v: v})
}

func (f *flagSet) NArg() int { return len(f.args) }

func (f *flagSet) Arg(i int) string {
	if i < 0 || i >= len(f.args) {
		return ""
	}
	return f.args[i]
}

var errHelp = errors.New("flag: help requested")

// Parse reads the flags at the start of args; the rest are the arguments.
func (f *flagSet) Parse(args []string) error {
	for len(args) > 0 {
		a := args[0]
		if len(a) < 2 || a[0] != '-' {
			break
		}
		args = args[1:]
		name := a[1:]
		if name[0] == '-' {
			name = name[1:]
			if name == "" { // "--" ends the flags
				break
			}
		}
		if name == "" || name[0] == '-' || name[0] == '=' {
			f.args = append([]string{a}, args...) // as flag leaves them
			return f.fail("bad flag syntax: %s", a)
		}
		f.args = args
		name, val, hasVal := strings.Cut(name, "=")
		d := f.lookup(name)
		if d == nil {
			if name == "h" || name == "help" {
				f.usage()
				return errHelp
			}
			return f.fail("flag provided but not defined: -%s", name)
		}
		switch {
		case d.boolean && !hasVal:
			val = "true"
		case !hasVal:
			if len(args) == 0 {
				return f.fail("flag needs an argument: -%s", name)
			}
			val, args = args[0], args[1:]
			f.args = args
		}
		if err := d.v.Set(val); err != nil {
			if d.boolean {
				return f.fail("invalid boolean value %q for -%s: %v", val, name, err)
			}
			return f.fail("invalid value %q for flag -%s: %v", val, name, err)
		}
	}
	f.args = args
	return nil
}

func (f *flagSet) lookup(name string) *flagDef {
	for _, d := range f.defs {
		if d.name == name {
			return d
		}
	}
	return nil
}

func (f *flagSet) fail(format string, a ...any) error {
	err := fmt.Errorf(format, a...)
	fmt.Fprintln(f.out, err)
	f.usage()
	return err
}

// usage prints the flags sorted by name as flag.PrintDefaults does.
func (f *flagSet) usage() {
	fmt.Fprintf(f.out, "Usage of %s:\n", f.name)
	defs := append([]*flagDef(nil), f.defs...)
	for i := 1; i < len(defs); i++ { // few flags: insertion sort
		for j := i; j > 0 && defs[j].name < defs[j-1].name; j-- {
			defs[j], defs[j-1] = defs[j-1], defs[j]
		}
	}
	for _, d := range defs {
		line := "  -" + d.name
		if !d.boolean {
			line += " " + typeName(d)
		}
		// Single-letter flags fit their usage on the same line.
		if len(line) <= 4 {
			line += "\t"
		} else {
			line += "\n    \t"
		}
		line += strings.ReplaceAll(d.usage, "\n", "\n    \t")
		switch {
		case d.boolean && d.def == "false", d.def == "":
		case d.boolean:
			line += " (default " + d.def + ")"
		default:
			if _, ok := d.v.(stringValue); ok {
				line += " (default " + strconv.Quote(d.def) + ")"
			} else {
				line += " (default " + d.def + ")"
			}
		}
		fmt.Fprintln(f.out, line)
	}
}

func typeName(d *flagDef) string {
	if _, ok := d.v.(stringValue); ok {
		return "string"
	}
	return "value"
}
