package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/wgstun/wgstun/src/internal/jsonwire"
)

// Exec is a store behind an external program speaking stunmesh-go's exec
// plugin protocol: one process per call, one JSON request line on stdin,
// one JSON reply object at the start of stdout.
//
//	stdin:  {"action":"get","key":"<40 hex>"}
//	        {"action":"set","key":"<40 hex>","value":"<hex>"}
//	stdout: {"success":true,"value":"<hex>"} or {"success":false,"error":"..."}
//
// A call fails on a non-zero exit status or success false. A get with
// success true and no (or an empty) value is ErrNotFound.
type Exec struct {
	p plugin
}

// NewExec returns an exec plugin store running command with args.
func NewExec(command string, args []string, o PluginOptions) *Exec {
	return &Exec{p: newPlugin("exec", command, args, o)}
}

// String names the store for logs.
func (e *Exec) String() string { return e.p.String() }

// execRequest is the request line: {"action":..,"key":..,"value":..},
// value left out when empty.
type execRequest struct {
	Action string
	Key    string
	Value  string
}

func (r execRequest) appendJSON(b []byte) []byte {
	j := jsonwire.NewWriter(b, "")
	j.BeginObject()
	j.Key("action")
	j.String(r.Action)
	j.Key("key")
	j.String(r.Key)
	if r.Value != "" {
		j.Key("value")
		j.String(r.Value)
	}
	j.EndObject()
	return j.Bytes()
}

// Get asks the plugin for the value under key.
func (e *Exec) Get(ctx context.Context, key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", fmt.Errorf("store: exec plugin get: %w", err)
	}
	reply, err := e.call(ctx, execRequest{Action: "get", Key: key})
	if err != nil {
		return "", err
	}
	v := strings.TrimSpace(reply.Value)
	if v == "" {
		return "", e.p.errorf("get", "%s: %w", key, ErrNotFound)
	}
	return v, nil
}

// Set asks the plugin to store value (hex) under key.
func (e *Exec) Set(ctx context.Context, key, value string) error {
	if err := CheckKey(key); err != nil {
		return fmt.Errorf("store: exec plugin set: %w", err)
	}
	if !IsHex(value) {
		return fmt.Errorf("store: exec plugin set %s: %w: not a non-empty hex string", key, ErrInvalidValue)
	}
	_, err := e.call(ctx, execRequest{Action: "set", Key: key, Value: value})
	return err
}

func (e *Exec) call(ctx context.Context, req execRequest) (execReply, error) {
	line := append(req.appendJSON(nil), '\n')
	out, err := e.p.run(ctx, req.Action, req.Key, line, req.Value)
	if err != nil {
		return execReply{}, err
	}
	reply, err := parseExecOutput(out)
	if err != nil {
		return execReply{}, e.p.errorf(req.Action, "%w", err)
	}
	if !reply.Success {
		msg := redact(strings.TrimSpace(reply.Error), []string{req.Value})
		if msg == "" {
			msg = "no error text"
		}
		return execReply{}, e.p.errorf(req.Action, "plugin reported failure: %s", truncate(msg, errorExcerpt))
	}
	return reply, nil
}

// execReply is the plugin's reply object: "success", "value", "error".
type execReply struct {
	Success bool
	Value   string
	Error   string
}

var replyNames = []string{"success", "value", "error"}

// parseExecOutput decodes the reply at the start of an exec plugin's
// stdout: after optional whitespace, one JSON object; anything after it is
// ignored, as stunmesh-go does. A missing success field counts as false.
func parseExecOutput(out []byte) (execReply, error) {
	if len(bytes.Trim(out, " \t\r\n")) == 0 {
		return execReply{}, errors.New("plugin wrote no output, want a JSON object")
	}
	v, _, err := jsonwire.First(out)
	if err != nil {
		return execReply{}, fmt.Errorf("plugin output is not JSON: %v", err)
	}
	if v.Kind() != jsonwire.Object {
		return execReply{}, errors.New("plugin output does not begin with a JSON object")
	}
	// As encoding/json into a struct: names match ignoring case, a later
	// duplicate wins, null leaves a field as it was, other types fail.
	var r execReply
	err = v.Members(replyNames, func(i int, m jsonwire.Value) error {
		if m.Kind() == jsonwire.Null {
			return nil
		}
		var err error
		switch i {
		case 0:
			r.Success, err = m.Bool()
		case 1:
			r.Value, err = m.Str()
		case 2:
			r.Error, err = m.Str()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", replyNames[i], err)
		}
		return nil
	})
	if err != nil {
		return execReply{}, fmt.Errorf("plugin output object: %v", err)
	}
	return r, nil
}
