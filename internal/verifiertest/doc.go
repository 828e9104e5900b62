// Package verifiertest holds no code, only tests: they run the verifier module
// (github.com/authsvc/authsvc/verifier) against the real service, on its real
// router and database, and check that what the server publishes (JWKS, key
// rotation, the paged and signed revocation feed, every path that ends a
// session) is what the verifier reads. The verifier's own unit tests, against
// a stand-in JWKS and feed, live in its module: cd verifier && go test ./...
package verifiertest
