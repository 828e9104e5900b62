package handlers

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/middleware"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/problem"
	"github.com/authsvc/authsvc/sessions"
	"github.com/authsvc/authsvc/store"
	"github.com/authsvc/authsvc/token"
)

func registerAuth(e *echo.Echo, d Deps, auth echo.MiddlewareFunc) {
	e.POST("/v1/auth/signup", signup(d))
	e.POST("/v1/auth/login", login(d))
	e.POST("/v1/auth/refresh", refresh(d))
	e.POST("/v1/auth/logout", logout(d))
	e.GET("/v1/auth/session", getSession(d), auth)
}

var (
	errInvalidCredentials = problem.Unauthorized("invalid_credentials", "The login or password is wrong.")
	errAccountPending     = problem.Forbidden("account_pending", "The account awaits approval by an administrator.")
	errAccountDisabled    = problem.Forbidden("account_disabled", "The account is disabled.")
	errInvalidRefresh     = problem.Unauthorized("invalid_refresh_token", "The refresh token is unknown, expired or revoked.")
	errRefreshReused      = problem.Unauthorized("refresh_token_reused", "The refresh token was already used; the session has been revoked.")
)

// SignupRequest creates an account.
type SignupRequest struct {
	Email     string `json:"email" validate:"required,max=254,email" example:"ada@example.com"`
	Username  string `json:"username" validate:"required,username" example:"ada"`
	Password  string `json:"password" validate:"required" example:"correct horse battery staple"`
	FirstName string `json:"first_name" validate:"max=100" example:"Ada"`
	LastName  string `json:"last_name" validate:"max=100" example:"Lovelace"`
	// AdminKey grants the admin role when it matches ADMIN_SIGNUP_KEY.
	AdminKey string `json:"admin_key,omitempty" validate:"max=1024"`
} // @name SignupRequest

// signup godoc
//
//	@ID				signup
//	@Summary		Create an account
//	@Description	New accounts are active, or pending when SIGNUP_REQUIRES_APPROVAL is on. A valid admin_key grants the admin role.
//	@Tags			auth
//	@Accept			json
//	@Produce		json
//	@Param			body	body		SignupRequest	true	"The new account"
//	@Success		201		{object}	UserResponse
//	@Failure		400		{object}	problem.Error	"validation_failed, malformed_json, weak password"
//	@Failure		403		{object}	problem.Error	"invalid_admin_key"
//	@Failure		409		{object}	problem.Error	"email_taken, username_taken"
//	@Failure		413		{object}	problem.Error
//	@Failure		415		{object}	problem.Error
//	@Router			/v1/auth/signup [post]
func signup(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		req, err := decode[SignupRequest](c)
		if err != nil {
			return err
		}
		ctx, now, client := c.Request().Context(), d.Now(), clientOf(c)
		email := req.Email
		roles := []string{models.RoleUser}
		status := models.StatusActive
		if d.Config.SignupRequiresApproval {
			status = models.StatusPending
		}
		if req.AdminKey != "" {
			if !adminKeyMatches(d.Config.AdminSignupKey, req.AdminKey) {
				if err := d.Store.AddAudit(ctx, audit.Event(audit.SignupRejected, now, uuid.Nil, uuid.Nil, client,
					audit.Details{"reason": "invalid_admin_key"})); err != nil {
					return dbFailure(err)
				}
				return problem.Forbidden("invalid_admin_key", "The admin key is not valid.")
			}
			// The key holder is trusted with admin rights, so no approval step either.
			roles = append(roles, models.RoleAdmin)
			status = models.StatusActive
		}
		if err := checkPassword(d, "password", req.Password, email, req.Username, req.FirstName, req.LastName); err != nil {
			return err
		}
		hash, err := d.Hasher.Hash(req.Password)
		if err != nil {
			return problem.Internal(err)
		}
		u := &models.User{
			ID: uuid.Must(uuid.NewV7()), Email: email, Username: req.Username,
			FirstName: req.FirstName, LastName: req.LastName,
			PasswordHash: hash, Status: status, CreatedAt: now, UpdatedAt: now,
		}
		var acct *store.Account
		err = d.Store.InTx(ctx, func(tx *store.Store) error {
			if err := tx.CreateUser(ctx, u, roles, nil); err != nil {
				return err
			}
			if err := tx.AddAudit(ctx, audit.Event(audit.Signup, now, u.ID, u.ID, client,
				audit.Details{"roles": roles, "status": status})); err != nil {
				return err
			}
			acct, err = tx.UserByID(ctx, u.ID)
			return err
		})
		if err != nil {
			return storeError(err)
		}
		return c.JSON(http.StatusCreated, UserResponse{User: userView(acct, now)})
	}
}

func (r *SignupRequest) normalize() {
	r.Email = normalizeEmail(r.Email)
	r.Username = strings.TrimSpace(r.Username)
	r.FirstName = strings.TrimSpace(r.FirstName)
	r.LastName = strings.TrimSpace(r.LastName)
}

// adminKeyMatches compares in constant time; hashing first hides the key's length too.
func adminKeyMatches(configured, given string) bool {
	if configured == "" {
		return false
	}
	a, b := sha256.Sum256([]byte(configured)), sha256.Sum256([]byte(given))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// normalizeEmail trims the address and lower-cases its domain; the local part
// keeps its case (it may matter to the mail server), uniqueness ignores case.
func normalizeEmail(email string) string {
	email = strings.TrimSpace(email)
	if i := strings.LastIndexByte(email, '@'); i >= 0 {
		return email[:i+1] + strings.ToLower(email[i+1:])
	}
	return email
}

// checkPassword applies the password policy; the 400 names the field and says why.
func checkPassword(d Deps, field, pw string, userInputs ...string) error {
	if err := d.Policy.Check(pw, userInputs...); err != nil {
		return problem.Invalid(problem.FieldError{Field: field, Message: err.Error()})
	}
	return nil
}

// LoginRequest signs in with an email or a username.
type LoginRequest struct {
	Login    string `json:"login" validate:"required,max=254" example:"ada@example.com"`
	Password string `json:"password" validate:"required,max=1024" example:"correct horse battery staple"`
	// Remember asks for the longer session lifetime (REMEMBER_SESSION_TTL).
	Remember bool `json:"remember" example:"false"`
} // @name LoginRequest

// login godoc
//
//	@ID				login
//	@Summary		Log in
//	@Description	Exchanges a login (email or username) and password for an access token and a refresh token. Unknown users and wrong passwords get the same answer in the same time.
//	@Tags			auth
//	@Accept			json
//	@Produce		json
//	@Param			body	body		LoginRequest	true	"Credentials"
//	@Success		200		{object}	TokenResponse
//	@Failure		400		{object}	problem.Error
//	@Failure		401		{object}	problem.Error	"invalid_credentials"
//	@Failure		403		{object}	problem.Error	"account_pending, account_disabled"
//	@Router			/v1/auth/login [post]
func login(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		req, err := decode[LoginRequest](c)
		if err != nil {
			return err
		}
		ctx, client := c.Request().Context(), clientOf(c)
		// One query, known user or not: the grants are loaded only after the
		// password is verified, so a wrong password and an unknown user take as long.
		u, err := d.Store.UserRowByLogin(ctx, req.Login)
		if errors.Is(err, store.ErrNotFound) {
			// Spend the same hashing work as a wrong password, so timing reveals nothing.
			d.Hasher.VerifyDummy(req.Password)
			if err := d.Store.AddAudit(ctx, audit.Event(audit.LoginFailed, d.Now(), uuid.Nil, uuid.Nil, client,
				audit.Details{"reason": "invalid_credentials"})); err != nil {
				return dbFailure(err)
			}
			return errInvalidCredentials
		}
		if err != nil {
			return dbFailure(err)
		}
		ok, rehash, err := d.Hasher.Verify(u.PasswordHash, req.Password)
		if err != nil {
			d.Log.ErrorContext(ctx, "stored password hash unreadable", "user_id", u.ID, "error", err)
		}
		if !ok {
			if err := d.Store.AddAudit(ctx, audit.Event(audit.LoginFailed, d.Now(), uuid.Nil, u.ID, client,
				audit.Details{"reason": "invalid_credentials"})); err != nil {
				return dbFailure(err)
			}
			return errInvalidCredentials
		}
		// The account's state is only revealed to someone who knows its password.
		switch u.Status {
		case models.StatusPending:
			return errAccountPending
		case models.StatusDisabled:
			return errAccountDisabled
		}
		now := d.Now()
		var acct *store.Account
		var sess *models.Session
		var refreshToken string
		err = d.Store.InTx(ctx, func(tx *store.Store) error {
			if rehash { // parameters changed since this hash was made: upgrade it now that we know the password
				if h, err := d.Hasher.Hash(req.Password); err == nil {
					if err := tx.UpgradePasswordHash(ctx, u.ID, h); err != nil {
						return err
					}
				}
			}
			if err := tx.RecordLogin(ctx, u.ID, now); err != nil {
				return err
			}
			if sess, refreshToken, err = d.Sessions.Start(ctx, tx, u.ID, req.Remember, client); err != nil {
				return err
			}
			if err := tx.AddAudit(ctx, audit.Event(audit.LoginSucceeded, now, u.ID, u.ID, client,
				audit.Details{"session_id": sess.ID, "remember": req.Remember})); err != nil {
				return err
			}
			acct, err = tx.UserByID(ctx, u.ID)
			return err
		})
		if err != nil {
			return storeError(err)
		}
		return tokenResponse(c, d, acct, sess, refreshToken)
	}
}

func (r *LoginRequest) normalize() { r.Login = strings.TrimSpace(r.Login) }

// tokenResponse issues an access token for the session and answers with both tokens.
func tokenResponse(c echo.Context, d Deps, acct *store.Account, sess *models.Session, refreshToken string) error {
	access, _, err := d.Issuer.Issue(token.Subject{
		UserID: acct.ID, SessionID: sess.ID, Username: acct.Username, Email: acct.Email,
		Roles: acct.Roles, Permissions: acct.Permissions, Resources: acct.Resources,
	})
	if err != nil {
		return problem.Internal(err)
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSON(http.StatusOK, TokenResponse{
		AccessToken: access, TokenType: "Bearer",
		ExpiresIn:    int(d.Config.AccessTokenTTL.Seconds()),
		RefreshToken: refreshToken, SessionID: sess.ID.String(),
		User: userView(acct, d.Now()),
	})
}

// RefreshRequest exchanges a refresh token for a new pair.
type RefreshRequest struct {
	RefreshToken string `json:"refresh_token" validate:"required,max=256" example:"q3Vb0s8N0m2x…"`
} // @name RefreshRequest

// refresh godoc
//
//	@ID				refresh
//	@Summary		Refresh the tokens
//	@Description	Single use: returns a new refresh token and retires the old one. The token just retired, presented again within REFRESH_REUSE_GRACE, returns the same successor; any other reuse revokes the session.
//	@Tags			auth
//	@Accept			json
//	@Produce		json
//	@Param			body	body		RefreshRequest	true	"The refresh token"
//	@Success		200		{object}	TokenResponse
//	@Failure		400		{object}	problem.Error
//	@Failure		401		{object}	problem.Error	"invalid_refresh_token, refresh_token_reused"
//	@Failure		403		{object}	problem.Error	"account_disabled, account_pending"
//	@Router			/v1/auth/refresh [post]
func refresh(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		req, err := decode[RefreshRequest](c)
		if err != nil {
			return err
		}
		ctx := c.Request().Context()
		r, err := d.Sessions.Refresh(ctx, req.RefreshToken, clientOf(c))
		switch {
		case errors.Is(err, sessions.ErrInvalid):
			return errInvalidRefresh
		case errors.Is(err, sessions.ErrReused):
			return errRefreshReused
		case err != nil:
			return dbFailure(err)
		}
		acct, err := d.Store.UserByID(ctx, r.Session.UserID)
		if errors.Is(err, store.ErrNotFound) {
			return errInvalidRefresh
		}
		if err != nil {
			return dbFailure(err)
		}
		if acct.Status != models.StatusActive {
			return errAccountDisabled
		}
		return tokenResponse(c, d, acct, &r.Session, r.RefreshToken)
	}
}

// LogoutRequest chooses what to end; the body is optional.
type LogoutRequest struct {
	// All ends every session of the user, not only this one.
	All bool `json:"all" example:"false"`
} // @name LogoutRequest

// logout godoc
//
//	@ID				logout
//	@Summary		Log out
//	@Description	Revokes the current session, or every session of the user with all=true. Always 200, even without a token or with a dead one.
//	@Tags			auth
//	@Accept			json
//	@Produce		json
//	@Param			body	body		LogoutRequest	false	"Optional"
//	@Success		200		{object}	MessageResponse
//	@Failure		400		{object}	problem.Error
//	@Security		BearerAuth
//	@Router			/v1/auth/logout [post]
func logout(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		req, err := decodeOptional[LogoutRequest](c)
		if err != nil {
			return err
		}
		done := MessageResponse{Message: "Logged out."}
		claims, err := middleware.Authenticate(c, d.Verifier, d.Store, d.Now)
		if err != nil {
			if p, ok := problem.As(err); ok && p.Status >= 500 {
				return err
			}
			return c.JSON(http.StatusOK, done)
		}
		ctx, now := c.Request().Context(), d.Now()
		uid, _ := uuid.Parse(claims.Subject)
		sid, _ := uuid.Parse(claims.SessionID)
		r := store.Revoke{SessionID: sid, Reason: "logout"}
		if req.All {
			r = store.Revoke{UserIDs: []uuid.UUID{uid}, Reason: "logout_all"}
		}
		err = d.Store.InTx(ctx, func(tx *store.Store) error {
			ids, err := d.Sessions.Revoke(ctx, tx, r)
			if err != nil {
				return err
			}
			return tx.AddAudit(ctx, audit.Event(audit.Logout, now, uid, uid, clientOf(c),
				audit.Details{"all": req.All, "sessions": len(ids)}))
		})
		if err != nil {
			return dbFailure(err)
		}
		return c.JSON(http.StatusOK, done)
	}
}

// SessionInfo describes the session an access token belongs to.
type SessionInfo struct {
	ID        string `json:"id"`
	CreatedAt string `json:"created_at" example:"2026-01-02T15:04:05Z"`
	ExpiresAt string `json:"expires_at" example:"2026-01-09T15:04:05Z"`
} // @name SessionInfo

// SessionResponse answers whether the caller's session is valid.
type SessionResponse struct {
	Valid   bool        `json:"valid" example:"true"`
	User    User        `json:"user"`
	Session SessionInfo `json:"session"`
} // @name SessionResponse

// getSession godoc
//
//	@ID				getSession
//	@Summary		Check the current session
//	@Tags			auth
//	@Produce		json
//	@Success		200	{object}	SessionResponse
//	@Failure		401	{object}	problem.Error	"missing_token, invalid_token, token_expired, session_revoked"
//	@Security		BearerAuth
//	@Router			/v1/auth/session [get]
func getSession(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		acct, err := middleware.Account(c, d.Store)
		if err != nil {
			return err
		}
		sess, err := d.Store.SessionByID(c.Request().Context(), middleware.SessionID(c))
		if err != nil {
			return storeError(err)
		}
		return c.JSON(http.StatusOK, SessionResponse{
			Valid: true, User: userView(acct, d.Now()),
			Session: SessionInfo{ID: sess.ID.String(),
				CreatedAt: sess.CreatedAt.UTC().Format(timeFormat), ExpiresAt: sess.ExpiresAt.UTC().Format(timeFormat)},
		})
	}
}

const timeFormat = "2006-01-02T15:04:05.999999999Z07:00"

// storeError maps store sentinels to problems; anything else is the database failing.
func storeError(err error) error {
	if p, ok := problem.As(err); ok {
		return p
	}
	var conflict *store.ConflictError
	switch {
	case errors.As(err, &conflict):
		switch conflict.Field {
		case "email":
			return problem.Conflict("email_taken", "That email address is already registered.")
		case "username":
			return problem.Conflict("username_taken", "That username is taken.")
		}
		return problem.Conflict("conflict", "That "+conflict.Field+" is already taken.")
	case errors.Is(err, store.ErrNotFound):
		return problem.NotFound("not_found", "Not found.")
	}
	return dbFailure(err)
}

// dbFailure is a database error no client caused: 503 when the database is
// unreachable, 500 otherwise.
func dbFailure(err error) error {
	if store.IsUnavailable(err) {
		return problem.Unavailable(err)
	}
	return problem.Internal(err)
}
