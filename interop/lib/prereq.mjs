// Prerequisites that come from outside this repository: Chromium, Python's
// websockets, and the npm packages. In CI a missing one fails the test, so
// that a broken machine never passes as green; elsewhere the test is skipped
// with a message that says what to install.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';

export const inCI = !!process.env.CI && !['0', 'false'].includes(process.env.CI.toLowerCase());

// Debian's packages by default; the variables are for other machines.
export const CHROMIUM = process.env.INTEROP_CHROMIUM || '/usr/bin/chromium';
// Debian's Python, which python3-websockets installs into; a python3 found
// first on PATH (pyenv, a virtualenv) may not have the module.
export const PYTHON = process.env.INTEROP_PYTHON || '/usr/bin/python3';

// need returns true when ok; otherwise it fails the test in CI and skips it
// elsewhere, and returns false so the test can return early.
export function need(t, ok, what, fix) {
  if (ok) return true;
  const msg = `missing prerequisite: ${what} (${fix})`;
  if (inCI) throw new Error(`${msg}; CI=true, so this is a failure, not a skip`);
  t.skip(msg);
  return false;
}

// importOrNull loads an npm package, or returns null if it is not installed.
export async function importOrNull(name) {
  try {
    return await import(name);
  } catch (err) {
    if (err.code === 'ERR_MODULE_NOT_FOUND') return null;
    throw err;
  }
}

export async function needModule(t, name) {
  const mod = await importOrNull(name);
  return need(t, mod !== null, `npm package ${name}`, 'run npm ci in interop/') ? mod : null;
}

export function needChromium(t) {
  return need(t, existsSync(CHROMIUM), CHROMIUM, 'apt-get install chromium');
}

let pythonCheck;
export async function needPythonWebsockets(t) {
  pythonCheck ??= new Promise((resolve) => {
    if (!existsSync(PYTHON)) return resolve(false);
    execFile(PYTHON, ['-c', 'import websockets'], { timeout: 10_000 }, (err) => resolve(!err));
  });
  return need(t, await pythonCheck, `${PYTHON} with the websockets module`, 'apt-get install python3-websockets');
}
