package handlers

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/accounts"
	"github.com/authsvc/authsvc/federation"
	"github.com/authsvc/authsvc/hashpool"
	"github.com/authsvc/authsvc/hooks"
	"github.com/authsvc/authsvc/mailaddr"
	"github.com/authsvc/authsvc/metrics"
	"github.com/authsvc/authsvc/middleware"
	"github.com/authsvc/authsvc/problem"
	"github.com/authsvc/authsvc/ratelimit"
	"github.com/authsvc/authsvc/secret"
	"github.com/authsvc/authsvc/sessions"
	"github.com/authsvc/authsvc/store"
	"github.com/authsvc/authsvc/token"
)

// Auth serves signup, login, refresh, logout, the session check and password reset.
type Auth struct {
	Accounts  *accounts.Service
	Store     *store.Store // the caller's session and account
	Issuer    *token.Issuer
	Live      *middleware.Live // logout reads a token it does not require; the session check
	AccessTTL time.Duration
	Metrics   *metrics.Metrics
	Now       func() time.Time
	// Cookies is cookie mode (COOKIE_MODE): the refresh token in an HttpOnly
	// cookie, CSRF checks on refresh and logout. nil: tokens in bodies.
	Cookies *Cookies
	// TokenHook (TOKEN_HOOK_URL) is asked before each session's access token
	// is signed, and may add claims; nil: none.
	TokenHook *hooks.Hook
}

// loginOutcome names what became of a login step (s, err), for the metrics:
// a password step that asks for a second one is mfa_required, and only the
// step that opens the session counts as a success.
func (h *Auth) loginOutcome(s *accounts.Session, err error) string {
	var limited *ratelimit.RefusedError
	var locked *accounts.LockedError
	switch {
	case err == nil && s.SecondStep != nil:
		return metrics.LoginMFARequired
	case err == nil:
		return metrics.LoginSuccess
	case errors.As(err, &locked):
		return metrics.LoginLocked
	case errors.As(err, &limited):
		h.Metrics.RateLimited(limited.Scope)
		return metrics.LoginRateLimited
	case errors.Is(err, hashpool.ErrOverloaded):
		return metrics.LoginOverloaded
	case errors.Is(err, accounts.ErrInvalidCredentials), errors.Is(err, accounts.ErrInvalidMFACode),
		errors.Is(err, accounts.ErrInvalidMFAToken), errors.Is(err, accounts.ErrInvalidPasskey),
		errors.Is(err, accounts.ErrInvalidGrant), errors.Is(err, federation.ErrInvalidIDToken):
		return metrics.LoginInvalid
	}
	return "other"
}

// refreshOutcome names what became of a refresh, for the metrics.
func refreshOutcome(err error) string {
	switch {
	case err == nil:
		return metrics.RefreshSuccess
	case errors.Is(err, sessions.ErrReused):
		return metrics.RefreshReused
	case errors.Is(err, sessions.ErrInvalid):
		return metrics.RefreshInvalid
	}
	return "other"
}

// SignupRequest creates an account.
type SignupRequest struct {
	Email     string `json:"email" validate:"required,max=254,email,mailbox" example:"ada@example.com"`
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
//	@Failure		403		{object}	problem.Error	"invalid_admin_key; signup_denied: the signup hook refused, its reason in detail"
//	@Failure		409		{object}	problem.Error	"email_taken, username_taken"
//	@Failure		413		{object}	problem.Error
//	@Failure		415		{object}	problem.Error
//	@Failure		429		{object}	problem.Error	"rate_limited: too many signups from this address"
//	@Failure		503		{object}	problem.Error	"hook_failed: the signup hook (SIGNUP_HOOK_URL) failed with HOOK_FAILURE=closed (Retry-After)"
//	@Security
//	@Router			/v1/auth/signup [post]
func (h *Auth) signup(c echo.Context) error {
	req, err := decode[SignupRequest](c)
	if err != nil {
		return err
	}
	acct, err := h.Accounts.Signup(c.Request().Context(), accounts.SignupInput{
		Profile:  accounts.Profile{Email: req.Email, Username: req.Username, FirstName: req.FirstName, LastName: req.LastName},
		Password: req.Password, AdminKey: req.AdminKey,
	}, clientOf(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, UserResponse{User: userView(acct, h.Now())})
}

func (r *SignupRequest) normalize() {
	r.Email = mailaddr.ASCII(r.Email)
	r.Username = strings.TrimSpace(r.Username)
	r.FirstName = strings.TrimSpace(r.FirstName)
	r.LastName = strings.TrimSpace(r.LastName)
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
//	@Description	With COOKIE_MODE=true the body has no refresh_token: the refresh token is set in the cookie __Host-authsvc_refresh (Path=/; HttpOnly; Secure; SameSite=Strict; expiring with the session), with a new readable CSRF cookie authsvc_csrf (Path=/; Secure; SameSite=Strict) to send back in X-CSRF-Token on refresh and logout.
//	@Tags			auth
//	@Accept			json
//	@Produce		json
//	@Param			body	body		LoginRequest	true	"Credentials"
//	@Success		200		{object}	LoginResponse	"The token response; for a user with TOTP on, only mfa_required, mfa_token, methods and expires_in (the mfa_token's lifetime): send them to POST /v1/auth/mfa"
//	@Header			200		{string}	Set-Cookie	"COOKIE_MODE only: __Host-authsvc_refresh and authsvc_csrf"
//	@Failure		400		{object}	problem.Error
//	@Failure		401		{object}	problem.Error	"invalid_credentials"
//	@Failure		403		{object}	problem.Error	"account_pending, account_disabled, email_unverified"
//	@Failure		413		{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415		{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Failure		429		{object}	problem.Error	"rate_limited, too_many_attempts"
//	@Failure		503		{object}	problem.Error	"hook_failed: the token hook (TOKEN_HOOK_URL) failed with HOOK_FAILURE=closed (Retry-After)"
//	@Security
//	@Router			/v1/auth/login [post]
func (h *Auth) login(c echo.Context) error {
	req, err := decode[LoginRequest](c)
	if err != nil {
		return err
	}
	s, err := h.Accounts.Login(c.Request().Context(),
		accounts.LoginInput{Login: req.Login, Password: req.Password, Remember: req.Remember}, clientOf(c))
	return h.loginAnswer(c, s, err)
}

// loginAnswer answers a first login step's outcome (s, err): the tokens, or
// the second step a user with TOTP on needs.
func (h *Auth) loginAnswer(c echo.Context, s *accounts.Session, err error) error {
	h.Metrics.Login(h.loginOutcome(s, err))
	if err != nil {
		return err
	}
	if s.SecondStep != nil {
		return c.JSON(http.StatusOK, LoginResponse{
			MFARequired: true, MFAToken: s.SecondStep.Token, Methods: s.SecondStep.Methods,
			TokenResponse: TokenResponse{ExpiresIn: int(accounts.MFATokenTTL.Seconds())},
		})
	}
	return h.tokens(c, s)
}

// normalize: a login with "@" is an email (usernames have none), compared in
// its ASCII form; one without an ASCII form can only be an address stored
// before that rule, so it is looked up as given.
func (r *LoginRequest) normalize() {
	r.Login = strings.TrimSpace(r.Login)
	if strings.Contains(r.Login, "@") {
		r.Login = mailaddr.ASCII(r.Login)
	}
}

// tokens issues an access token for a new session and answers with both
// tokens; in cookie mode the refresh token goes in its cookie, with a new CSRF token.
func (h *Auth) tokens(c echo.Context, s *accounts.Session) error {
	return h.answerTokens(c, s, "", true)
}

// tokensKeepingCSRF is tokens for a refresh; in cookie mode it keeps the CSRF
// token csrf, or sets a new one when csrf is "".
func (h *Auth) tokensKeepingCSRF(c echo.Context, s *accounts.Session, csrf string) error {
	return h.answerTokens(c, s, csrf, false)
}

// answerTokens issues the access token of s and answers with both tokens;
// opened says s was just opened (not refreshed).
func (h *Auth) answerTokens(c echo.Context, s *accounts.Session, csrf string, opened bool) error {
	acct := s.Account
	claims, err := h.Issuer.Claims(token.Subject{
		UserID: acct.ID, SessionID: s.Session.ID, Username: acct.Username, Email: acct.Email,
		Roles: acct.Roles, Permissions: acct.Permissions, Resources: acct.Resources,
		AMR: sessions.AMR(s.Session), IDP: s.Session.IDP,
	})
	if err != nil {
		return err
	}
	if h.TokenHook != nil {
		// hooks.ErrFailed (closed) answers 503 hook_failed. A session just
		// opened is ended, its tokens never sent; a refreshed one stays (the
		// same refresh token may be retried within REFRESH_REUSE_GRACE).
		ctx := c.Request().Context()
		extra, err := h.TokenHook.Token(ctx, hooks.User{
			ID: acct.ID.String(), Email: acct.Email, Username: acct.Username,
			FirstName: acct.FirstName, LastName: acct.LastName, Roles: acct.Roles,
		}, claims)
		if err != nil {
			if opened {
				if rerr := h.Accounts.AbandonSession(ctx, s.Session.ID, "hook_failed"); rerr != nil {
					return errors.Join(err, rerr)
				}
			}
			return err
		}
		claims.Extra = extra
	}
	access, _, err := h.Issuer.Sign(claims)
	if err != nil {
		return err
	}
	refresh := s.RefreshToken
	if h.Cookies != nil {
		if csrf == "" {
			csrf = secret.Token()
		}
		h.Cookies.set(c, refresh, csrf, s.Session.ExpiresAt, h.Now())
		refresh = "" // left out of the body: page scripts never see it
	}
	user := userView(acct, h.Now())
	return c.JSON(http.StatusOK, TokenResponse{
		AccessToken: access, TokenType: "Bearer",
		ExpiresIn:    int(h.AccessTTL.Seconds()),
		RefreshToken: refresh, SessionID: s.Session.ID.String(),
		User: &user,
	})
}

// RefreshRequest exchanges a refresh token for a new pair.
type RefreshRequest struct {
	RefreshToken string `json:"refresh_token" validate:"required" example:"q3Vb0s8N0m2x…"`
} // @name RefreshRequest

// refresh godoc
//
//	@ID				refresh
//	@Summary		Refresh the tokens
//	@Description	Single use: returns a new refresh token and retires the old one. The token just retired, presented again within REFRESH_REUSE_GRACE, returns the same successor; any other reuse revokes the session.
//	@Description	With COOKIE_MODE=true the refresh token comes from the cookie __Host-authsvc_refresh only: the body is optional and must not hold refresh_token (400). The header X-CSRF-Token must equal the authsvc_csrf cookie, and an Origin header, when sent, must be in CORS_ORIGINS or the origin of PUBLIC_URL (else 403 csrf_failed). The new refresh token replaces the cookie, the CSRF cookie keeps its value, and the body has no refresh_token.
//	@Tags			auth
//	@Accept			json
//	@Produce		json
//	@Param			body			body		RefreshRequest	false	"The refresh token: required, except with COOKIE_MODE=true, where the body is optional and holds no refresh_token"
//	@Param			X-CSRF-Token	header		string			false	"COOKIE_MODE only, and then required: the value of the authsvc_csrf cookie"
//	@Success		200				{object}	TokenResponse
//	@Header			200				{string}	Set-Cookie	"COOKIE_MODE only: __Host-authsvc_refresh and authsvc_csrf"
//	@Failure		400				{object}	problem.Error
//	@Failure		401				{object}	problem.Error	"invalid_refresh_token, refresh_token_reused"
//	@Failure		403				{object}	problem.Error	"account_disabled, account_pending, csrf_failed"
//	@Failure		413				{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415				{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Failure		503				{object}	problem.Error	"hook_failed: the token hook (TOKEN_HOOK_URL) failed with HOOK_FAILURE=closed (Retry-After; the same refresh token may be retried within REFRESH_REUSE_GRACE)"
//	@Security
//	@Router			/v1/auth/refresh [post]
func (h *Auth) refresh(c echo.Context) error {
	var plain, csrf string
	if h.Cookies != nil {
		var err error
		if csrf, err = h.Cookies.checkCSRF(c); err != nil {
			return err
		}
		req, err := decodeOptional[cookieRefreshRequest](c)
		if err != nil {
			return err
		}
		if req.RefreshToken != "" {
			return errRefreshTokenInBody
		}
		plain = h.Cookies.refreshToken(c)
	} else {
		req, err := decode[RefreshRequest](c)
		if err != nil {
			return err
		}
		plain = req.RefreshToken
	}
	s, err := h.Accounts.Refresh(c.Request().Context(), plain, clientOf(c))
	h.Metrics.Refresh(refreshOutcome(err))
	if err != nil {
		return err
	}
	return h.tokensKeepingCSRF(c, s, csrf)
}

// cookieRefreshRequest is a refresh body in cookie mode: optional, and any
// refresh_token in it is refused.
type cookieRefreshRequest struct {
	RefreshToken string `json:"refresh_token"`
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
//	@Description	With COOKIE_MODE=true the header X-CSRF-Token must equal the authsvc_csrf cookie, and an Origin header, when sent, must be in CORS_ORIGINS or the origin of PUBLIC_URL (else 403 csrf_failed). The session of the __Host-authsvc_refresh cookie is revoked too (the only one when no access token is sent), and both cookies are cleared.
//	@Tags			auth
//	@Accept			json
//	@Produce		json
//	@Param			body			body		LogoutRequest	false	"Optional"
//	@Param			X-CSRF-Token	header		string			false	"COOKIE_MODE only, and then required: the value of the authsvc_csrf cookie"
//	@Success		200				{object}	MessageResponse
//	@Header			200				{string}	Set-Cookie	"COOKIE_MODE only: clears __Host-authsvc_refresh and authsvc_csrf"
//	@Failure		400				{object}	problem.Error
//	@Failure		403				{object}	problem.Error	"csrf_failed (COOKIE_MODE only)"
//	@Failure		413				{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415				{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Security		BearerAuth
//	@Router			/v1/auth/logout [post]
func (h *Auth) logout(c echo.Context) error {
	if h.Cookies != nil {
		if _, err := h.Cookies.checkCSRF(c); err != nil {
			return err
		}
	}
	req, err := decodeOptional[LogoutRequest](c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	// The sessions to end, as (user, session): the access token's, and in
	// cookie mode the refresh cookie's.
	type target struct{ uid, sid uuid.UUID }
	var targets []target
	cred, err := h.Live.Authenticate(c)
	if err == nil && cred.Kind == middleware.SessionToken { // a personal or service token has no session to end
		uid, _ := uuid.Parse(cred.Claims.Subject)
		sid, _ := uuid.Parse(cred.Claims.SessionID)
		targets = append(targets, target{uid, sid})
	} else if p, ok := problem.As(err); ok && p.Status >= 500 {
		return err
	}
	if h.Cookies != nil {
		if plain := h.Cookies.refreshToken(c); plain != "" {
			sess, err := h.Accounts.LookupRefreshSession(ctx, plain)
			if err != nil && !errors.Is(err, sessions.ErrInvalid) {
				return err
			}
			if err == nil && (len(targets) == 0 || (targets[0].sid != sess.ID && !(req.All && targets[0].uid == sess.UserID))) {
				targets = append(targets, target{sess.UserID, sess.ID})
			}
		}
	}
	for _, t := range targets {
		if err := h.Accounts.Logout(ctx, t.uid, t.sid, req.All, clientOf(c)); err != nil {
			return err
		}
	}
	if h.Cookies != nil {
		h.Cookies.clear(c)
	}
	return c.JSON(http.StatusOK, MessageResponse{Message: "Logged out."})
}

// SessionInfo describes the session an access token belongs to.
type SessionInfo struct {
	ID        string `json:"id"`
	CreatedAt string `json:"created_at" example:"2026-01-02T15:04:05Z"`
	ExpiresAt string `json:"expires_at" example:"2026-01-09T15:04:05Z"`
	// AMR is how the session was authenticated (RFC 8176).
	AMR []string `json:"amr" example:"pwd,otp,mfa"`
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
//	@Description	For a client that holds an access token: 200 while its session is live, with the user and how the session was authenticated (amr); 401 once the session has ended, even before the token expires.
//	@Tags			auth
//	@Produce		json
//	@Success		200	{object}	SessionResponse
//	@Failure		401	{object}	problem.Error	"missing_token, invalid_token, token_expired, session_revoked"
//	@Failure		403	{object}	problem.Error	"session_required: personal access tokens and service tokens cannot do this"
//	@Security		BearerAuth
//	@Router			/v1/auth/session [get]
func (h *Auth) getSession(c echo.Context) error {
	acct, err := middleware.Account(c)
	if err != nil {
		return err
	}
	sess, err := h.Live.Session(c.Request().Context(), middleware.SessionID(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, SessionResponse{
		Valid: true, User: userView(acct, h.Now()),
		Session: SessionInfo{ID: sess.ID.String(),
			CreatedAt: sess.CreatedAt.UTC().Format(timeFormat), ExpiresAt: sess.ExpiresAt.UTC().Format(timeFormat),
			AMR: orEmpty(sessions.AMR(&sess))},
	})
}

const timeFormat = "2006-01-02T15:04:05.999999999Z07:00"
