package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// report is the run's outcome, printed as a table and written as JSON.
type report struct {
	Machine  machine  `json:"machine"`
	Settings settings `json:"settings"`
	Rows     []row    `json:"rows"`
}

type machine struct {
	Cores     int     `json:"cores"`
	MemoryGiB float64 `json:"memory_gib"`
	Go        string  `json:"go"`
	Database  string  `json:"database"`
	// The 1-minute load average when the run started and ended: above the
	// number of cores, something else was competing for them.
	Load1Start float64 `json:"load1_start"`
	Load1End   float64 `json:"load1_end"`
}

type settings struct {
	Short           bool    `json:"short"`
	SecondsPerLoad  float64 `json:"seconds_per_scenario"`
	Users           int     `json:"users"`
	ScaleUsers      int     `json:"scale_users,omitempty"`
	Connections     int     `json:"connections"`
	HashConnections int     `json:"hash_connections"`
	BurstRequests   int     `json:"burst_requests"`
	FloodClients    int     `json:"flood_connections"`
}

// row is one line of the table. Rate is served requests per second (hashes
// per second for the argon2id ceiling).
type row struct {
	Scenario    string         `json:"scenario"`
	Connections int            `json:"connections,omitempty"`
	Requests    int            `json:"requests"`
	Rate        float64        `json:"per_second"`
	P50ms       float64        `json:"p50_ms"`
	P99ms       float64        `json:"p99_ms"`
	Errors      int            `json:"errors"`
	Statuses    map[string]int `json:"statuses,omitempty"`
	Ceiling     string         `json:"ceiling,omitempty"`
	CeilingRate float64        `json:"ceiling_per_second,omitempty"`
	Ratio       float64        `json:"ratio,omitempty"`
	Target      string         `json:"target,omitempty"`
	Met         *bool          `json:"met,omitempty"`
	Note        string         `json:"note,omitempty"`
}

func newReport(o options, db *database) *report {
	return &report{
		Machine: machine{
			Cores: runtime.NumCPU(), MemoryGiB: memTotalGiB(), Go: runtime.Version(), Database: db.version,
			Load1Start: loadAverage(),
		},
		Settings: settings{
			Short: o.short, SecondsPerLoad: o.duration.Seconds(), Users: o.users, ScaleUsers: o.scaleUsers,
			Connections: o.conns, HashConnections: o.hashConns, BurstRequests: o.burst, FloodClients: o.flood,
		},
	}
}

// loadRow is a load run's row, without a ceiling or target yet.
func loadRow(name string, r loadResult) row {
	out := row{
		Scenario: name, Connections: r.conns, Requests: r.requests, Rate: r.rate,
		P50ms: ms(r.p50), P99ms: ms(r.p99), Errors: r.errors(), Statuses: map[string]int{},
	}
	for code, n := range r.statuses {
		out.Statuses[strconv.Itoa(code)] = n
	}
	if r.ranOut {
		out.Note = fmt.Sprintf("targets ran out after %.1f s", r.elapsed.Seconds())
	}
	if out.Errors > 0 {
		out.Note = join(out.Note, "statuses "+statusList(r.statuses))
	}
	return out
}

// ceilingRows are the ceilings' rows: the mean of their two measurements.
func ceilingRows(c ceilingRuns) []row {
	var out []row
	if len(c.echo) > 0 {
		r := row{Scenario: "ceiling: bare Echo GET", Connections: c.echo[0].conns, Statuses: map[string]int{}}
		var each []string
		for _, e := range c.echo {
			k := float64(len(c.echo))
			r.Requests += e.requests
			r.Errors += e.errors()
			r.Rate += e.rate / k
			r.P50ms += ms(e.p50) / k
			r.P99ms += ms(e.p99) / k
			for code, n := range e.statuses {
				r.Statuses[strconv.Itoa(code)] += n
			}
			each = append(each, fmt.Sprintf("%s/s (p99 %.1f ms)", rate(e.rate), ms(e.p99)))
		}
		r.Note = "mean of " + strings.Join(each, " and ")
		out = append(out, r)
	}
	if len(c.argon2) > 0 {
		r := row{Scenario: fmt.Sprintf("ceiling: argon2id hashes (%d cores)", runtime.GOMAXPROCS(0))}
		var each []string
		for _, h := range c.argon2 {
			r.Requests += h.hashes
			r.Rate += h.rate / float64(len(c.argon2))
			each = append(each, rate(h.rate)+"/s")
		}
		r.Note = "mean of " + strings.Join(each, " and ")
		out = append(out, r)
	}
	return out
}

// scenarioRow compares a scenario's run with its ceiling and its target.
func scenarioRow(sc scenario, r loadResult, ceilings map[string]float64) row {
	out := loadRow(sc.name, r)
	out.Ceiling, out.CeilingRate = sc.ceiling, ceilings[sc.ceiling]
	if out.CeilingRate > 0 {
		out.Ratio = out.Rate / out.CeilingRate
	}
	t := sc.target
	if t.minRatio == 0 && t.maxP99 == 0 {
		return out
	}
	met := out.Ratio >= t.minRatio
	var goals []string
	if t.minRatio > 0 {
		goals = append(goals, fmt.Sprintf("≥ %g %%", t.minRatio*100))
	}
	if t.maxP99 > 0 {
		goals = append(goals, fmt.Sprintf("p99 < %d ms", t.maxP99.Milliseconds()))
		met = met && r.p99 < t.maxP99
	}
	out.Target, out.Met = strings.Join(goals, ", "), &met
	return out
}

// floodRow judges the flood: only 200, 401, 429 and 503 answers, every 429
// and 503 with Retry-After, and a peak RSS under 150 MiB.
func floodRow(r loadResult, rss int64, allowed []int) row {
	out := loadRow(fmt.Sprintf("login flood (%d clients)", r.conns), r)
	out.Rate = float64(r.requests) / max(r.elapsed.Seconds(), 1e-9) // every answer counts here
	out.Errors = r.errors() + r.missingRetryAfter
	out.Note = join(fmt.Sprintf("peak RSS %.0f MiB", float64(rss)/(1<<20)), "statuses "+statusList(r.statuses))
	if r.missingRetryAfter > 0 {
		out.Note = join(out.Note, fmt.Sprintf("%d without Retry-After", r.missingRetryAfter))
	}
	met := out.Errors == 0 && rss < 150<<20
	codes := make([]string, len(allowed))
	for i, c := range allowed {
		codes[i] = strconv.Itoa(c)
	}
	out.Target = "RSS < 150 MiB, only " + strings.Join(codes, "/")
	out.Met = &met
	return out
}

// burstRow judges a burst of n requests sent at once: every one served,
// none refused with 503 overloaded.
func burstRow(name string, r loadResult, n int) row {
	out := loadRow(name, r)
	out.Note = join(fmt.Sprintf("statuses %s; the last answer after %.2f s", statusList(r.statuses), r.elapsed.Seconds()),
		fmt.Sprintf("%d of %d served", r.served, n))
	met := r.served == n
	out.Target, out.Met = fmt.Sprintf("all %d served, no 503", n), &met
	return out
}

func statusList(statuses map[int]int) string {
	codes := make([]int, 0, len(statuses))
	for c := range statuses {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	parts := make([]string, len(codes))
	for i, c := range codes {
		name := strconv.Itoa(c)
		if c == 0 {
			name = "no answer"
		}
		parts[i] = fmt.Sprintf("%s×%d", name, statuses[c])
	}
	return strings.Join(parts, " ")
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// print writes the table, then the notes under it.
func (rep *report) print(w io.Writer) {
	m, s := rep.Machine, rep.Settings
	fmt.Fprintf(w, "authbench: %d cores, %.0f GiB, %s, %s; %s per scenario, %d users",
		m.Cores, m.MemoryGiB, m.Go, m.Database, time.Duration(s.SecondsPerLoad*float64(time.Second)), s.Users)
	if s.ScaleUsers > 0 {
		fmt.Fprintf(w, " + %d copied", s.ScaleUsers)
	}
	fmt.Fprintf(w, "; %d connections (login and signup %d, bursts %d); load average %.1f at the start, %.1f at the end\n\n",
		s.Connections, s.HashConnections, s.BurstRequests, m.Load1Start, m.Load1End)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\treq/s\tp50\tp99\terrors\tceiling\tratio\ttarget\tmet")
	var notes []string
	for _, r := range rep.Rows {
		ceiling, ratio, met := "—", "—", "—"
		if r.CeilingRate > 0 {
			ceiling = r.Ceiling + " " + rate(r.CeilingRate)
			ratio = fmt.Sprintf("%.1f %%", r.Ratio*100)
		}
		if r.Met != nil {
			met = map[bool]string{true: "met", false: "NOT met"}[*r.Met]
		}
		p50, p99 := fmt.Sprintf("%.2f ms", r.P50ms), fmt.Sprintf("%.2f ms", r.P99ms)
		if r.P50ms == 0 && r.P99ms == 0 {
			p50, p99 = "—", "—"
		}
		target := r.Target
		if target == "" {
			target = "—"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.Scenario, rate(r.Rate), p50, p99, r.Errors, ceiling, ratio, target, met)
		if r.Note != "" {
			notes = append(notes, r.Scenario+": "+r.Note)
		}
	}
	tw.Flush()
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintln(w, n)
		}
	}
}

func rate(v float64) string {
	if v >= 100 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func (rep *report) writeJSON(path string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// loadAverage is the 1-minute load average; 0 where there is none.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	v, _ := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	return v
}

// memTotalGiB reads MemTotal from /proc/meminfo; 0 where there is none.
func memTotalGiB() float64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kib, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kib / (1 << 20)
		}
	}
	return 0
}
