// authsvc passkey demo: plain JavaScript, no framework, no build step.
// The access token lives in this closure only (never in storage or a cookie);
// the refresh token is not kept (the demo does not refresh). A sign-in with an
// external identity provider leaves the page and comes back: only its PKCE
// code verifier waits for that in this tab's sessionStorage (verifierKey).
'use strict';
(() => {
  let accessToken = null;
  let ceremony = null; // the AbortController of a running WebAuthn ceremony
  let busy = false; // an action is running: its buttons are off

  // Where the provider sign-in stores its PKCE verifier, and nothing else,
  // from the click until the page is back (removed as soon as it is read).
  const verifierKey = 'authsvc-demo-provider-pkce';
  // The page's own URL, where authsvc's callback sends the browser back with
  // ?code=… (it must be one of REDIRECT_URLS).
  const redirectURI = location.origin + '/demo/passkeys';

  const $ = (id) => document.getElementById(id);
  const actionButtons = ['login-submit', 'register', 'logout', 'passkey-login', 'show-me'];

  // An error answer of the API: RFC 9457 problem JSON (detail, code).
  class APIError extends Error {
    constructor(status, problem) {
      const code = (problem && problem.code) || 'http_' + status;
      const detail = (problem && (problem.detail || problem.title)) || 'HTTP ' + status;
      super(detail);
      this.name = 'APIError';
      this.status = status;
      this.code = code;
      this.problem = problem;
    }
  }

  // api calls the service on this origin with a JSON body (when body is not
  // undefined) and, when signed in, the access token; it returns the decoded
  // answer or throws an APIError.
  async function api(method, path, body) {
    const headers = { Accept: 'application/json, application/problem+json' };
    const init = { method, headers, credentials: 'omit', cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    if (accessToken) headers.Authorization = 'Bearer ' + accessToken;
    const res = await fetch(path, init);
    const text = await res.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = null; }
    }
    if (!res.ok) throw new APIError(res.status, data);
    return data;
  }

  function setStatus(action, state, text) {
    const s = $('status');
    s.dataset.action = action;
    s.dataset.state = state;
    s.textContent = text;
  }

  function describe(err) {
    if (err instanceof APIError) return 'Error ' + err.status + ' (' + err.code + '): ' + err.message;
    if (err && err.name === 'NotAllowedError') {
      return 'NotAllowedError: the browser or the authenticator refused, or the request was cancelled or timed out (' + err.message + ')';
    }
    if (err && err.name) return err.name + ': ' + err.message;
    return String(err);
  }

  // amrOf reads the amr claim of an access token, for display only (the
  // service checks tokens; the page never trusts what it decodes).
  function amrOf(token) {
    try {
      const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      const claims = JSON.parse(atob(part + '='.repeat((4 - part.length % 4) % 4)));
      return Array.isArray(claims.amr) ? claims.amr : [];
    } catch (e) {
      return [];
    }
  }

  function signIn(tokens) {
    if (!tokens || !tokens.access_token) throw new Error('the answer has no access_token');
    accessToken = tokens.access_token;
    const who = (tokens.user && (tokens.user.username || tokens.user.email)) || 'someone';
    const s = $('session');
    s.dataset.signedIn = 'true';
    s.textContent = 'Signed in as ' + who + ' (amr: ' + amrOf(accessToken).join(', ') + ').';
    return who;
  }

  function signOut() {
    accessToken = null;
    const s = $('session');
    s.dataset.signedIn = 'false';
    s.textContent = 'Signed out.';
  }

  // setBusy turns the action buttons, the providers' included, off or on.
  function setBusy(on) {
    busy = on;
    for (const id of actionButtons) $(id).disabled = on;
    for (const b of $('providers').querySelectorAll('button')) b.disabled = on;
  }

  // action wraps a handler: status busy, then ok with the handler's message or
  // the error; the action buttons are off meanwhile.
  function action(name, busyText, fn) {
    return async (ev) => {
      if (ev) ev.preventDefault();
      setStatus(name, 'busy', busyText);
      setBusy(true);
      try {
        setStatus(name, 'ok', await fn());
      } catch (err) {
        setStatus(name, 'error', describe(err));
      } finally {
        setBusy(false);
        ceremony = null;
        $('cancel').disabled = true;
      }
    };
  }

  // startCeremony gives navigator.credentials an AbortSignal that Cancel fires.
  function startCeremony() {
    ceremony = new AbortController();
    $('cancel').disabled = false;
    return ceremony.signal;
  }

  function requireWebAuthn() {
    if (!window.PublicKeyCredential || typeof PublicKeyCredential.parseCreationOptionsFromJSON !== 'function' ||
        typeof PublicKeyCredential.parseRequestOptionsFromJSON !== 'function') {
      throw new Error('this browser lacks WebAuthn JSON support (PublicKeyCredential.parseCreationOptionsFromJSON); try a current Chrome, Edge, Firefox or Safari');
    }
    if (!window.isSecureContext) throw new Error('passkeys need a secure context: https, or http://localhost');
  }

  $('login-form').addEventListener('submit', action('login', 'Logging in…', async () => {
    const password = $('password').value;
    $('password').value = ''; // typed again for each attempt, kept nowhere
    const tokens = await api('POST', '/v1/auth/login', { login: $('login').value, password });
    if (tokens && tokens.mfa_required) {
      throw new Error('this account has a second factor (' + (tokens.methods || []).join(', ') +
        ') on; the demo logs in with a password alone or with a passkey');
    }
    return 'Logged in with a password as ' + signIn(tokens) + '.';
  }));

  $('register-form').addEventListener('submit', action('register', 'Registering a passkey…', async () => {
    requireWebAuthn();
    if (!accessToken) throw new Error('log in first: registering a passkey needs a signed-in user');
    const password = $('register-password').value;
    $('register-password').value = '';
    const options = await api('POST', '/v1/me/passkeys/register/options', { password });
    setStatus('register', 'busy', 'Waiting for the authenticator…');
    const credential = await navigator.credentials.create({
      publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options.public_key),
      signal: startCeremony(),
    });
    if (!credential) throw new Error('the authenticator made no credential');
    const name = $('passkey-name').value.trim() || 'demo';
    const res = await api('POST', '/v1/me/passkeys/register', {
      challenge_id: options.challenge_id,
      name,
      credential: credential.toJSON(),
    });
    const passkey = (res && res.passkey) || {};
    return 'Passkey "' + (passkey.name || name) + '" registered' + (passkey.id ? ' (id ' + passkey.id + ')' : '') + '.';
  }));

  $('logout').addEventListener('click', action('logout', 'Logging out…', async () => {
    if (!accessToken) {
      signOut();
      return 'Logged out (there was no session here).';
    }
    try {
      await api('POST', '/v1/auth/logout', {});
    } finally {
      signOut(); // the token is forgotten even when the call failed
    }
    return 'Logged out.';
  }));

  $('passkey-login').addEventListener('click', action('passkey-login', 'Logging in with a passkey…', async () => {
    requireWebAuthn();
    const options = await api('POST', '/v1/auth/passkey/options', {});
    setStatus('passkey-login', 'busy', 'Waiting for the authenticator…');
    const assertion = await navigator.credentials.get({
      publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.public_key),
      signal: startCeremony(),
    });
    if (!assertion) throw new Error('the authenticator gave no assertion');
    const tokens = await api('POST', '/v1/auth/passkey/login', {
      challenge_id: options.challenge_id,
      credential: assertion.toJSON(),
    });
    return 'Logged in with a passkey as ' + signIn(tokens) + '.';
  }));

  $('cancel').addEventListener('click', () => {
    if (ceremony) ceremony.abort(new DOMException('cancelled on the page', 'AbortError'));
  });

  $('show-me').addEventListener('click', action('show-me', 'GET /v1/me…', async () => {
    $('me').textContent = '';
    const me = await api('GET', '/v1/me');
    $('me').textContent = JSON.stringify(me, null, 2);
    return 'GET /v1/me answered 200.';
  }));

  // base64url is RFC 4648 base64url without padding, of bytes.
  function base64url(bytes) {
    let bin = '';
    for (const b of new Uint8Array(bytes)) bin += String.fromCharCode(b);
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  // pkce makes a fresh PKCE code verifier (32 random bytes, 43 characters) and
  // its S256 challenge, BASE64URL(SHA-256(verifier)) (RFC 7636).
  async function pkce() {
    if (!window.isSecureContext || !window.crypto || !crypto.subtle) {
      throw new Error('PKCE needs crypto.subtle, which needs a secure context: https, or http://localhost');
    }
    const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
    const challenge = base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
    return { verifier, challenge };
  }

  // providerSignIn starts signing in with provider name: the verifier is
  // stored for the way back, and the browser goes to authsvc's authorize URL,
  // which sends it on to the provider's sign-in page.
  function providerSignIn(name) {
    return action('provider-login', 'Starting the sign-in with ' + name + '…', async () => {
      const { verifier, challenge } = await pkce();
      sessionStorage.setItem(verifierKey, JSON.stringify({ provider: name, verifier }));
      const query = new URLSearchParams({
        redirect_uri: redirectURI, code_challenge: challenge, code_challenge_method: 'S256',
      });
      window.location.assign('/v1/auth/providers/' + encodeURIComponent(name) + '/authorize?' + query);
      return 'Going to the sign-in page of ' + name + '…';
    });
  }

  // loadProviders shows a "Sign in with …" button for each provider of GET
  // /v1/auth/providers.
  async function loadProviders() {
    const box = $('providers');
    let list;
    try {
      list = ((await api('GET', '/v1/auth/providers')) || {}).providers || [];
    } catch (err) {
      box.textContent = 'The providers could not be listed: ' + describe(err);
      return;
    }
    box.textContent = '';
    if (list.length === 0) {
      box.textContent = 'No identity provider is configured (AUTH_PROVIDERS).';
      return;
    }
    for (const p of list) {
      const b = document.createElement('button');
      b.type = 'button';
      b.id = 'provider-' + p.name;
      b.dataset.provider = p.name;
      b.title = p.type === 'github' ? 'GitHub (OAuth)' : 'OpenID Connect';
      b.textContent = 'Sign in with ' + p.name;
      b.disabled = busy;
      b.addEventListener('click', providerSignIn(p.name));
      box.appendChild(b);
    }
  }

  // finishProviderSignIn handles the browser's return from a provider sign-in:
  // the callback sent it here with ?code=… (exchanged, with the stored
  // verifier, for the token response), ?error=…&error_description=… (shown), or
  // ?linked=…. The query leaves the address bar at once, so that a reload or a
  // bookmark does not replay it, and the verifier leaves storage.
  function finishProviderSignIn() {
    const q = new URLSearchParams(location.search);
    if (!q.has('code') && !q.has('error') && !q.has('linked')) return;
    history.replaceState(null, '', location.pathname);
    let started = null;
    try {
      started = JSON.parse(sessionStorage.getItem(verifierKey) || 'null');
    } catch (e) {
      started = null;
    }
    sessionStorage.removeItem(verifierKey);
    const name = (started && started.provider) || 'the provider';
    if (q.has('error')) {
      const detail = q.get('error_description');
      setStatus('provider-login', 'error', 'Sign-in with ' + name + ' failed: ' + q.get('error') + (detail ? ': ' + detail : ''));
      return;
    }
    if (!q.has('code')) {
      setStatus('provider-login', 'ok', 'Linked ' + q.get('linked') + ' to the account.');
      return;
    }
    action('provider-login', 'Finishing the sign-in with ' + name + ' (POST /v1/auth/providers/exchange)…', async () => {
      if (!started || typeof started.verifier !== 'string') {
        throw new Error('this tab holds no PKCE verifier for the code: start the sign-in with a button of this page, in this tab');
      }
      const tokens = await api('POST', '/v1/auth/providers/exchange', { code: q.get('code'), code_verifier: started.verifier });
      if (tokens && tokens.mfa_required) {
        throw new Error('a TOTP code is needed: this account has a second factor (' + (tokens.methods || []).join(', ') +
          ') on, and the sign-in with ' + name + ' waits for it (POST /v1/auth/mfa with the mfa_token); the demo does not take it');
      }
      return 'Signed in with ' + name + ' as ' + signIn(tokens) + '.';
    })();
  }

  signOut();
  loadProviders();
  finishProviderSignIn();
})();
