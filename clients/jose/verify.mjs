// Verifies one access token with jose, as a JavaScript gateway would: the key
// set fetched from authsvc's JWKS (createRemoteJWKSet), then iss, aud, exp,
// nbf and typ (jwtVerify). Prints the payload as JSON; exits 1 when refused.
//
//   node verify.mjs JWKS_URL ISSUER AUDIENCE TOKEN
import { createRemoteJWKSet, jwtVerify } from 'jose';

const [jwksURL, issuer, audience, token] = process.argv.slice(2);
const jwks = createRemoteJWKSet(new URL(jwksURL));
try {
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    issuer, audience, typ: 'at+jwt', algorithms: ['ES256', 'EdDSA', 'RS256'],
    currentDate: process.env.NOW ? new Date(Number(process.env.NOW) * 1000) : undefined,
  });
  console.log(JSON.stringify({ payload, protectedHeader }));
} catch (err) {
  console.error(`${err.code ?? 'ERR'}: ${err.message}`);
  process.exit(1);
}
