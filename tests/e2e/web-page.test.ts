import { afterEach, describe, expect, it } from 'vitest';
import { launchBrowser, type BrowserHandle } from '../helpers/browser.js';
import { startDaemon, type DaemonHandle } from '../helpers/daemon.js';

const daemons: DaemonHandle[] = [];
const browsers: BrowserHandle[] = [];
afterEach(async () => {
  for (const b of browsers.splice(0)) await b.close();
  for (const d of daemons.splice(0)) await d.stop();
});

describe('smoke', () => {
  it('loads', async () => {
    const d = await startDaemon();
    daemons.push(d);
    const b = await launchBrowser();
    browsers.push(b);
    await b.page.goto(`${d.url}/#token=${d.token}`);
    await b.page.waitForTimeout(1500);
    console.log(await b.page.locator('#connection').textContent(), await b.page.locator('#state').textContent(), b.page.url());
    await b.page.fill('#say', 'what time is it');
    await b.page.press('#say', 'Enter');
    await b.page.waitForTimeout(3000);
    console.log(await b.page.locator('#conversation').innerText());
    console.log(b.console.join('\n'));
    await b.page.screenshot({ path: '/tmp/kai-web/shot.png', fullPage: true });
  });
});
