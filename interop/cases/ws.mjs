// examples/echo against Node's ws client: sizes around every payload length
// boundary of RFC 6455 section 5.2 (125, 126, 65535, 65536) up to the 16 MiB
// read limit, fragmentation, ping, close codes and UTF-8 validation.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { start } from '../lib/servers.mjs';
import { needModule } from '../lib/prereq.mjs';

const TIMEOUT_MS = 30_000; // per test; the 16 MiB round trips take well under a second
const WAIT_MS = 10_000; // for any single event

// withTimeout rejects if promise has not settled within ms.
function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// connect starts a fresh echo server with the given arguments and opens a
// ws client to it; both are closed when the test ends.
async function connect(t, args) {
  const ws = await needModule(t, 'ws');
  if (!ws) return {};
  const server = await start('echo', t, args);
  const client = new ws.WebSocket(server.wsURL, { maxPayload: 32 << 20 });
  t.after(() => client.terminate());
  await withTimeout(once(client, 'open'), WAIT_MS, 'the connection to open');
  return { server, client };
}

// nextMessage resolves with the next message as { data: Buffer, isBinary }.
function nextMessage(client) {
  return withTimeout(new Promise((resolve, reject) => {
    client.once('message', (data, isBinary) => resolve({ data, isBinary }));
    client.once('close', (code) => reject(new Error(`closed with ${code} before a message arrived`)));
  }), WAIT_MS, 'a message');
}

function closeEvent(client) {
  return withTimeout(once(client, 'close'), WAIT_MS, 'the close event')
    .then(([code, reason]) => ({ code, reason: reason.toString() }));
}

// textOfLength returns valid UTF-8 of exactly n bytes, mixing one- to
// four-byte characters so the server's UTF-8 check sees all of them.
function textOfLength(n) {
  const unit = 'aé你😀'; // 1 + 2 + 3 + 4 = 10 bytes
  return Buffer.from(unit.repeat(Math.floor(n / 10)) + 'a'.repeat(n % 10));
}

function binaryOfLength(n) {
  const buf = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) buf[i] = (i * 31 + (i >> 8)) & 0xff;
  return buf;
}

const sizes = [0, 125, 126, 65535, 65536, 16 * 1024 * 1024];

// Every case runs against both ways the echo serves: a goroutine per
// connection (Upgrader.Handler) and callbacks (-events, EventHandler).
for (const args of [[], ['-events']]) {
  describe(['ws client against examples/echo', ...args].join(' '), () => {
    for (const binary of [false, true]) {
      const kind = binary ? 'binary' : 'text';
      test(`${kind} messages of ${sizes.join(', ')} bytes are echoed byte-exact`, { timeout: TIMEOUT_MS }, async (t) => {
        const { client } = await connect(t, args);
        if (!client) return;
        for (const n of sizes) {
          const payload = binary ? binaryOfLength(n) : textOfLength(n);
          assert.equal(payload.length, n);
          const reply = nextMessage(client);
          client.send(payload, { binary });
          const { data, isBinary } = await reply;
          assert.equal(isBinary, binary, `${n}-byte ${kind} message came back as ${isBinary ? 'binary' : 'text'}`);
          assert.equal(data.length, n, `${n}-byte ${kind} message came back with ${data.length} bytes`);
          assert.ok(data.equals(payload), `${n}-byte ${kind} message came back with different bytes`);
        }
      });
    }

    test('a fragmented message is echoed whole', { timeout: TIMEOUT_MS }, async (t) => {
      const { client } = await connect(t, args);
      if (!client) return;
      for (const binary of [false, true]) {
        const reply = nextMessage(client);
        client.send('first half, ', { binary, fin: false });
        client.send('second half', { binary, fin: true });
        const { data, isBinary } = await reply;
        assert.equal(isBinary, binary);
        assert.equal(data.toString(), 'first half, second half');
      }
    });

    test('a ping is answered by a pong with the same payload', { timeout: TIMEOUT_MS }, async (t) => {
      const { client } = await connect(t, args);
      if (!client) return;
      const payload = Buffer.from('ping payload \x00\xff', 'latin1');
      const pong = withTimeout(once(client, 'pong'), WAIT_MS, 'the pong');
      client.ping(payload);
      const [data] = await pong;
      assert.ok(data.equals(payload), `pong payload ${data.toString('hex')} != ${payload.toString('hex')}`);
    });

    test('close 4000 "done" is echoed to the client and logged by the server', { timeout: TIMEOUT_MS }, async (t) => {
      const { server, client } = await connect(t, args);
      if (!client) return;
      const closed = closeEvent(client);
      client.close(4000, 'done');
      await server.waitForLine('closed 4000', { timeoutMs: WAIT_MS });
      // RFC 6455 section 5.5.1 only says the answer "typically" echoes the
      // code; this suite asks for the reason too, so a peer can tell which
      // close was answered.
      assert.deepEqual(await closed, { code: 4000, reason: 'done' },
        'the close frame the server sent back must carry code 4000 and reason "done"');
    });

    test('invalid UTF-8 in a text message is answered with close 1007', { timeout: TIMEOUT_MS }, async (t) => {
      const { client } = await connect(t, args);
      if (!client) return;
      const closed = closeEvent(client);
      client.send(Buffer.from([0xff, 0xfe]), { binary: false });
      const { code } = await closed;
      assert.equal(code, 1007);
    });
  });
}
