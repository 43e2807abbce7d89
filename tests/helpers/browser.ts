import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export interface BrowserOptions {
  /** A WAV file Chromium plays as the microphone (a fake device; the permission is granted). */
  fakeMicrophone?: string;
  /** A phone-sized window with a touch screen. */
  phone?: boolean;
}

export interface BrowserHandle {
  context: BrowserContext;
  page: Page;
  /** Console messages and page errors, for failure messages. */
  console: string[];
  close(): Promise<void>;
}

/** Headless Chromium (Debian's, driven by playwright-core) with a fresh profile and one page. */
export async function launchBrowser(options: BrowserOptions = {}): Promise<BrowserHandle> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install it with apt-get install -y chromium`);
  const profile = mkdtempSync(join(tmpdir(), 'kai-chromium-'));
  const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
  if (options.fakeMicrophone) {
    args.push('--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-audio-capture=${options.fakeMicrophone}`);
  }
  let context: BrowserContext;
  try {
    // launchPersistentContext: the profile is ours (fresh), where launch() would make its own.
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args,
      ...(options.phone ? { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true, deviceScaleFactor: 2 } : {}),
    });
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  const page = context.pages()[0] ?? (await context.newPage());
  const consoleLines: string[] = [];
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  return {
    context,
    page,
    console: consoleLines,
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
