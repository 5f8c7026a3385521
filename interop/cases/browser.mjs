// The examples' own pages in Chromium, against the page contracts of
// examples/echo, examples/chat and examples/vote.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { start } from '../lib/servers.mjs';
import { needBrowser, openPage, screenshot, waitForLogItem, waitForText, WAIT_MS } from '../lib/browser.mjs';

const TIMEOUT_MS = 45_000; // per test

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
    const server = await start('chat', t);
    const alice = await openPage(t, server.url);
    const bob = await openPage(t, server.url);

    await join(alice, 'alice');
    await join(bob, 'bob');
    await waitForLogItem(alice, 'bob joined', 'alice');

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
