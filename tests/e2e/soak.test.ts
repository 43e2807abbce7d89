import { mkdtempSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fileDeviceHome } from '../helpers/alsa.js';
import { connectControl, type ControlClient } from '../helpers/control-client.js';
import { startDaemon, type DaemonHandle } from '../helpers/daemon.js';

const TURNS = 500;
const WARM_UP = 50;

/** One sample of a Prometheus metric without labels. */
function metric(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`no ${name} in /metrics`);
  return Number(line.split(' ')[1]);
}

describe('kai run: soak', () => {
  let d: DaemonHandle | undefined;
  let c: ControlClient | undefined;
  afterAll(async () => {
    await c?.close();
    await d?.stop();
  });

  it(`answers ${TURNS} turns in one process with RSS growth under 20 MB and no leaked handles`, { timeout: 900_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kai-soak-'));
    const files = { inRaw: join(dir, 'in.raw'), outRaw: join(dir, 'out.raw') };
    writeFileSync(files.inRaw, Buffer.alloc(32_000)); // the microphone hears silence
    // --expose-gc: each scrape collects garbage first, so RSS shows what is retained, not V8's laziness
    d = await startDaemon({
      dir,
      config: { audio: { input: 'mic', output: 'speaker' } },
      env: { HOME: fileDeviceHome(join(dir, 'home'), files), NODE_OPTIONS: '--expose-gc' },
    });
    c = await connectControl(d.url, d.token);
    // A fresh connection per scrape (no keep-alive pool), so the test's own sockets do not count as the daemon's.
    const read = () =>
      new Promise<string>((resolve, reject) => {
        get(`${d!.url}/metrics`, { agent: false, headers: { authorization: `Bearer ${d!.token}` } }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve(body));
        }).on('error', reject);
      });
    // Handles come and go (a timer, a child being reaped): the fewest seen over a second at rest is what stays.
    const scrape = async () => {
      const text = await read();
      let handles = metric(text, 'nodejs_active_handles_total');
      for (let i = 0; i < 5; i++) {
        await new Promise((r) => setTimeout(r, 200));
        handles = Math.min(handles, metric(await read(), 'nodejs_active_handles_total'));
      }
      return {
        rss: metric(text, 'process_resident_memory_bytes'),
        heap: metric(text, 'process_heap_bytes'),
        handles,
        turns: metric(text, 'kai_turns_total'),
      };
    };
    let baseline = { rss: 0, heap: 0, handles: 0, turns: 0 };
    const series: string[] = [];
    const started = performance.now();
    for (let turn = 1; turn <= TURNS; turn++) {
      c.send({ type: 'say', text: turn % 2 ? 'what time is it' : "what's the date" });
      const record = await c.next('turn', (m) => m.transcript !== undefined, 30_000);
      expect(record.errors).toEqual([]);
      await c.next('state', (m) => m.value === 'idle');
      if (turn === WARM_UP) baseline = await scrape();
      if (turn % 50 === 0) {
        const at = await scrape();
        series.push(`${turn}: rss ${(at.rss / 1048576).toFixed(0)} heap ${(at.heap / 1048576).toFixed(0)} handles ${at.handles}`);
      }
      c.messages.length = 0; // the client keeps no history either
    }
    const end = await scrape();
    const growthMb = (end.rss - baseline.rss) / 1024 / 1024;
    console.log(series.join('\n'));
    console.log(
      `soak: ${TURNS} turns in ${((performance.now() - started) / 1000).toFixed(0)} s; RSS ${(baseline.rss / 1048576).toFixed(1)} → ${(end.rss / 1048576).toFixed(1)} MB (+${growthMb.toFixed(1)}); handles ${baseline.handles} → ${end.handles}`,
    );
    expect(end.turns).toBe(TURNS);
    expect(growthMb).toBeLessThan(20);
    expect(end.handles).toBeLessThanOrEqual(baseline.handles);
    expect(d.child.exitCode).toBe(null);
  });
});
