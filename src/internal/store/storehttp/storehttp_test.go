package storehttp

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestNoRedirect: a redirect fails the request, and the place it points
// to is never asked (with the token or without).
func TestNoRedirect(t *testing.T) {
	var hits atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer elsewhere.Close()
	for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere.URL+"/steal", code)
		}))
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer secret-token")
		resp, err := Client().Do(req)
		if err == nil {
			resp.Body.Close()
			t.Errorf("%d: followed or accepted", code)
		} else if !strings.Contains(err.Error(), "redirected to "+elsewhere.URL+"/steal; redirects are not followed") {
			t.Errorf("%d: error %v", code, err)
		}
		srv.Close()
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the redirect target was asked %d times", n)
	}
}
