// authsvc passkey demo: plain JavaScript, no framework, no build step.
// The access token lives in this closure only (never in storage or a cookie);
// the refresh token is not kept (the demo does not refresh).
'use strict';
(() => {
  let accessToken = null;
  let ceremony = null; // the AbortController of a running WebAuthn ceremony

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

  // action wraps a handler: status busy, then ok with the handler's message or
  // the error; the action buttons are off meanwhile.
  function action(name, busy, fn) {
    return async (ev) => {
      if (ev) ev.preventDefault();
      setStatus(name, 'busy', busy);
      for (const id of actionButtons) $(id).disabled = true;
      try {
        setStatus(name, 'ok', await fn());
      } catch (err) {
        setStatus(name, 'error', describe(err));
      } finally {
        for (const id of actionButtons) $(id).disabled = false;
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

  signOut();
})();
