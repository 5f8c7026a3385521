// examples/echo against Python's websockets (Debian's python3-websockets),
// driven through echo_client.py.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { start, interopDir } from '../lib/servers.mjs';
import { needPythonWebsockets, PYTHON } from '../lib/prereq.mjs';

const CLIENT_TIMEOUT_MS = 20_000;

for (const args of [[], ['-events']]) {
  test(['python websockets against examples/echo', ...args, ': compression agreed, text and binary round trips and a clean close'].join(' '), { timeout: 40_000 }, async (t) => {
    if (!(await needPythonWebsockets(t))) return;
    const server = await start('echo', t, args);
    const { code, signal, stdout, stderr } = await new Promise((resolve) => {
      execFile(PYTHON, [path.join(interopDir, 'echo_client.py'), server.wsURL],
        { timeout: CLIENT_TIMEOUT_MS, killSignal: 'SIGKILL' },
        (err, stdout, stderr) => resolve({ code: err ? err.code : 0, signal: err?.signal, stdout, stderr }));
    });
    const output = `stdout:\n${stdout}\nstderr:\n${stderr}`;
    assert.equal(signal ?? null, null, `echo_client.py was killed by ${signal} (timeout ${CLIENT_TIMEOUT_MS} ms)\n${output}`);
    assert.equal(code, 0, `echo_client.py exited with ${code}\n${output}`);
    const lines = stdout.trim().split('\n');
    assert.match(lines[0], /^websockets \d+/, output);
    assert.equal(lines[1], 'connected', output);
    assert.match(lines[2], /^extensions: permessage-deflate/, output);
    assert.deepEqual(lines.slice(3), ['text ok', 'binary ok', 'long text ok', 'closed 1000'], output);
    t.diagnostic(lines[2]);
    t.diagnostic(lines[0]);
    await server.waitForLine('closed 1000', { timeoutMs: 10_000 });
  });
}
