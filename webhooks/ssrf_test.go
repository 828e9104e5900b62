package webhooks_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"

	"github.com/authsvc/authsvc/webhooks"
)

func TestIsPublic(t *testing.T) {
	for _, a := range []string{"0.0.0.0", "0.1.2.3", "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
		"100.64.0.1", "100.127.255.254", "192.0.0.8", "192.0.2.1", "198.18.0.1", "224.0.0.1", "255.255.255.255", "240.0.0.1",
		"::", "::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "fc00::1", "fd12::1", "fe80::1", "ff02::1",
		"64:ff9b::a00:1", "2002:a00:1::1", "2001:db8::1", "::127.0.0.1"} {
		if webhooks.IsPublic(netip.MustParseAddr(a)) {
			t.Errorf("%s is public", a)
		}
	}
	for _, a := range []string{"8.8.8.8", "93.184.215.14", "100.63.255.255", "100.128.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"} {
		if !webhooks.IsPublic(netip.MustParseAddr(a)) {
			t.Errorf("%s is not public", a)
		}
	}
}

func TestCheckURL(t *testing.T) {
	for _, u := range []string{"https://hooks.example.com/in", "https://hooks.example.com:8443/in?x=1", "https://8.8.8.8/"} {
		if err := webhooks.CheckURL(u, false); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, u := range []string{"http://hooks.example.com/", "/relative", "hooks.example.com", "https://user:pw@hooks.example.com/",
		"https:///path", "ftp://hooks.example.com", "https://127.0.0.1/", "https://[::1]/", "https://10.0.0.1/",
		"https://169.254.169.254/latest", "https://[::ffff:127.0.0.1]/", "https://localhost/", "https://0.0.0.0/", "mailto:a@b.c", "%zz"} {
		if err := webhooks.CheckURL(u, false); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8080/", "http://localhost/", "https://10.0.0.1/"} {
		if err := webhooks.CheckURL(u, true); err != nil {
			t.Errorf("allowPrivate %s: %v", u, err)
		}
	}
	if webhooks.CheckURL("https://u@10.0.0.1/", true) == nil || webhooks.CheckURL("ftp://10.0.0.1/", true) == nil {
		t.Error("allowPrivate lets user information or other schemes through")
	}
}

// TestClientRefusesAtDial: the client's dialer refuses a loopback address
// however the name got there; allowed, it follows no redirect.
func TestClientRefusesAtDial(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.1:1/", http.StatusFound)
	}))
	defer srv.Close()
	port := strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
	toLoopback := func(context.Context, string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	c := webhooks.NewClient(false, toLoopback)
	for _, host := range []string{"localtest.me", "127.0.0.1", "::ffff:127.0.0.1"} {
		req, _ := http.NewRequest("POST", "https://"+net.JoinHostPort(host, port)+"/", nil)
		_, err := c.Do(req)
		if !errors.Is(err, webhooks.ErrPrivateAddress) {
			t.Errorf("%s: %v, want ErrPrivateAddress", host, err)
		}
	}
	req, _ := http.NewRequest("POST", "http://localtest.me:"+port+"/", nil)
	if _, err := c.Do(req); err == nil || errors.Is(err, webhooks.ErrPrivateAddress) {
		t.Errorf("http: %v, want the https refusal", err)
	}
	c = webhooks.NewClient(true, toLoopback)
	req, _ = http.NewRequest("POST", "http://localtest.me:"+port+"/", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Errorf("status %d, want the 302 itself", resp.StatusCode)
	}
}
