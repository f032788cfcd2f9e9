// An edge worker (Cloudflare Workers module syntax) in front of the download server: it verifies
// each download link itself with jose against the server's JWKS, refuses a bad link without
// calling the origin, and serves a good one. See README.md beside this file for the two delivery
// modes, the settings and the key-rotation rule.

import { createRemoteJWKSet, errors, jwtVerify } from 'jose';

const PROBLEM_TYPE_PREFIX = 'tag:download-server,2026:problem:';
// The download server's own limit (shared::MAX_TOKEN_LEN): longer is refused before any work.
const MAX_TOKEN_LEN = 4096;
// An Ed25519 signature is 64 bytes: 86 base64url characters whose last one carries two bits.
// jose ignores the unused low bits, the origin does not: a link with them set is refused here too.
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{85}[AQgw]$/;
const DOWNLOAD_ROUTE = /^\/d\/([^/]+)(?:\/[^/]+)?$/;
const REDEEM_TIMEOUT_MS = 10_000;
// Headers that describe one hop, or that must not travel from the client to the origin or from
// the origin to the client through this worker.
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'cookie', 'authorization', 'forwarded',
]);
const SECURITY_HEADERS = {
  'cache-control': 'private, no-store',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
};

export default {
  async fetch(request, env, ctx) {
    try {
      return await handle(request, settings(env), ctx);
    } catch (error) {
      if (error instanceof Refusal) return error.respond(request);
      console.error(`edge worker: ${error?.message ?? error}`);
      return new Refusal(500, 'edge_misconfigured', 'Download service misconfigured',
        'The download service cannot serve links right now.').respond(request);
    }
  },
};

async function handle(request, config, ctx) {
  const url = new URL(request.url);
  const route = DOWNLOAD_ROUTE.exec(url.pathname);
  if (!route) throw new Refusal(404, 'no_such_route', 'Not found', 'There is nothing here.');
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    throw new Refusal(405, 'method_not_allowed', 'Method not allowed',
      'Download links answer GET and HEAD only.', { allow: 'GET, HEAD' });
  }
  const token = route[1];
  await verify(token, request, config);
  return config.delivery === 'origin'
    ? proxyToOrigin(request, url.pathname, config)
    : redeemAndServe(token, request, url.pathname, config, ctx);
}

/** The worker's settings, from the environment (`[vars]` and secrets in wrangler.toml). */
function settings(env) {
  const need = (name) => {
    const value = env?.[name];
    if (typeof value !== 'string' || value === '') throw new Error(`${name} is not set`);
    return value;
  };
  const delivery = need('DELIVERY');
  if (delivery !== 'presigned' && delivery !== 'origin') {
    throw new Error(`DELIVERY must be "presigned" or "origin", not ${JSON.stringify(delivery)}`);
  }
  const origin = new URL(need('ORIGIN'));
  return {
    delivery,
    origin,
    jwksUrl: new URL(env.JWKS_URL || '/.well-known/jwks.json', origin),
    issuer: need('ISSUER'),
    audience: need('AUDIENCE'),
    edgeKey: delivery === 'presigned' ? need('EDGE_KEY') : undefined,
    leewaySeconds: seconds(env.LEEWAY_SECONDS, 30),
    jwksCacheSeconds: seconds(env.JWKS_CACHE_SECONDS, 300),
  };
}

function seconds(value, fallback) {
  if (value === undefined || value === '') return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0) throw new Error(`not a number of seconds: ${value}`);
  return number;
}

// One remote key set per isolate, so its cache outlives a request (jose refetches after
// `cacheMaxAge`, and on an unknown `kid` once its 30 s cooldown has passed).
let keySet;
function keys(config) {
  const href = config.jwksUrl.href;
  if (keySet?.href !== href || keySet.cacheSeconds !== config.jwksCacheSeconds) {
    keySet = {
      href,
      cacheSeconds: config.jwksCacheSeconds,
      remote: createRemoteJWKSet(config.jwksUrl, { cacheMaxAge: config.jwksCacheSeconds * 1000 }),
    };
  }
  return keySet.remote;
}

/** Refuses (throws a `Refusal`) unless `token` is a download link the origin would accept. */
async function verify(token, request, config) {
  if (token.length > MAX_TOKEN_LEN || !COMPACT_JWS.test(token)) throw invalidToken();
  try {
    await jwtVerify(token, keys(config), {
      algorithms: ['EdDSA'],
      typ: 'dl+jwt',
      issuer: config.issuer,
      audience: config.audience,
      clockTolerance: config.leewaySeconds,
      requiredClaims: ['jti', 'sub', 'iat', 'exp', 'obj'],
    });
  } catch (error) {
    if (error instanceof errors.JWTExpired) {
      // jose checks claims only after the signature. A download opened before `exp` may still be
      // resumed (a request with Range): only the origin knows whether it is open.
      if (request.headers.has('range')) return;
      throw new Refusal(410, 'expired', 'Download link expired',
        'This download link has expired. Go back and click Download again.');
    }
    if (keysUnavailable(error)) {
      console.error(`edge worker: the JWKS at ${config.jwksUrl.href} cannot be read: ${error.message}`);
      throw unavailable();
    }
    if (error instanceof errors.JOSEError) throw invalidToken();
    throw error;
  }
}

/** The JWKS could not be fetched or parsed (as opposed to a token it does not vouch for). */
function keysUnavailable(error) {
  return !(error instanceof errors.JOSEError)
    || error instanceof errors.JWKSTimeout
    || error instanceof errors.JWKSInvalid
    || error.code === 'ERR_JOSE_GENERIC';
}

// Delivery "origin" (local-folder stores): the origin's own GET /d/{token} opens the download, so
// one store decides and nothing is consumed twice; this worker only keeps bad links away.
async function proxyToOrigin(request, path, config) {
  const headers = new Headers();
  for (const [name, value] of request.headers) {
    if (!HOP_BY_HOP.has(name) && !name.startsWith('cf-') && !name.startsWith('x-forwarded-')) {
      headers.set(name, value);
    }
  }
  // Bytes as stored: a transparently decoded body would not match the origin's Content-Length.
  headers.set('accept-encoding', 'identity');
  const client = request.headers.get('cf-connecting-ip');
  if (client) headers.set('x-forwarded-for', client);
  let response;
  try {
    // No retry: a GET here may have opened the download, and it carries no idempotency key.
    response = await fetch(new URL(path, config.origin), {
      method: request.method, headers, redirect: 'manual',
    });
  } catch (error) {
    console.error(`edge worker: the origin cannot be reached: ${error.message}`);
    throw unavailable();
  }
  const answer = new Headers();
  for (const [name, value] of response.headers) {
    if (!HOP_BY_HOP.has(name) && !name.startsWith('x-accel-')) answer.set(name, value);
  }
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) answer.set(name, value);
  return new Response(request.method === 'HEAD' ? null : response.body, {
    status: response.status, headers: answer,
  });
}

// Delivery "presigned" (S3-compatible stores): POST /v1/redeem opens the download and answers a
// short-lived presigned GET, which this worker streams from the store itself, then reports what
// it sent so that the client can resume.
async function redeemAndServe(token, request, path, config, ctx) {
  if (isSpeculative(request.headers)) {
    throw new Refusal(503, 'prefetch', 'Prefetch not served',
      'Single-use links are not served to speculative prefetches; the link was not used up.');
  }
  const range = request.headers.get('range');
  const idempotencyKey = crypto.randomUUID();
  const answer = await redeem(config, idempotencyKey, {
    token, method: request.method, ...(range === null ? {} : { range }),
  });
  const headers = new Headers({
    'accept-ranges': 'bytes',
    'content-type': answer.content_type,
    'content-disposition': answer.content_disposition,
    'content-length': String(bodyLength(answer)),
    ...SECURITY_HEADERS,
  });
  if (answer.etag) headers.set('etag', answer.etag);
  if (answer.content_range) headers.set('content-range', answer.content_range);
  if (request.method === 'HEAD') return new Response(null, { status: answer.status, headers });
  const report = (sent) => {
    const reported = reportSent(config, idempotencyKey, path, sent);
    if (ctx?.waitUntil) ctx.waitUntil(reported);
  };
  let object;
  try {
    if (!answer.url) {
      throw new Error('the origin gave no presigned URL: its store is a local folder, so set '
        + 'DELIVERY = "origin"');
    }
    object = await fetchObject(answer);
  } catch (error) {
    // Nothing was sent: saying so releases the download the redeem opened, so the link still works.
    report(0);
    throw error;
  }
  return new Response(counted(object.body, report), { status: answer.status, headers });
}

/**
 * `body`, calling `report(bytes)` once when it ends, fails or is cancelled (the client went away),
 * with the bytes passed on so far: what the origin then counts as sent.
 */
function counted(body, report) {
  const reader = body.getReader();
  let sent = 0;
  let reported = false;
  const end = () => {
    if (!reported) {
      reported = true;
      report(sent);
    }
  };
  return new ReadableStream({
    async pull(controller) {
      try {
        const { value, done } = await reader.read();
        if (done) {
          controller.close();
          end();
          return;
        }
        sent += value.byteLength;
        controller.enqueue(value);
      } catch (error) {
        end();
        controller.error(error);
      }
    },
    cancel(reason) {
      end();
      return reader.cancel(reason);
    },
  });
}

/**
 * Tells the origin how many bytes of the download this worker sent (`/v1/handoff/report`, by the
 * redeem's Idempotency-Key), so it closes that stream with them and a resume of the rest is served.
 * A report that fails leaves the stream to time out at the origin; it never fails the download.
 */
async function reportSent(config, idempotencyKey, path, sent) {
  try {
    const response = await fetch(new URL('/v1/handoff/report', config.origin), {
      method: 'POST',
      redirect: 'manual',
      headers: {
        authorization: `Bearer ${config.edgeKey}`,
        'idempotency-key': idempotencyKey,
        'x-original-uri': path,
        'x-bytes-sent': String(sent),
      },
      signal: AbortSignal.timeout(REDEEM_TIMEOUT_MS),
    });
    await response.body?.cancel();
    if (response.status !== 204) {
      console.error(`edge worker: /v1/handoff/report answered ${response.status}`);
    }
  } catch (error) {
    console.error(`edge worker: /v1/handoff/report cannot be reached: ${error.message}`);
  }
}

/** POSTs to /v1/redeem; retries once after a broken connection under the same Idempotency-Key. */
async function redeem(config, idempotencyKey, body) {
  for (let attempt = 1; ; attempt += 1) {
    let response;
    try {
      response = await fetch(new URL('/v1/redeem', config.origin), {
        method: 'POST',
        redirect: 'manual',
        headers: {
          authorization: `Bearer ${config.edgeKey}`,
          'idempotency-key': idempotencyKey,
          'content-type': 'application/json',
          accept: 'application/json',
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(REDEEM_TIMEOUT_MS),
      });
    } catch (error) {
      // The origin may have opened the download before the answer was lost; the same key gets
      // the same answer, so asking again never spends the link twice.
      if (attempt < 2) continue;
      console.error(`edge worker: /v1/redeem cannot be reached: ${error.message}`);
      throw unavailable();
    }
    if (response.status === 200) return response.json();
    if (response.status === 401) {
      throw new Error('the origin refused EDGE_KEY (401 from /v1/redeem): it is not in its --edge-keys');
    }
    throw await relayedRefusal(response);
  }
}

/** The origin's problem+json refusal, passed on as it is; anything else is a broken origin. */
async function relayedRefusal(response) {
  const type = response.headers.get('content-type') ?? '';
  if (type.startsWith('application/problem+json')) {
    const problem = await response.json().catch(() => null);
    const suffix = typeof problem?.type === 'string' && problem.type.startsWith(PROBLEM_TYPE_PREFIX)
      ? problem.type.slice(PROBLEM_TYPE_PREFIX.length) : null;
    if (suffix && typeof problem.title === 'string' && typeof problem.detail === 'string') {
      const extra = {};
      for (const name of ['retry-after', 'content-range', 'allow']) {
        const value = response.headers.get(name);
        if (value !== null) extra[name] = value;
      }
      return new Refusal(response.status, suffix, problem.title, problem.detail, extra);
    }
  }
  await response.body?.cancel();
  console.error(`edge worker: /v1/redeem answered ${response.status} without a problem`);
  return unavailable();
}

/** The body's length: the granted range for a 206, else the whole object. */
function bodyLength(answer) {
  if (answer.status !== 206) return answer.size;
  const [first, last] = grantedRange(answer);
  return last - first + 1;
}

function grantedRange(answer) {
  const range = /^bytes (\d+)-(\d+)\/\d+$/.exec(answer.content_range ?? '');
  if (!range) throw new Error(`/v1/redeem answered 206 with content_range ${answer.content_range}`);
  return [Number(range[1]), Number(range[2])];
}

/** GETs the granted bytes from the presigned URL, pinned to the version the origin granted. */
async function fetchObject(answer) {
  const headers = { 'accept-encoding': 'identity' };
  if (answer.etag) headers['if-match'] = answer.etag;
  if (answer.status === 206) {
    const [first, last] = grantedRange(answer);
    headers.range = `bytes=${first}-${last}`;
  }
  let response;
  try {
    response = await fetch(answer.url, { headers, redirect: 'manual' });
  } catch (error) {
    console.error(`edge worker: the object store cannot be reached: ${error.message}`);
    throw storageUnavailable();
  }
  if (response.status !== answer.status) {
    await response.body?.cancel();
    console.error(`edge worker: the object store answered ${response.status}, not ${answer.status}`);
    throw storageUnavailable();
  }
  return response;
}

/** Speculative loads must not spend a link (the origin's own rule, response_headers.rs). */
function isSpeculative(headers) {
  return ['sec-purpose', 'purpose', 'x-purpose', 'x-moz'].some((name) => {
    const value = headers.get(name)?.toLowerCase() ?? '';
    return value.includes('prefetch') || value.includes('prerender') || value.includes('preview');
  });
}

function invalidToken() {
  return new Refusal(403, 'invalid_token', 'Invalid download link',
    'This download link is not valid. Go back and click Download again.');
}

function unavailable() {
  return new Refusal(503, 'origin_unavailable', 'Temporarily unavailable',
    'The download service cannot check this link right now. Try again in a moment.',
    { 'retry-after': '5' });
}

function storageUnavailable() {
  return new Refusal(503, 'storage_unavailable', 'Storage temporarily unavailable',
    'The file cannot be read right now. Try again in a moment.', { 'retry-after': '5' });
}

/** A refusal, answered as the origin answers one: problem+json, or a page for a browser. */
class Refusal extends Error {
  constructor(status, type, title, detail, headers = {}) {
    super(`${status} ${type}`);
    Object.assign(this, { status, type, title, detail, headers });
  }

  respond(request) {
    const headers = new Headers({ ...SECURITY_HEADERS, vary: 'Accept', ...this.headers });
    if (prefersHtml(request.headers.get('accept'))) {
      headers.set('content-type', 'text/html; charset=utf-8');
      return new Response(htmlPage(this.title, this.detail), { status: this.status, headers });
    }
    headers.set('content-type', 'application/problem+json');
    const body = {
      type: PROBLEM_TYPE_PREFIX + this.type, title: this.title, status: this.status,
      detail: this.detail,
    };
    return new Response(JSON.stringify(body), { status: this.status, headers });
  }
}

/** True when Accept ranks text/html above every JSON type (the origin's negotiate.rs). */
function prefersHtml(accept) {
  if (!accept) return false;
  let html = 0;
  let json = 0;
  for (const item of accept.split(',')) {
    const [media, ...params] = item.split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const weight = q === undefined ? 1 : Number.parseFloat(q.slice(2)) || 0;
    const type = media.trim().toLowerCase();
    if (type === 'text/html' || type === 'application/xhtml+xml') html = Math.max(html, weight);
    if (type === 'application/problem+json' || type === 'application/json') json = Math.max(json, weight);
  }
  return html > 0 && html > json;
}

// A title and detail may come from the origin's answer: escaped before they go into a page.
function htmlPage(title, detail) {
  const escape = (text) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>`
    + `</head><body><h1>${escape(title)}</h1><p>${escape(detail)}</p></body></html>\n`;
}
