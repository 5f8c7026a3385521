// Building the examples and running them as real server processes.
//
// Each example is built once per run, into a temporary directory, and every
// test starts its own server on a free 127.0.0.1 port so that no test sees
// another's connections or log lines.

import { spawn, execFile } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const interopDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const repoRoot = path.resolve(interopDir, '..');

const BUILD_TIMEOUT_MS = 120_000;
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 8_000;

let buildDir; // created on the first build, removed by cleanup()
const builds = new Map(); // example name -> Promise<binary path>
const running = new Set(); // servers not yet stopped

// build compiles examples/NAME, or the package at NAME when it has a
// slash (interop/dialclient), once per run and returns the binary's path.
export function build(name) {
  if (!builds.has(name)) builds.set(name, doBuild(name));
  return builds.get(name);
}

async function doBuild(name) {
  const pkg = name.includes('/') ? name : `examples/${name}`;
  const dir = path.join(repoRoot, pkg);
  if (!existsSync(path.join(dir, 'main.go'))) {
    throw new Error(`${pkg}/main.go does not exist in ${repoRoot}`);
  }
  buildDir ??= await mkdtemp(path.join(os.tmpdir(), 'rfc6455-interop-'));
  const out = path.join(buildDir, path.basename(pkg));
  // A folder with a go.mod of its own (examples/cluster, which needs NATS
  // and Redis) is a module apart, which go build from the root cannot
  // see: it is built from inside, outside any workspace, as its own
  // tests build it.
  const own = existsSync(path.join(dir, 'go.mod'));
  const [cwd, target, env] = own
    ? [dir, '.', { ...process.env, GOWORK: 'off' }]
    : [repoRoot, `./${pkg}`, process.env];
  await new Promise((resolve, reject) => {
    execFile('go', ['build', '-o', out, target],
      { cwd, env, timeout: BUILD_TIMEOUT_MS },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`go build ${target} in ${path.relative(repoRoot, cwd) || '.'} failed: ${err.message}\n${stderr}`));
        else resolve();
      });
  });
  return out;
}

// freePort asks the kernel for a port that is free right now. Another
// process could take it before the server binds it; start() retries then,
// for the HTTP port it chooses.
export async function freePort() {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  await once(srv, 'close');
  return port;
}

// Server is one running example: its address, and everything it has
// written to stderr, one entry per line, for tests to wait on. A server
// started with -tls has https and wss URLs.
class Server {
  constructor(name, child, addr, tls) {
    this.name = name;
    this.child = child;
    this.addr = addr;
    this.url = `${tls ? 'https' : 'http'}://${addr}/`;
    this.wsURL = `${tls ? 'wss' : 'ws'}://${addr}/ws`;
    this.lines = [];
    this.exited = false;
    this.waiters = new Set();
    let partial = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop();
      for (const line of parts) this.addLine(line);
    });
    child.stderr.on('end', () => { if (partial) this.addLine(partial); partial = ''; });
    child.stdout.resume(); // the examples log to stderr; never let stdout fill up
    this.exit = once(child, 'exit').then(([code, signal]) => {
      this.exited = true;
      for (const w of this.waiters) w.onExit(code, signal);
      return { code, signal };
    });
  }

  addLine(line) {
    this.lines.push(line);
    for (const w of this.waiters) w.onLine(line);
  }

  // waitForLine resolves with the first stderr line, at index `from` or
  // later, that matches pattern (a RegExp or a substring). It rejects after
  // timeoutMs, or when the process exits first, showing what was logged.
  waitForLine(pattern, { timeoutMs = 10_000, from = 0 } = {}) {
    const matches = (line) => (typeof pattern === 'string' ? line.includes(pattern) : pattern.test(line));
    const found = this.lines.slice(from).find(matches);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const fail = (why) => {
        cleanup();
        reject(new Error(`${this.name}: ${why} waiting for ${pattern} on stderr; it logged:\n  ${this.lines.join('\n  ')}`));
      };
      const w = {
        onLine: (line) => { if (matches(line)) { cleanup(); resolve(line); } },
        onExit: (code, signal) => fail(`exited (code ${code}, signal ${signal})`),
      };
      const timer = setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs);
      const cleanup = () => { clearTimeout(timer); this.waiters.delete(w); };
      this.waiters.add(w);
      if (this.exited) fail('had already exited');
    });
  }

  // stop sends SIGTERM (the examples shut down gracefully on it) and, if
  // the process is still there after a bounded wait, SIGKILL.
  async stop() {
    running.delete(this);
    if (this.exited) return this.exit;
    this.child.kill('SIGTERM');
    let timer;
    const timeout = new Promise((resolve) => { timer = setTimeout(resolve, STOP_TIMEOUT_MS, 'timeout'); });
    const result = await Promise.race([this.exit, timeout]);
    clearTimeout(timer);
    if (result === 'timeout') {
      this.child.kill('SIGKILL');
      return this.exit;
    }
    return result;
  }
}

// start builds examples/NAME if needed, runs it on a free 127.0.0.1 port
// with the extra arguments given, and resolves once it has logged
// "listening on" (with -tls, "listening on https://"). env adds to the
// environment the process inherits: { GODEBUG: 'http2xconnect=1' } turns
// on WebSockets over HTTP/2, which net/http reads when the process starts.
// Pass the test context so the server is stopped when the test ends,
// whatever its outcome.
export async function start(name, t, args = [], { env } = {}) {
  const bin = await build(name);
  const tls = args.includes('-tls');
  let lastError;
  for (let attempt = 0; attempt < 3; attempt++) {
    const addr = `127.0.0.1:${await freePort()}`;
    const child = spawn(bin, ['-addr', addr, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: env ? { ...process.env, ...env } : process.env,
    });
    // A forgotten server must not keep the run alive: the exit handler
    // below kills whatever is left.
    child.unref();
    child.stdout.unref();
    child.stderr.unref();
    const server = new Server(name, child, addr, tls);
    running.add(server);
    t?.after(() => server.stop());
    try {
      await server.waitForLine(tls ? `listening on https://${addr}` : 'listening on', { timeoutMs: START_TIMEOUT_MS });
      await canConnect(addr, name, tls);
      return server;
    } catch (err) {
      lastError = err;
      await server.stop();
      // Only a lost race for the port is worth another try.
      if (!server.lines.some((l) => l.includes('address already in use'))) break;
    }
  }
  throw lastError;
}

// canConnect checks that addr accepts a TCP connection. The examples log
// "listening on" just before they bind, so a server whose port was taken
// logs it and then exits; this catches that before a test connects. With
// tls it completes a TLS handshake too, which a server would otherwise log
// as failed ("TLS handshake error ... EOF"), whatever its certificate.
function canConnect(addr, name, tls = false) {
  const [host, port] = addr.split(':');
  return new Promise((resolve, reject) => {
    const sock = tls
      ? tlsConnect({ host, port: Number(port), rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] })
      : net.connect({ host, port: Number(port) });
    sock.setTimeout(START_TIMEOUT_MS, () => sock.destroy(new Error('connect timed out')));
    sock.once(tls ? 'secureConnect' : 'connect', () => { sock.end(); resolve(); });
    sock.once('error', (err) => reject(new Error(`${name} logged "listening on" but ${addr} refused a connection: ${err.message}`)));
  });
}

// cleanup stops every server still running and removes the built binaries.
export async function cleanup() {
  await Promise.all([...running].map((s) => s.stop()));
  if (buildDir) await rm(buildDir, { recursive: true, force: true });
}

// A server must not outlive the test run, even if the runner is cut short.
process.on('exit', () => {
  for (const s of running) s.child.kill('SIGKILL');
});
