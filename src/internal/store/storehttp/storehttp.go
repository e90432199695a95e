// Package storehttp holds what the HTTP stores (cloudflare, opendht)
// share about their client. It is a package of its own so that only builds
// with those stores link net/http.
package storehttp

import (
	"fmt"
	"net/http"

	"github.com/wgstun/wgstun/src/internal/egress"
)

// Client returns the HTTP client a store starts with: it never follows a
// redirect (the request may carry an API token, and a store's server has
// no reason to send one elsewhere); a redirect is an error naming where it
// pointed.
// Its connections are opened through egress, out of a full tunnel.
func Client() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = egress.Dialer().DialContext
	return &http.Client{CheckRedirect: noRedirect, Transport: t}
}

func noRedirect(req *http.Request, _ []*http.Request) error {
	return fmt.Errorf("the server redirected to %s; redirects are not followed", req.URL.Redacted())
}
