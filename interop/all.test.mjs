// The whole interop suite in one process, so that each example is built
// once: `npm test` runs this file with Node's test runner.

import { after } from 'node:test';
import { cleanup } from './lib/servers.mjs';
import { closeBrowser, screenshots } from './lib/browser.mjs';

import './cases/ws.mjs';
import './cases/deflate.mjs';
import './cases/python.mjs';
import './cases/browser.mjs';

after(async () => {
  await closeBrowser();
  await cleanup();
  if (screenshots.length > 0) {
    console.log(`screenshots:\n${screenshots.map((p) => `  ${p}`).join('\n')}`);
  }
});
