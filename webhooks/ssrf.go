package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrPrivateAddress is the refusal to connect to an address that is not public.
var ErrPrivateAddress = errors.New("webhooks: address is not public")

// notPublic are the ranges, beyond what netip.Addr's predicates name, that
// are not the public internet (or embed an address that may not be).
var notPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("192.88.99.0/24"),  // 6to4 relay anycast
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and the broadcast address
	netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated), :: and ::1
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: may embed a private IPv4
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("100::/64"),        // discard
	netip.MustParsePrefix("2001::/23"),       // IETF protocol assignments (Teredo among them)
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("2002::/16"),       // 6to4: may embed a private IPv4
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated)
}

// IsPublic tells whether a is a public unicast address: not loopback,
// private, unique-local, link-local, CGNAT, unspecified, multicast, reserved,
// documentation or an IPv4-mapped form of one of those.
func IsPublic(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsUnspecified() || a.IsLoopback() || a.IsPrivate() ||
		a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() || a.IsMulticast() {
		return false
	}
	for _, p := range notPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// CheckURL validates a webhook's target URL: absolute, https (http too when
// allowPrivate), without user information, with a host; a literal IP address
// that is not public is refused at once unless allowPrivate. A name is only
// checked when dialled (NewClient), on the address it then resolves to.
func CheckURL(raw string, allowPrivate bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a valid URL")
	}
	switch {
	case !u.IsAbs() || u.Opaque != "":
		return errors.New("must be an absolute URL")
	case u.Scheme != "https" && !(allowPrivate && u.Scheme == "http"):
		if allowPrivate {
			return errors.New("must be an http or https URL")
		}
		return errors.New("must be an https URL")
	case u.User != nil:
		return errors.New("must not hold user information")
	case u.Hostname() == "":
		return errors.New("must have a host")
	}
	if allowPrivate {
		return nil
	}
	host := strings.TrimSuffix(u.Hostname(), ".")
	if a, err := netip.ParseAddr(host); err == nil && !IsPublic(a) {
		return errors.New("must not point to a private, loopback or reserved address")
	}
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return errors.New("must not point to a private, loopback or reserved address")
	}
	return nil
}

// Resolver looks up a host's addresses; nil is the system's resolver.
type Resolver func(ctx context.Context, host string) ([]netip.Addr, error)

// guard dials only public addresses unless allowPrivate: the check is in the
// dialer's Control, on the address being connected to, after any lookup, so
// a name that resolved to a public address when it was checked and to a
// private one now (DNS rebinding) is refused.
type guard struct {
	allowPrivate bool
	resolve      Resolver
	dialer       *net.Dialer
}

func newGuard(allowPrivate bool, resolve Resolver) *guard {
	g := &guard{allowPrivate: allowPrivate, resolve: resolve}
	g.dialer = &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: g.control}
	return g
}

// control refuses a connection to an address that is not public.
func (g *guard) control(network, address string, _ syscall.RawConn) error {
	if g.allowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrPrivateAddress, address)
	}
	if !IsPublic(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrPrivateAddress, ap.Addr().Unmap())
	}
	return nil
}

func (g *guard) dialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if g.resolve == nil {
		return g.dialer.DialContext(ctx, network, address) // control checks what it dials
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else if addrs, err = g.resolve(ctx, host); err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("webhooks: no address for %s", host)
	}
	var errs []error
	for _, a := range addrs {
		c, err := g.dialer.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// schemeGuard refuses plain http unless private targets are allowed.
type schemeGuard struct {
	allowPrivate bool
	next         http.RoundTripper
}

func (s schemeGuard) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "https" && !s.allowPrivate {
		return nil, errors.New("webhooks: the URL must be https")
	}
	return s.next.RoundTrip(r)
}

// NewClient is the HTTP client deliveries go through: only public addresses
// and https unless allowPrivate (checked on the address dialled), no proxy,
// no redirect followed (a 3xx is a failed attempt). resolve replaces the
// system's resolver (tests); nil keeps it. Timeouts are the caller's context's.
func NewClient(allowPrivate bool, resolve Resolver) *http.Client {
	g := newGuard(allowPrivate, resolve)
	t := &http.Transport{
		Proxy:                 nil, // a proxy would dial for us, past the guard
		DialContext:           g.dialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          50,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport:     schemeGuard{allowPrivate: allowPrivate, next: t},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
