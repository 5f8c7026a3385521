// permessage-deflate (RFC 7692) against Node's ws: examples/echo, which
// turns compression on, with every combination of the ws client's
// serverNoContextTakeover, clientNoContextTakeover, serverMaxWindowBits
// and clientMaxWindowBits; and the library's own client
// (interop/dialclient) against a ws server in each of its modes.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { build, start } from '../lib/servers.mjs';
import { needModule } from '../lib/prereq.mjs';

const TIMEOUT_MS = 30_000;
const WAIT_MS = 10_000;

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function nextMessage(client) {
  return withTimeout(new Promise((resolve, reject) => {
    client.once('message', (data, isBinary) => resolve({ data, isBinary }));
    client.once('close', (code, reason) => reject(new Error(`closed with ${code} ${reason} before a message arrived`)));
  }), WAIT_MS, 'a message');
}

// The messages of every mode: below ws's threshold and above it, text that
// repeats from message to message (context takeover pays), random bytes
// (compression does not), and a fragmented message.
function messages() {
  const out = [];
  for (let i = 0; i < 20; i++) {
    out.push({ data: Buffer.from(JSON.stringify({ type: 'message', id: i, user: `user${i % 3}`, text: `你好 ${'la'.repeat(i * 5)}` })), binary: false });
  }
  out.push({ data: Buffer.from('tiny'), binary: false });
  const noise = Buffer.allocUnsafe(3000);
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
  out.push({ data: noise, binary: true });
  out.push({ data: Buffer.from('the same line again\n'.repeat(20000)), binary: false });
  return out;
}

// The offers: each of the four parameters absent and present, the window
// sizes at both ends of their range.
const combos = [];
for (const serverNoContextTakeover of [false, true]) {
  for (const clientNoContextTakeover of [false, true]) {
    for (const serverMaxWindowBits of [undefined, 8, 15]) {
      for (const clientMaxWindowBits of [true, 8, 15]) {
        combos.push({ serverNoContextTakeover, clientNoContextTakeover, serverMaxWindowBits, clientMaxWindowBits });
      }
    }
  }
}

describe('ws client with perMessageDeflate against examples/echo', () => {
  for (const opts of combos) {
    test(JSON.stringify(opts), { timeout: TIMEOUT_MS }, async (t) => {
      const ws = await needModule(t, 'ws');
      if (!ws) return;
      const server = await start('echo', t);
      const client = new ws.WebSocket(server.wsURL, {
        maxPayload: 32 << 20,
        perMessageDeflate: { ...opts, threshold: 64 },
      });
      t.after(() => client.terminate());
      // client.extensions names the extensions only: what was agreed is in
      // the server's answer.
      let agreed = '';
      client.once('upgrade', (res) => { agreed = res.headers['sec-websocket-extensions'] ?? ''; });
      await withTimeout(once(client, 'open'), WAIT_MS, 'the connection to open');
      assert.match(agreed, /^permessage-deflate/, 'the server did not accept the offer');
      if (opts.serverMaxWindowBits) {
        // The same or a smaller window (RFC 7692 section 7.1.2.1).
        const bits = Number(/server_max_window_bits=(\d+)/.exec(agreed)?.[1]);
        assert.ok(bits >= 8 && bits <= opts.serverMaxWindowBits, `server_max_window_bits ${bits} in ${agreed}`);
      }
      if (opts.serverNoContextTakeover) {
        assert.match(agreed, /server_no_context_takeover/);
      }
      t.diagnostic(`agreed: ${agreed}`);
      for (const m of messages()) {
        const reply = nextMessage(client);
        if (m.data.length > 10000) {
          // Fragmented: three frames, compressed as one message.
          const third = Math.floor(m.data.length / 3);
          client.send(m.data.subarray(0, third), { binary: m.binary, fin: false });
          client.send(m.data.subarray(third, 2 * third), { binary: m.binary, fin: false });
          client.send(m.data.subarray(2 * third), { binary: m.binary, fin: true });
        } else {
          client.send(m.data, { binary: m.binary });
        }
        const { data, isBinary } = await reply;
        assert.equal(isBinary, m.binary);
        assert.ok(data.equals(m.data), `a ${m.data.length}-byte message came back with ${data.length} different bytes`);
      }
      const closed = withTimeout(once(client, 'close'), WAIT_MS, 'the close');
      client.close(1000, 'done');
      const [code] = await closed;
      assert.equal(code, 1000);
      await server.waitForLine('closed 1000', { timeoutMs: WAIT_MS });
    });
  }
});

// The ws server's modes, against the library's client in the modes that
// ask for something of the server.
const serverModes = [
  {},
  { serverNoContextTakeover: true, clientNoContextTakeover: true },
  { serverMaxWindowBits: 9, clientMaxWindowBits: 10 },
  { serverMaxWindowBits: 15, clientMaxWindowBits: 15 },
];
const clientModes = [[], ['-window', '9', '-peer-window', '10'], ['-no-context-takeover'], ['-window', '15', '-peer-window', '15']];

describe('the library\'s client (Dial) with compression against a ws server', () => {
  for (const serverMode of serverModes) {
    for (const clientArgs of clientModes) {
      test(`server ${JSON.stringify(serverMode)}, client ${clientArgs.join(' ') || 'defaults'}`, { timeout: TIMEOUT_MS }, async (t) => {
        const ws = await needModule(t, 'ws');
        if (!ws) return;
        const bin = await build('interop/dialclient');
        const wss = new ws.WebSocketServer({
          host: '127.0.0.1', port: 0, maxPayload: 32 << 20,
          perMessageDeflate: { ...serverMode, threshold: 64 },
        });
        t.after(() => new Promise((resolve) => wss.close(resolve)));
        wss.on('connection', (conn) => {
          conn.on('message', (data, isBinary) => conn.send(data, { binary: isBinary }));
        });
        await once(wss, 'listening');
        const url = `ws://127.0.0.1:${wss.address().port}/`;
        const { code, stdout, stderr } = await new Promise((resolve) => {
          execFile(bin, ['-url', url, ...clientArgs], { timeout: 20_000, killSignal: 'SIGKILL' },
            (err, stdout, stderr) => resolve({ code: err ? (err.code ?? err.signal) : 0, stdout, stderr }));
        });
        const output = `stdout:\n${stdout}\nstderr:\n${stderr}`;
        assert.equal(code, 0, `dialclient failed\n${output}`);
        const lines = stdout.trim().split('\n');
        assert.match(lines[0], /^extensions: permessage-deflate/, output);
        assert.match(lines[1], /^\d+ echoes ok$/, output);
        assert.equal(lines[2], 'closed', output);
        t.diagnostic(lines[0]);
      });
    }
  }
});
