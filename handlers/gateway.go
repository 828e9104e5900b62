package handlers

import "github.com/labstack/echo/v4"

func registerGateway(e *echo.Echo, d Deps) {}
