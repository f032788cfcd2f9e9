// Runs an edge worker (module syntax: `export default { fetch(request, env, ctx) }`) under
// Node.js 18+ on 127.0.0.1, the way a Workers runtime would call it: each HTTP request becomes a
// WHATWG Request, the worker's Response is written back as it streams.
//
//   node serve.mjs WORKER.js ENV.json PORT [FETCH_LOG]
//
// ENV.json is the worker's `env` (its vars and secrets). With FETCH_LOG, every fetch the worker
// makes is appended there as one JSON line (method, URL without its query and with download
// tokens cut out, status and response headers, or status null and the error of a fetch that
// failed), so a test can see what the worker saw.

import { appendFileSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { webcrypto } from 'node:crypto';

const [workerPath, envPath, port, fetchLog] = process.argv.slice(2);
if (!workerPath || !envPath || !port) {
  console.error('usage: node serve.mjs WORKER.js ENV.json PORT [FETCH_LOG]');
  process.exit(2);
}

// Node 18 has WebCrypto (Ed25519 included) but not yet as the global Workers and jose use.
globalThis.crypto ??= webcrypto;

if (fetchLog) {
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (input, init) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    const log = (fields) => appendFileSync(fetchLog, `${JSON.stringify({
      method: request.method,
      url: `${url.origin}${url.pathname.replace(/^\/d\/[^/]+/, '/d/{token}')}`,
      ...fields,
    })}\n`);
    let response;
    try {
      response = await realFetch(request);
    } catch (error) {
      log({ status: null, error: String(error?.cause?.code ?? error) });
      throw error;
    }
    log({ status: response.status, headers: Object.fromEntries(response.headers) });
    return response;
  };
}

const worker = (await import(pathToFileURL(workerPath).href)).default;
const env = JSON.parse(readFileSync(envPath, 'utf8'));
const ctx = {
  waitUntil(promise) { promise.catch((error) => console.error('waitUntil:', error)); },
  passThroughOnException() {},
};

const server = createServer(async (incoming, outgoing) => {
  const abort = new AbortController();
  outgoing.on('close', () => abort.abort());
  try {
    const headers = new Headers();
    for (let i = 0; i < incoming.rawHeaders.length; i += 2) {
      headers.append(incoming.rawHeaders[i], incoming.rawHeaders[i + 1]);
    }
    // As on Cloudflare: the runtime, not the client, says who the client is.
    headers.set('cf-connecting-ip', incoming.socket.remoteAddress);
    const hasBody = incoming.method !== 'GET' && incoming.method !== 'HEAD';
    const request = new Request(`http://${incoming.headers.host ?? `127.0.0.1:${port}`}${incoming.url}`, {
      method: incoming.method,
      headers,
      body: hasBody ? Readable.toWeb(incoming) : undefined,
      duplex: hasBody ? 'half' : undefined,
      signal: abort.signal,
    });
    const response = await worker.fetch(request, env, ctx);
    const answer = {};
    for (const [name, value] of response.headers) {
      if (name !== 'set-cookie') answer[name] = value;
    }
    const cookies = response.headers.getSetCookie?.() ?? [];
    if (cookies.length) answer['set-cookie'] = cookies;
    outgoing.writeHead(response.status, answer);
    if (response.body && incoming.method !== 'HEAD') {
      // Leaving the loop when the client has gone cancels the body, as a Workers runtime does.
      for await (const chunk of response.body) {
        if (abort.signal.aborted) break;
        if (!outgoing.write(chunk)) await drainedOrClosed(outgoing);
      }
    } else {
      await response.body?.cancel();
    }
    outgoing.end();
  } catch (error) {
    if (abort.signal.aborted) return;
    console.error('edge adapter:', error);
    if (outgoing.headersSent) outgoing.destroy();
    else outgoing.writeHead(500).end();
  }
});

/** Resolves once `outgoing` can take more, or is closed (the client went away). */
function drainedOrClosed(outgoing) {
  return new Promise((resolve) => {
    const done = () => {
      outgoing.off('drain', done);
      outgoing.off('close', done);
      resolve();
    };
    outgoing.on('drain', done);
    outgoing.on('close', done);
  });
}

server.listen(Number(port), '127.0.0.1', () => console.log(`edge worker on 127.0.0.1:${port}`));
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
