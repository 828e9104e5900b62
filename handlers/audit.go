package handlers

import "github.com/labstack/echo/v4"

func registerAudit(e *echo.Echo, d Deps, auth echo.MiddlewareFunc) {}
