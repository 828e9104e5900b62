package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/middleware"
)

func registerMe(e *echo.Echo, d Deps, auth echo.MiddlewareFunc) {
	e.GET("/v1/me", getMe(d), auth)
}

// getMe godoc
//
//	@ID				getMe
//	@Summary		The signed-in user's profile
//	@Tags			me
//	@Produce		json
//	@Success		200	{object}	UserResponse
//	@Failure		401	{object}	problem.Error
//	@Security		BearerAuth
//	@Router			/v1/me [get]
func getMe(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		acct, err := middleware.Account(c, d.Store)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, UserResponse{User: userView(acct, d.Now())})
	}
}
