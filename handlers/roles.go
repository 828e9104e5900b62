package handlers

import "github.com/labstack/echo/v4"

func registerRoles(e *echo.Echo, d Deps, auth echo.MiddlewareFunc) {}
