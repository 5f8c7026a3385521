// The examples' own pages in Chromium, against the page contracts of
// examples/echo, examples/chat, examples/vote and examples/cluster.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { build, freePort, start } from '../lib/servers.mjs';
import { needBrowser, openPage, PHONE, screenshot, waitForLogItem, waitForText, WAIT_MS } from '../lib/browser.mjs';

const TIMEOUT_MS = 45_000; // per test
// The cluster's tests build it first: the first build of a run compiles a
// NATS server, a minute on a small machine with a cold build cache.
const CLUSTER_TIMEOUT_MS = 120_000 + TIMEOUT_MS;

// join fills the chat's name step and waits for the page's own join.
async function join(page, name) {
  await page.fill('#name', name);
  await page.click('#join');
  await waitForLogItem(page, `${name} joined`, name);
}

async function say(page, text) {
  await page.fill('#text', text);
  await page.click('#send');
}

// aliceAndBob starts the chat with two members in it, each on a page.
async function aliceAndBob(t) {
  const server = await start('chat', t);
  const alice = await openPage(t, server.url);
  const bob = await openPage(t, server.url);
  await join(alice, 'alice');
  await join(bob, 'bob');
  await waitForLogItem(alice, 'bob joined', 'alice');
  return { server, alice, bob };
}

// startCluster starts a node of examples/cluster with args, and returns
// it with its name, node-PORT. Without -nats or -redis the node embeds a
// NATS server, on a free port rather than 4222, so that runs do not meet.
async function startCluster(t, args = []) {
  const bus = args.length > 0 ? args : ['-nats-listen', `127.0.0.1:${await freePort()}`];
  const server = await start('cluster', t, bus);
  server.node = `node-${server.addr.split(':')[1]}`;
  return server;
}

// joinCluster fills the cluster page's name step and waits for the node's
// welcome and the page's own join.
async function joinCluster(page, name, node) {
  await page.fill('#name', name);
  await page.click('#join');
  await waitForLogItem(page, `connected to ${node}`, name);
  await waitForLogItem(page, `${name} joined (${node})`, name);
}

// expectDisabled checks that a closed page's controls, every element
// each selector matches, are disabled.
async function expectDisabled(page, selectors) {
  for (const sel of selectors) {
    const elements = await page.locator(sel).all();
    assert.ok(elements.length > 0, `no ${sel} on the page`);
    for (const el of elements) {
      assert.ok(await el.isDisabled(), `${sel} is still enabled after the close`);
    }
  }
}

describe('Chromium', () => {
  test('echo: the page sends 你好，世界 and shows the echo', { timeout: TIMEOUT_MS }, async (t) => {
    if (!(await needBrowser(t))) return;
    const server = await start('echo', t);
    const page = await openPage(t, server.url);
    await waitForLogItem(page, /^connected/);
    await page.fill('#text', '你好，世界');
    await page.click('#send');
    await waitForLogItem(page, '→ 你好，世界');
    await waitForLogItem(page, '← 你好，世界');
    await screenshot(page, 'echo');
  });

  test('echo: the page and the server agree on permessage-deflate, and 1 MiB of Chinese text comes back whole', { timeout: TIMEOUT_MS }, async (t) => {
    if (!(await needBrowser(t))) return;
    const server = await start('echo', t);
    const page = await openPage(t, server.url);
    // Both sides say what was agreed: the page's ws.extensions, and the
    // server's log of Conn.Extensions.
    await waitForLogItem(page, /^connected, permessage-deflate/);
    await server.waitForLine('extensions: permessage-deflate', { timeoutMs: WAIT_MS });
    const extensions = await page.evaluate(() => ws.extensions);
    t.diagnostic(`ws.extensions: ${extensions}`);
    // 1 MiB of UTF-8: three bytes a character, with a line that changes.
    const same = await page.evaluate(() => new Promise((resolve) => {
      let big = '';
      for (let i = 0; big.length < (1 << 20) / 3; i++) big += `第${i}行：你好，世界。`;
      ws.addEventListener('message', (e) => resolve(e.data === big), { once: true });
      ws.send(big);
    }));
    assert.ok(same, 'the 1 MiB message came back different');
  });

  test('chat: alice and bob see each other join, talk and leave', { timeout: TIMEOUT_MS }, async (t) => {
    if (!(await needBrowser(t))) return;
    const { server, alice, bob } = await aliceAndBob(t);

    await say(alice, 'hi bob');
    await waitForLogItem(alice, 'alice: hi bob', 'alice');
    await waitForLogItem(bob, 'alice: hi bob', 'bob');

    await say(bob, 'hello alice, 你好');
    await waitForLogItem(bob, 'bob: hello alice, 你好', 'bob');
    await waitForLogItem(alice, 'bob: hello alice, 你好', 'alice');

    await alice.click('#leave');
    await waitForLogItem(bob, 'alice left', 'bob');
    // The reason after the code is the page's choice; only the code is contract.
    await waitForLogItem(alice, /^closed: 1000\b/, 'alice');
    await server.waitForLine('closed 1000', { timeoutMs: WAIT_MS });

    await screenshot(alice, 'chat-alice');
    await screenshot(bob, 'chat-bob');
  });

  test('vote: a vote in one page updates the count in another', { timeout: TIMEOUT_MS }, async (t) => {
    if (!(await needBrowser(t))) return;
    const server = await start('vote', t);
    const voter = await openPage(t, server.url);
    const watcher = await openPage(t, server.url);

    // Both pages have received every candidate's state once counts show.
    await waitForText(voter, '#count-1', /^\d+$/, 'voter');
    const before = Number(await waitForText(watcher, '#count-1', /^\d+$/, 'watcher'));

    await voter.click('#vote-1');
    await waitForText(watcher, '#count-1', String(before + 1), 'watcher');
    await waitForText(voter, '#count-1', String(before + 1), 'voter');

    // And back the other way, on another candidate.
    const before2 = Number(await waitForText(voter, '#count-2', /^\d+$/, 'voter'));
    await watcher.click('#vote-2');
    await waitForText(voter, '#count-2', String(before2 + 1), 'voter');

    await screenshot(voter, 'vote-voter');
    await screenshot(watcher, 'vote-watcher');
  });

  // On a phone: each page sets its viewport (else Chromium lays it out 980
  // pixels wide and shrinks it), long unbroken text wraps instead of
  // widening the page, and nothing the page asks for fails. A browser
  // with a window asks for /favicon.ico, which the examples do not serve,
  // unless the page names an icon; headless Chromium never asks, so the
  // test checks that the page names one.
  const LONG_WORD = 'token=' + 'eyJhbGciOiJIUzI1NiJ9'.repeat(12); // nowhere to break
  const phone = {
    echo: async (page) => {
      await waitForLogItem(page, /^connected/);
      await page.fill('#text', LONG_WORD);
      await page.click('#send');
      await waitForLogItem(page, '← ' + LONG_WORD);
    },
    chat: async (page) => {
      await join(page, 'dave');
      await say(page, LONG_WORD);
      await waitForLogItem(page, 'dave: ' + LONG_WORD, 'dave');
    },
    vote: (page) => waitForText(page, '#count-1', /^\d+$/),
  };
  for (const [name, use] of Object.entries(phone)) {
    test(`${name}: on a phone the page fits its screen, long text wraps, and nothing 404s`, { timeout: TIMEOUT_MS }, async (t) => {
      if (!(await needBrowser(t))) return;
      const server = await start(name, t);
      const page = await openPage(t, server.url, PHONE);
      await use(page);
      const { inner, scroll } = await page.evaluate(() => ({
        inner: window.innerWidth,
        scroll: document.documentElement.scrollWidth,
      }));
      await screenshot(page, `${name}-phone`);
      assert.equal(inner, PHONE.viewport.width, 'the page is laid out wider than the phone: no <meta name="viewport">, or something too wide to fit');
      assert.ok(scroll <= inner, `the page is ${scroll} pixels wide on a ${inner}-pixel screen: something does not wrap`);
      assert.deepEqual(page.failedRequests, [], 'requests that failed');
      assert.ok(await page.evaluate(() => !!document.querySelector('link[rel~="icon"][href]')),
        'the page names no icon: a browser would ask for /favicon.ico and get 404');
    });
  }

  test('echo: closing shows the code, disables the form, and the server logs the code', { timeout: TIMEOUT_MS }, async (t) => {
    if (!(await needBrowser(t))) return;
    const server = await start('echo', t);
    const page = await openPage(t, server.url);
    await waitForLogItem(page, /^connected/);
    await page.click('#close');
    await waitForLogItem(page, 'closed: 1000 bye');
    await expectDisabled(page, ['#text', '#send', '#close']);
    await server.waitForLine('closed 1000', { timeoutMs: WAIT_MS });
    await screenshot(page, 'echo-closed');
  });

  test('chat: a long paste goes through when it fits the limit, and is held back with a notice when it does not', { timeout: TIMEOUT_MS }, async (t) => {
    if (!(await needBrowser(t))) return;
    const { server, alice, bob } = await aliceAndBob(t);

    // 1,400 Chinese characters: 4,200 bytes, under the 8 KiB limit.
    const fits = '长'.repeat(1400);
    await say(alice, fits);
    await waitForLogItem(bob, 'alice: ' + fits, 'bob');
    await waitForLogItem(alice, 'alice: ' + fits, 'alice');

    // 3,000 of them, 9,000 bytes: not sent, and the page says why.
    const tooLong = '长'.repeat(3000);
    await say(alice, tooLong);
    await waitForText(alice, '#notice', /9000 bytes.*8192/, 'alice');
    assert.ok(await alice.isVisible('#notice'), 'the notice is hidden');
    assert.equal(await alice.inputValue('#text'), tooLong, 'the refused line was cleared from the input');
    await screenshot(alice, 'chat-long-paste');

    // Still connected: the next line reaches bob, and nobody saw a close.
    await say(alice, 'shorter, then');
    await waitForLogItem(bob, 'alice: shorter, then', 'bob');
    for (const [who, page] of [['alice', alice], ['bob', bob]]) {
      const log = await page.locator('#log li').allTextContents();
      assert.ok(!log.some((l) => l.startsWith('closed:') || l === 'alice left'), `${who} saw ${JSON.stringify(log)}`);
      assert.ok(!log.some((l) => l.includes(tooLong)), `${who} received the refused line`);
    }
  });

  test('chat: a line over the limit sent anyway closes with 1009, shown by the page and logged by the server', { timeout: TIMEOUT_MS }, async (t) => {
    if (!(await needBrowser(t))) return;
    const { server, alice, bob } = await aliceAndBob(t);

    // Past the page's own check, as a script in the console would.
    await alice.evaluate(() => ws.send('x'.repeat(9000)));
    await waitForLogItem(alice, /^closed: 1009\b/, 'alice');
    await expectDisabled(alice, ['#text', '#send', '#leave']);
    await waitForLogItem(bob, 'alice left', 'bob');
    await server.waitForLine('closed 1009', { timeoutMs: WAIT_MS });
    await screenshot(alice, 'chat-1009');
  });

  test('vote: a server that stops closes the page with 1001, which shows it and disables the buttons', { timeout: TIMEOUT_MS }, async (t) => {
    if (!(await needBrowser(t))) return;
    const server = await start('vote', t);
    const page = await openPage(t, server.url);
    await waitForText(page, '#count-1', /^\d+$/);
    await server.stop();
    await waitForText(page, '#status', /^closed: 1001\b/);
    await expectDisabled(page, ['#poll button']);
    await server.waitForLine('closed 1001', { timeoutMs: WAIT_MS });
    await screenshot(page, 'vote-closed');
  });

  test('cluster: pages on two nodes chat with each other, each showing the node it is on and the sender\'s', { timeout: CLUSTER_TIMEOUT_MS }, async (t) => {
    if (!(await needBrowser(t))) return;
    await build('cluster');
    // Node a embeds the NATS server, node b joins it.
    const a = await startCluster(t);
    const natsURL = (await a.waitForLine('other nodes join with -nats ')).split('-nats ')[1];
    const b = await startCluster(t, ['-nats', natsURL]);
    const alice = await openPage(t, a.url);
    const bob = await openPage(t, b.url);

    // Bob first: a node subscribes to the bus when its first member
    // joins, so node b hears alice's join, which comes after.
    await joinCluster(bob, 'bob', b.node);
    await joinCluster(alice, 'alice', a.node);
    await waitForLogItem(bob, `alice joined (${a.node})`, 'bob');
    assert.equal(await alice.title(), `Chat on ${a.node}`);
    assert.equal(await bob.title(), `Chat on ${b.node}`);

    await say(alice, 'hi bob');
    await waitForLogItem(bob, `alice (${a.node}): hi bob`, 'bob');
    await waitForLogItem(alice, `alice (${a.node}): hi bob`, 'alice');
    await say(bob, 'hello alice, 你好');
    await waitForLogItem(alice, `bob (${b.node}): hello alice, 你好`, 'alice');
    await waitForLogItem(bob, `bob (${b.node}): hello alice, 你好`, 'bob');
    // Each page marks its own lines, and only those.
    assert.deepEqual(await alice.locator('#log li.mine').allTextContents(), [`alice (${a.node}): hi bob`]);
    assert.deepEqual(await bob.locator('#log li.mine').allTextContents(), [`bob (${b.node}): hello alice, 你好`]);

    await screenshot(alice, 'cluster-a');
    await screenshot(bob, 'cluster-b');
  });

  test('cluster: on a phone the page fits and wraps, holds back a line over the limit, and shows 1001 with its controls disabled when its node stops', { timeout: CLUSTER_TIMEOUT_MS }, async (t) => {
    if (!(await needBrowser(t))) return;
    await build('cluster');
    const server = await startCluster(t);
    const page = await openPage(t, server.url, PHONE);
    await joinCluster(page, 'dave', server.node);
    await say(page, LONG_WORD);
    await waitForLogItem(page, `dave (${server.node}): ${LONG_WORD}`, 'dave');
    await say(page, '长'.repeat(3000)); // 9,000 bytes
    await waitForText(page, '#notice', /9000 bytes.*8192/, 'dave');
    const { inner, scroll } = await page.evaluate(() => ({
      inner: window.innerWidth,
      scroll: document.documentElement.scrollWidth,
    }));
    await screenshot(page, 'cluster-phone');
    assert.equal(inner, PHONE.viewport.width, 'the page is laid out wider than the phone');
    assert.ok(scroll <= inner, `the page is ${scroll} pixels wide on a ${inner}-pixel screen: something does not wrap`);
    assert.deepEqual(page.failedRequests, [], 'requests that failed');
    assert.ok(await page.evaluate(() => !!document.querySelector('link[rel~="icon"][href]')), 'the page names no icon');

    await server.stop();
    await waitForLogItem(page, /^closed: 1001\b/, 'dave');
    await expectDisabled(page, ['#text', '#send', '#leave']);
    await server.waitForLine('closed 1001', { timeoutMs: WAIT_MS });
    await screenshot(page, 'cluster-closed');
  });

  // Closing a tab is "going away" (RFC 6455 section 7.4.1): the browser
  // sends close 1001, and each server logs the code it received.
  const ready = {
    echo: (page) => waitForLogItem(page, /^connected/),
    chat: (page) => join(page, 'carol'),
    vote: (page) => waitForText(page, '#count-1', /^\d+$/),
  };
  for (const [name, isReady] of Object.entries(ready)) {
    test(`${name}: closing the page is seen by the server as close 1001`, { timeout: TIMEOUT_MS }, async (t) => {
      if (!(await needBrowser(t))) return;
      const server = await start(name, t);
      const page = await openPage(t, server.url);
      await isReady(page);
      await screenshot(page, `${name}-before-close`);
      await page.close();
      await server.waitForLine('closed 1001', { timeoutMs: WAIT_MS });
    });
  }
});

// WebSockets over HTTP/2 (RFC 8441). Chromium speaks HTTP/2 only over TLS
// (-tls), and opens a WebSocket as a stream of the page's HTTP/2
// connection, with an extended CONNECT, when the server offers it: Go's
// net/http does when the process starts with GODEBUG=http2xconnect=1.
const H2 = { env: { GODEBUG: 'http2xconnect=1' } };

// pageOverH2 checks, from the page's side, that it came over HTTP/2: the
// protocol of its navigation entry.
async function pageOverH2(page) {
  const proto = await page.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol);
  assert.equal(proto, 'h2', 'the page did not come over HTTP/2');
}

// addrOf returns the client address in an example's log line
// "NAME: ADDR ...".
function addrOf(line) {
  return line.split(' ').find((w) => /^\d+\.\d+\.\d+\.\d+:\d+$/.test(w));
}

// waitForLines waits until the server has logged n lines that match
// pattern, and returns them.
async function waitForLines(server, pattern, n) {
  const found = [];
  let from = 0;
  while (found.length < n) {
    const line = await server.waitForLine(pattern, { timeoutMs: WAIT_MS, from });
    from = server.lines.indexOf(line, from) + 1;
    found.push(line);
  }
  return found;
}

describe('Chromium over HTTP/2 (RFC 8441)', () => {
  for (const args of [[], ['-events']]) {
    const echo = ['echo -tls', ...args].join(' ');
    const shot = ['echo-h2', ...args.map((a) => a.replace(/^-/, ''))].join('-');

    test(`${echo}: the page comes over h2, its WebSocket is an extended CONNECT on the page's connection, 你好，世界 echoes, the server's ping gets the page's pong, and the page's close 4000 reaches the server`, { timeout: TIMEOUT_MS }, async (t) => {
      if (!(await needBrowser(t))) return;
      const server = await start('echo', t, ['-tls', ...args], H2);
      await server.waitForLine('WebSockets over HTTP/2: on');
      const page = await openPage(t, server.url);
      await pageOverH2(page);
      await waitForLogItem(page, /^connected, permessage-deflate/);
      // The server's side: a CONNECT over HTTP/2, from the address that
      // fetched the page, and so on its connection.
      const pageLine = await server.waitForLine('page (HTTP/2.0 GET)', { timeoutMs: WAIT_MS });
      const wsLine = await server.waitForLine(/ connected \(HTTP\/2\.0 CONNECT\), extensions: permessage-deflate/, { timeoutMs: WAIT_MS });
      const addr = addrOf(wsLine);
      assert.equal(addr, addrOf(pageLine), `the WebSocket (${wsLine}) is not on the page's connection (${pageLine})`);
      t.diagnostic(wsLine);

      await page.fill('#text', '你好，世界');
      await page.click('#send');
      await waitForLogItem(page, '→ 你好，世界');
      await waitForLogItem(page, '← 你好，世界');
      // The echo pings each page once it connects; Chromium answers.
      t.diagnostic(await server.waitForLine(`pong from ${addr} in `, { timeoutMs: WAIT_MS }));

      await page.evaluate(() => ws.close(4000, 'done'));
      await waitForLogItem(page, 'closed: 4000 done');
      await expectDisabled(page, ['#text', '#send', '#close']);
      t.diagnostic(await server.waitForLine(`${addr} closed 4000`, { timeoutMs: WAIT_MS }));
      await screenshot(page, shot);
    });

    test(`${echo}: over h2, 1 MiB of Chinese text comes back whole`, { timeout: TIMEOUT_MS }, async (t) => {
      if (!(await needBrowser(t))) return;
      const server = await start('echo', t, ['-tls', ...args], H2);
      const page = await openPage(t, server.url);
      await pageOverH2(page);
      await waitForLogItem(page, /^connected/);
      await server.waitForLine(' connected (HTTP/2.0 CONNECT)', { timeoutMs: WAIT_MS });
      // 1 MiB of UTF-8 (three bytes a character): more than the HTTP/2
      // windows of either side, so flow control has to turn over.
      const same = await page.evaluate(() => new Promise((resolve) => {
        let big = '';
        for (let i = 0; big.length < (1 << 20) / 3; i++) big += `第${i}行：你好，世界。`;
        ws.addEventListener('message', (e) => resolve(e.data === big), { once: true });
        ws.send(big);
      }));
      assert.ok(same, 'the 1 MiB message came back different');
      // No screenshot: the page now shows the megabyte.
    });

    // Closing the page: over HTTP/2, Chromium resets the stream
    // (RST_STREAM CANCEL) and sends no close frame, so the server sees the
    // connection vanish, 1006, where over HTTP/1.1 it gets close 1001.
    test(`${echo}: over h2, closing the page is seen by the server as 1006, the stream reset without a close frame`, { timeout: TIMEOUT_MS }, async (t) => {
      if (!(await needBrowser(t))) return;
      const server = await start('echo', t, ['-tls', ...args], H2);
      const page = await openPage(t, server.url);
      await waitForLogItem(page, /^connected/);
      await server.waitForLine(' connected (HTTP/2.0 CONNECT)', { timeoutMs: WAIT_MS });
      await page.close();
      await server.waitForLine('closed 1006', { timeoutMs: WAIT_MS });
    });
  }

  test('echo -tls without GODEBUG=http2xconnect=1: the page comes over h2, and its WebSocket falls back to HTTP/1.1 on a connection of its own', { timeout: TIMEOUT_MS }, async (t) => {
    if (!(await needBrowser(t))) return;
    // The environment as it is, minus a GODEBUG that might turn it on.
    const server = await start('echo', t, ['-tls'], { env: { GODEBUG: '' } });
    await server.waitForLine('WebSockets over HTTP/2: off');
    const page = await openPage(t, server.url);
    await pageOverH2(page);
    await waitForLogItem(page, /^connected/);
    const pageLine = await server.waitForLine('page (HTTP/2.0 GET)', { timeoutMs: WAIT_MS });
    const wsLine = await server.waitForLine(' connected (HTTP/1.1 GET)', { timeoutMs: WAIT_MS });
    assert.notEqual(addrOf(wsLine), addrOf(pageLine), 'an HTTP/1.1 WebSocket on the page\'s HTTP/2 connection?');
    await page.fill('#text', '你好，世界');
    await page.click('#send');
    await waitForLogItem(page, '← 你好，世界');
    await screenshot(page, 'echo-h2-off');
  });

  test('chat -tls over HTTP/2: alice and bob, each on an extended CONNECT, see each other join and talk', { timeout: TIMEOUT_MS }, async (t) => {
    if (!(await needBrowser(t))) return;
    const server = await start('chat', t, ['-tls'], H2);
    const alice = await openPage(t, server.url);
    const bob = await openPage(t, server.url);
    await pageOverH2(alice);
    await pageOverH2(bob);
    await join(alice, 'alice');
    await join(bob, 'bob');
    await waitForLogItem(alice, 'bob joined', 'alice');
    await say(bob, 'hello alice, 你好');
    await waitForLogItem(alice, 'bob: hello alice, 你好', 'alice');
    // Two pages in two contexts: two HTTP/2 connections, a CONNECT on each.
    const [a, b] = await waitForLines(server, ' connected (HTTP/2.0 CONNECT)', 2);
    assert.notEqual(addrOf(a), addrOf(b));
    await screenshot(bob, 'chat-h2-bob');
  });

  test('vote -tls over HTTP/2: each page\'s WebSocket is an extended CONNECT, and a vote in one updates the count in the other', { timeout: TIMEOUT_MS }, async (t) => {
    if (!(await needBrowser(t))) return;
    const server = await start('vote', t, ['-tls'], H2);
    const voter = await openPage(t, server.url);
    const watcher = await openPage(t, server.url);
    await pageOverH2(voter);
    await waitForText(voter, '#count-1', /^\d+$/, 'voter');
    const before = Number(await waitForText(watcher, '#count-1', /^\d+$/, 'watcher'));
    await voter.click('#vote-1');
    await waitForText(watcher, '#count-1', String(before + 1), 'watcher');
    await waitForLines(server, ' connected (HTTP/2.0 CONNECT)', 2);
    await screenshot(watcher, 'vote-h2-watcher');
  });
});
