// The README's walk-through (sign up, log in, GET /v1/me, refresh, log out)
// written against the types openapi-typescript generates from the served
// OpenAPI 3 document into generated/api.d.ts. clients/typescript_test.go
// type-checks it with tsc (a type error fails the test), then runs it
// against a live service: node walkthrough.js <base URL>.
import type { components, paths } from "./generated/api";

declare const process: { argv: string[]; exitCode?: number };

type JSONBody<Op> = Op extends { requestBody?: { content: { "application/json": infer B } } } ? B : never;
type Answer<Op, Status extends number> = Op extends { responses: { [S in Status]: { content: infer C } } }
  ? C[keyof C]
  : never;

type Signup = paths["/v1/auth/signup"]["post"];
type Login = paths["/v1/auth/login"]["post"];
type Me = paths["/v1/me"]["get"];
type Refresh = paths["/v1/auth/refresh"]["post"];
type Logout = paths["/v1/auth/logout"]["post"];
type Problem = components["schemas"]["Problem"];

async function call<T>(base: string, method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token !== undefined) headers["Authorization"] = `Bearer ${token}`;
  const r = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: r.status, body: (await r.json()) as T };
}

function check(ok: boolean, what: string, got: unknown): asserts ok {
  if (!ok) throw new Error(`${what}: ${JSON.stringify(got)}`);
}

async function walkthrough(base: string): Promise<void> {
  const password = "correct-Horse-battery-42";
  const signup: JSONBody<Signup> = { email: "grace@example.com", username: "grace", password, first_name: "Type" };
  const created = await call<Answer<Signup, 201>>(base, "POST", "/v1/auth/signup", signup);
  const user = created.body.user;
  check(created.status === 201 && user?.username === "grace" && user.roles?.includes("user") === true, "signup", created);
  const pending: string | null | undefined = user.pending_email; // null until an email change
  check(pending === null, "signup: pending_email", user);

  const credentials: JSONBody<Login> = { login: "grace", password };
  const login = await call<Answer<Login, 200>>(base, "POST", "/v1/auth/login", credentials);
  const access = login.body.access_token, refreshToken = login.body.refresh_token;
  check(login.status === 200 && login.body.token_type === "Bearer" && access !== undefined && refreshToken !== undefined, "login", login);

  const me = await call<Answer<Me, 200>>(base, "GET", "/v1/me", undefined, access);
  const amr: string[] | undefined = me.body.amr;
  check(me.status === 200 && me.body.user?.email === "grace@example.com" && amr?.[0] === "pwd", "GET /v1/me", me);

  const body: JSONBody<Refresh> = { refresh_token: refreshToken };
  const refreshed = await call<Answer<Refresh, 200>>(base, "POST", "/v1/auth/refresh", body);
  check(refreshed.status === 200 && refreshed.body.session_id === login.body.session_id, "refresh", refreshed);

  const logout = await call<Answer<Logout, 200>>(base, "POST", "/v1/auth/logout", {}, refreshed.body.access_token);
  check(logout.status === 200 && logout.body.message === "Logged out.", "logout", logout);

  const refused = await call<Answer<Me, 401>>(base, "GET", "/v1/me", undefined, refreshed.body.access_token);
  const problem: Problem = refused.body;
  check(refused.status === 401 && problem.code === "session_revoked", "GET /v1/me after logout", refused);
}

walkthrough(process.argv[2]).then(
  () => console.log("walk-through ok"),
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
