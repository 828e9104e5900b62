package cluster

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
)

// BenchmarkMe measures GET /v1/me through one instance and round-robin through
// three, on the same machine, with the same clients and token:
//
//	go test -run '^$' -bench . -benchtime 5s ./cluster/
//
// On one machine the instances share its cores with each other, PostgreSQL and
// the load itself, so three instances show what running several costs there,
// not what three machines would give.
func BenchmarkMe(b *testing.B) {
	c := startCluster(b, clusterVars(b), 3)
	u := c.newUser(b, 0)
	tk := c.login(b, 0, u)
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			var next atomic.Int64
			b.SetParallelism(16) // 16 clients per core, each one request at a time
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					nd := c.node(int(next.Add(1) % int64(n)))
					r, err := c.call(nd, u.ip, "GET", "/v1/me", tk.access, nil)
					if err != nil || r.status != http.StatusOK {
						b.Errorf("GET /v1/me on %s: %v %v", nd.name, r, err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}
