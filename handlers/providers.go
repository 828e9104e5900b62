package handlers

import (
	"encoding/base64"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/accounts"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/problem"
)

// ProviderInfo is one external identity provider users may sign in with.
type ProviderInfo struct {
	Name string `json:"name" example:"github"`
	Type string `json:"type" enums:"oidc,github" example:"github"`
} // @name Provider

// ProvidersResponse lists the configured providers.
type ProvidersResponse struct {
	Providers []ProviderInfo `json:"providers"`
} // @name ProvidersResponse

// listProviders godoc
//
//	@ID				listProviders
//	@Summary		The external identity providers
//	@Description	The providers users may sign in with (AUTH_PROVIDERS), in configuration order: an app shows a "Sign in with …" button for each.
//	@Tags			providers
//	@Produce		json
//	@Success		200	{object}	ProvidersResponse
//	@Security
//	@Router			/v1/auth/providers [get]
func (h *Auth) listProviders(c echo.Context) error {
	out := ProvidersResponse{Providers: []ProviderInfo{}}
	for _, p := range h.Accounts.Providers() {
		cfg := p.Config()
		out.Providers = append(out.Providers, ProviderInfo{Name: cfg.Name, Type: cfg.Type})
	}
	return c.JSON(http.StatusOK, out)
}

// appRedirect reads and checks an app's redirect URI and its PKCE S256 challenge.
func appRedirect(uri, challenge, method string) (accounts.AppRedirect, error) {
	var errs []problem.FieldError
	if method != "S256" {
		errs = append(errs, problem.FieldError{Field: "code_challenge_method", Message: "must be S256"})
	}
	if b, err := base64.RawURLEncoding.DecodeString(challenge); err != nil || len(b) != 32 {
		errs = append(errs, problem.FieldError{Field: "code_challenge", Message: "must be the base64url SHA-256 of the code verifier (43 characters, no padding)"})
	}
	if uri == "" {
		errs = append(errs, problem.FieldError{Field: "redirect_uri", Message: "is required"})
	}
	if errs != nil {
		return accounts.AppRedirect{}, problem.Invalid(errs...)
	}
	return accounts.AppRedirect{URI: uri, CodeChallenge: challenge}, nil
}

// authorizeProvider godoc
//
//	@ID				authorizeProvider
//	@Summary		Start signing in with a provider
//	@Description	Open this in the browser (not with fetch): it answers 302 to the provider's sign-in page with a fresh state (single use, 10 minutes), a nonce (OpenID Connect) and a PKCE challenge of authsvc's own. The provider comes back to /v1/auth/providers/{name}/callback, which sends the browser on to redirect_uri with a one-time code for POST /v1/auth/providers/exchange. redirect_uri must be one of REDIRECT_URLS exactly; code_challenge is the app's PKCE S256 challenge, which the exchange checks.
//	@Tags			providers
//	@Produce		json
//	@Param			name					path	string	true	"Provider name"
//	@Param			redirect_uri			query	string	true	"Where the app wants the browser back: one of REDIRECT_URLS"
//	@Param			code_challenge			query	string	true	"BASE64URL(SHA-256(code_verifier)), 43 characters"
//	@Param			code_challenge_method	query	string	true	"S256"	Enums(S256)
//	@Success		302
//	@Header			302	{string}	Location	"The provider's authorization endpoint"
//	@Failure		400	{object}	problem.Error	"invalid_redirect_uri, validation_failed"
//	@Failure		404	{object}	problem.Error	"unknown_provider"
//	@Failure		429	{object}	problem.Error	"rate_limited"
//	@Failure		503	{object}	problem.Error	"provider_unavailable"
//	@Security
//	@Router			/v1/auth/providers/{name}/authorize [get]
func (h *Auth) authorizeProvider(c echo.Context) error {
	app, err := appRedirect(c.QueryParam("redirect_uri"), c.QueryParam("code_challenge"), c.QueryParam("code_challenge_method"))
	if err != nil {
		if _, perr := h.Accounts.ProviderConfig(c.Param("name")); perr != nil {
			return perr // an unknown provider first
		}
		return err
	}
	to, err := h.Accounts.ProviderAuthorize(c.Request().Context(), c.Param("name"), app, clientOf(c))
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusFound, to)
}

// providerCallback godoc
//
//	@ID				providerCallback
//	@Summary		The provider's way back
//	@Description	The provider sends the browser here (PUBLIC_URL/v1/auth/providers/{name}/callback: register this URL at the provider). authsvc redeems the code, verifies the ID token (or reads GitHub's user and its primary email), resolves the account, and answers 302 to the app's redirect_uri with ?code=<one-time code> (5 minutes, single use, bound to the app's code_challenge), or ?linked=<name> after a link, or ?error=<code>&error_description=… (access_denied, identity_conflict, identity_taken, signup_disabled, email_required, account_disabled, account_pending, email_unverified, provider_error, signup_denied: the signup hook refused a first sign-in's sign-up, error_description is its reason). Never a token in the URL.
//	@Tags			providers
//	@Produce		json
//	@Param			name				path	string	true	"Provider name"
//	@Param			code				query	string	false	"The provider's authorization code"
//	@Param			state				query	string	true	"The state authorize sent"
//	@Param			error				query	string	false	"The provider's error (OAuth 2.0), e.g. access_denied"
//	@Param			error_description	query	string	false	"The provider's explanation (ignored)"
//	@Success		302
//	@Header			302	{string}	Location	"The app's redirect_uri with code, linked or error"
//	@Failure		400	{object}	problem.Error	"invalid_state: unknown, used or expired"
//	@Failure		404	{object}	problem.Error	"unknown_provider"
//	@Failure		503	{object}	problem.Error	"hook_failed: the signup hook (SIGNUP_HOOK_URL) failed with HOOK_FAILURE=closed (Retry-After)"
//	@Security
//	@Router			/v1/auth/providers/{name}/callback [get]
func (h *Auth) providerCallback(c echo.Context) error {
	to, err := h.Accounts.ProviderCallback(c.Request().Context(), c.Param("name"), accounts.Callback{
		Code: c.QueryParam("code"), State: c.QueryParam("state"), Error: c.QueryParam("error"),
	}, clientOf(c))
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusFound, to)
}

// ProviderExchangeRequest spends a callback's one-time code.
type ProviderExchangeRequest struct {
	Code string `json:"code" validate:"required,max=256" example:"Jx3vQ0k2m8Yb1c4N7p9rT5wZ0aB2dF6hK8mP1sU3xW5"`
	// CodeVerifier is the PKCE verifier whose S256 challenge the app gave authorize.
	CodeVerifier string `json:"code_verifier" validate:"required,max=256" example:"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"`
} // @name ProviderExchangeRequest

// exchangeProviderCode godoc
//
//	@ID				exchangeProviderCode
//	@Summary		Finish signing in with a provider
//	@Description	The one-time code from the callback's redirect and the app's PKCE verifier → the token response (amr ["fed"], idp the provider), or, for a user with TOTP on, mfa_required and an mfa_token for POST /v1/auth/mfa, exactly as a password login. The account's status and lockout apply. The code works once, whatever the outcome.
//	@Description	With COOKIE_MODE=true the refresh token goes in its cookie, as for login.
//	@Tags			providers
//	@Accept			json
//	@Produce		json
//	@Param			body	body		ProviderExchangeRequest	true	"The code and the verifier"
//	@Success		200		{object}	LoginResponse
//	@Header			200		{string}	Set-Cookie	"COOKIE_MODE only: __Host-authsvc_refresh and authsvc_csrf"
//	@Failure		400		{object}	problem.Error	"invalid_grant, validation_failed"
//	@Failure		403		{object}	problem.Error	"account_disabled, account_pending, email_unverified"
//	@Failure		413		{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415		{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Failure		429		{object}	problem.Error	"rate_limited, too_many_attempts"
//	@Failure		503		{object}	problem.Error	"hook_failed: the token hook (TOKEN_HOOK_URL) failed with HOOK_FAILURE=closed (Retry-After)"
//	@Security
//	@Router			/v1/auth/providers/exchange [post]
func (h *Auth) exchangeProviderCode(c echo.Context) error {
	req, err := decode[ProviderExchangeRequest](c)
	if err != nil {
		return err
	}
	s, err := h.Accounts.ProviderExchange(c.Request().Context(), req.Code, req.CodeVerifier, clientOf(c))
	return h.loginAnswer(c, s, err)
}

// ProviderIDTokenRequest is a native app's sign-in with the provider's SDK.
type ProviderIDTokenRequest struct {
	IDToken string `json:"id_token" validate:"required,max=16384" example:"eyJhbGciOiJSUzI1NiIsImtpZCI6Ii4uLiJ9..."`
	// Nonce is the nonce the app gave the SDK, when it gave one: the token's nonce must be it or its hex SHA-256.
	Nonce string `json:"nonce" validate:"max=256" example:"n-0S6_WzA2Mj"`
} // @name ProviderIDTokenRequest

// signInWithIDToken godoc
//
//	@ID				signInWithIDToken
//	@Summary		Sign in with a provider's ID token (native apps)
//	@Description	For apps that ran the provider's own SDK (Sign in with Apple, Google Sign-In): an OpenID Connect provider's ID token, verified by the provider's keys, iss, exp, and aud one of PROVIDER_<NAME>_CLIENT_ID and _AUDIENCES. When the token carries a nonce, the body's nonce must equal it or its hex SHA-256 must. The account is resolved as at the callback; the answers are the exchange's.
//	@Tags			providers
//	@Accept			json
//	@Produce		json
//	@Param			name	path		string					true	"Provider name (an oidc one)"
//	@Param			body	body		ProviderIDTokenRequest	true	"The ID token"
//	@Success		200		{object}	LoginResponse
//	@Header			200		{string}	Set-Cookie		"COOKIE_MODE only: __Host-authsvc_refresh and authsvc_csrf"
//	@Failure		400		{object}	problem.Error	"email_required, id_tokens_unsupported, validation_failed"
//	@Failure		401		{object}	problem.Error	"invalid_id_token"
//	@Failure		403		{object}	problem.Error	"account_disabled, account_pending, email_unverified, signup_disabled; signup_denied: the signup hook refused, its reason in detail"
//	@Failure		404		{object}	problem.Error	"unknown_provider"
//	@Failure		409		{object}	problem.Error	"identity_conflict"
//	@Failure		413		{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415		{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Failure		429		{object}	problem.Error	"rate_limited, too_many_attempts"
//	@Failure		503		{object}	problem.Error	"provider_unavailable; hook_failed: the signup or token hook failed with HOOK_FAILURE=closed (Retry-After)"
//	@Security
//	@Router			/v1/auth/providers/{name}/id-token [post]
func (h *Auth) signInWithIDToken(c echo.Context) error {
	if _, err := h.Accounts.ProviderConfig(c.Param("name")); err != nil {
		return err
	}
	req, err := decode[ProviderIDTokenRequest](c)
	if err != nil {
		return err
	}
	s, err := h.Accounts.ProviderIDToken(c.Request().Context(), c.Param("name"), req.IDToken, req.Nonce, clientOf(c))
	return h.loginAnswer(c, s, err)
}

// Identity is an external identity linked to the signed-in user.
type Identity struct {
	ID         string     `json:"id" example:"0193b6c4-7f3e-7cc1-9d0e-1a2b3c4d5e6f"`
	Provider   string     `json:"provider" example:"github"`
	Subject    string     `json:"subject" example:"583231"`
	Email      string     `json:"email" example:"ada@example.com"`
	CreatedAt  time.Time  `json:"created_at" example:"2026-01-02T15:04:05Z"`
	LastUsedAt *time.Time `json:"last_used_at" example:"2026-01-02T15:04:05Z" extensions:"x-nullable"`
} // @name Identity

// IdentitiesResponse lists identities.
type IdentitiesResponse struct {
	Identities []Identity `json:"identities"`
} // @name IdentitiesResponse

func identityView(i *models.Identity) Identity {
	return Identity{ID: i.ID.String(), Provider: i.Provider, Subject: i.Subject, Email: i.Email,
		CreatedAt: i.CreatedAt.UTC(), LastUsedAt: utcPtr(i.LastUsedAt)}
}

// listMyIdentities godoc
//
//	@ID				listMyIdentities
//	@Summary		The signed-in user's linked identities
//	@Description	Each identity at an external provider that signs in to this account: the provider, its subject (the provider's id of the person), the address the provider last gave, and when it was linked and last used.
//	@Tags			providers
//	@Produce		json
//	@Success		200	{object}	IdentitiesResponse
//	@Failure		401	{object}	problem.Error
//	@Failure		403	{object}	problem.Error	"session_required: personal access tokens and service tokens cannot do this"
//	@Security		BearerAuth
//	@Router			/v1/me/identities [get]
func (h *Me) listMyIdentities(c echo.Context) error {
	me, err := actor(c)
	if err != nil {
		return err
	}
	list, err := h.Accounts.Identities(c.Request().Context(), me)
	if err != nil {
		return err
	}
	out := IdentitiesResponse{Identities: make([]Identity, len(list))}
	for i := range list {
		out.Identities[i] = identityView(&list[i])
	}
	return c.JSON(http.StatusOK, out)
}

// LinkIdentityRequest starts linking a provider's identity to the signed-in account.
type LinkIdentityRequest struct {
	RedirectURI         string `json:"redirect_uri" validate:"required,max=2048" example:"https://app.example.com/auth/callback"`
	CodeChallenge       string `json:"code_challenge" validate:"required" example:"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"`
	CodeChallengeMethod string `json:"code_challenge_method" validate:"required" example:"S256"`
	// Password is the account's current password; only an account without one (made by a provider) may leave it out.
	Password string `json:"password" validate:"max=1024" example:"correct horse battery staple"`
} // @name LinkIdentityRequest

// AuthorizeURLResponse is where the app sends the browser next.
type AuthorizeURLResponse struct {
	AuthorizeURL string `json:"authorize_url" example:"https://github.com/login/oauth/authorize?client_id=…&state=…"`
} // @name AuthorizeURLResponse

// linkIdentity godoc
//
//	@ID				linkIdentity
//	@Summary		Start linking a provider's identity
//	@Description	Needs the current password (when the account has one) and a confirmed email address. Returns the provider's URL for the app to open; the callback then links the identity to this account instead of signing in, and redirects to redirect_uri with ?linked=<name>, or ?error=identity_taken when the identity belongs to another account. A notice is mailed to the account's address.
//	@Tags			providers
//	@Accept			json
//	@Produce		json
//	@Param			name	path		string				true	"Provider name"
//	@Param			body	body		LinkIdentityRequest	true	"Where to come back, the app's PKCE challenge, the password"
//	@Success		200		{object}	AuthorizeURLResponse
//	@Failure		400		{object}	problem.Error	"invalid_redirect_uri, validation_failed"
//	@Failure		401		{object}	problem.Error	"invalid_credentials"
//	@Failure		403		{object}	problem.Error	"email_unverified; session_required: personal access tokens and service tokens cannot do this"
//	@Failure		404		{object}	problem.Error	"unknown_provider"
//	@Failure		413		{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415		{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Failure		429		{object}	problem.Error	"too_many_attempts"
//	@Failure		503		{object}	problem.Error	"provider_unavailable"
//	@Security		BearerAuth
//	@Router			/v1/me/identities/{name}/link [post]
func (h *Me) linkIdentity(c echo.Context) error {
	if _, err := h.Accounts.ProviderConfig(c.Param("name")); err != nil {
		return err
	}
	req, err := decode[LinkIdentityRequest](c)
	if err != nil {
		return err
	}
	app, err := appRedirect(req.RedirectURI, req.CodeChallenge, req.CodeChallengeMethod)
	if err != nil {
		return err
	}
	me, err := actor(c)
	if err != nil {
		return err
	}
	to, err := h.Accounts.LinkIdentityStart(c.Request().Context(), me, c.Param("name"), app, req.Password)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, AuthorizeURLResponse{AuthorizeURL: to})
}

// unlinkIdentity godoc
//
//	@ID				unlinkIdentity
//	@Summary		Unlink one of the signed-in user's identities
//	@Description	The sessions opened with it are revoked, and a notice is mailed. Refused while it is the account's only way to sign in (no password, no other identity, no passkey): set a password first (forgot-password).
//	@Tags			providers
//	@Produce		json
//	@Param			id	path	string	true	"Identity id"	format(uuid)
//	@Success		204
//	@Failure		401	{object}	problem.Error
//	@Failure		404	{object}	problem.Error	"identity_not_found"
//	@Failure		409	{object}	problem.Error	"last_login_method"
//	@Failure		403	{object}	problem.Error	"session_required: personal access tokens and service tokens cannot do this"
//	@Security		BearerAuth
//	@Router			/v1/me/identities/{id} [delete]
func (h *Me) unlinkIdentity(c echo.Context) error {
	id, err := pathUUID(c, "id", accounts.ErrIdentityNotFound)
	if err != nil {
		return err
	}
	me, err := actor(c)
	if err != nil {
		return err
	}
	if err := h.Accounts.UnlinkIdentity(c.Request().Context(), me, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
