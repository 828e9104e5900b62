package handlers

import "github.com/labstack/echo/v4"

func registerPasswordReset(e *echo.Echo, d Deps) {}
