package metrics

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
)

// UnmatchedRoute is the route label of requests no route matched, so probing
// random paths adds no series.
const UnmatchedRoute = "unmatched"

// Middleware counts and times requests by route template (c.Path(), such as
// "/v1/users/:id"), never the raw path. Register it with e.Use, which runs
// after routing. Like middleware.AccessLog it renders a handler's error itself,
// so the status recorded is the one sent, and returns nil.
func (m *Metrics) Middleware() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := m.now()
			if err := next(c); err != nil {
				c.Error(err)
			}
			method := methodLabel(c.Request().Method)
			route := routeLabel(c)
			m.requests.WithLabelValues(method, route, strconv.Itoa(c.Response().Status)).Inc()
			m.duration.WithLabelValues(method, route).Observe(m.now().Sub(start).Seconds())
			return nil
		}
	}
}

// routeLabel is the matched route's template. Echo leaves c.Path() empty when
// no route matched; a path that matched a route but not its method (405) keeps
// that route's template, which is still one of a fixed set.
func routeLabel(c echo.Context) string {
	if c.Path() == "" {
		return UnmatchedRoute
	}
	return c.Path()
}

// methodLabel keeps the method label to the standard methods: any other
// string a client sends would be a new series.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}
