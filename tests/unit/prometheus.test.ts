import { describe, expect, it } from 'vitest';
import { Counter, escapeLabelValue, Gauge, Histogram, PROMETHEUS_CONTENT_TYPE, Registry, registerProcessMetrics } from '../../src/metrics/prometheus.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Parsed {
  help: Map<string, string>;
  type: Map<string, string>;
  samples: Sample[];
}

/** A strict reader of the text format 0.0.4: every line must be a comment we know or a sample. */
function parse(text: string): Parsed {
  expect(text.endsWith('\n')).toBe(true);
  const out: Parsed = { help: new Map(), type: new Map(), samples: [] };
  for (const line of text.slice(0, -1).split('\n')) {
    const help = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (help) {
      out.help.set(help[1]!, help[2]!.replace(/\\(\\|n)/g, (_, c: string) => (c === 'n' ? '\n' : '\\')));
      continue;
    }
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      out.type.set(type[1]!, type[2]!);
      continue;
    }
    out.samples.push(parseSample(line));
  }
  return out;
}

function parseSample(line: string): Sample {
  const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0];
  if (!name) throw new Error(`not a sample line: ${line}`);
  let i = name.length;
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i += 1;
    while (line[i] !== '}') {
      const label = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(line.slice(i));
      if (!label) throw new Error(`bad label at ${i} in: ${line}`);
      i += label[0].length;
      let value = '';
      for (;;) {
        const c = line[i];
        if (c === undefined) throw new Error(`unterminated label value in: ${line}`);
        i += 1;
        if (c === '"') break;
        if (c === '\\') {
          const next = line[i];
          i += 1;
          if (next === 'n') value += '\n';
          else if (next === '\\' || next === '"') value += next;
          else throw new Error(`bad escape \\${next} in: ${line}`);
        } else value += c;
      }
      labels[label[1]!] = value;
      if (line[i] === ',') i += 1;
      else if (line[i] !== '}') throw new Error(`expected , or } at ${i} in: ${line}`);
    }
    i += 1;
  }
  const rest = line.slice(i);
  const value = /^ (\S+)$/.exec(rest)?.[1];
  if (value === undefined) throw new Error(`bad value in: ${line}`);
  const number = value === '+Inf' ? Infinity : value === '-Inf' ? -Infinity : Number(value);
  if (value !== 'NaN' && Number.isNaN(number)) throw new Error(`bad number in: ${line}`);
  return { name, labels, value: number };
}

const find = (p: Parsed, name: string, labels: Record<string, string> = {}) =>
  p.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));

describe('Registry.render (text format 0.0.4)', () => {
  it('writes HELP and TYPE before the samples, an unlabelled metric from the start, and ends with a newline', () => {
    const registry = new Registry();
    registry.counter({ name: 'a_total', help: 'Things.' });
    registry.gauge({ name: 'b', help: 'Level.' });
    expect(registry.render()).toBe('# HELP a_total Things.\n# TYPE a_total counter\na_total 0\n# HELP b Level.\n# TYPE b gauge\nb 0\n');
    expect(PROMETHEUS_CONTENT_TYPE).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(new Registry().render()).toBe('');
  });

  it('escapes backslash, quote and newline in label values, and backslash and newline in HELP', () => {
    const registry = new Registry();
    const counter = registry.counter({ name: 'odd_total', help: 'A help with \\ and\nnewline "quotes".', labelNames: ['v'] });
    const nasty = 'C:\\dir "quoted"\nnext line';
    counter.inc({ v: nasty }, 2);
    const text = registry.render();
    expect(text).toContain('# HELP odd_total A help with \\\\ and\\nnewline "quotes".\n');
    expect(text).toContain('odd_total{v="C:\\\\dir \\"quoted\\"\\nnext line"} 2\n');
    expect(text.split('\n')).toHaveLength(4); // HELP, TYPE, one sample, then '' after the final newline
    const parsed = parse(text);
    expect(parsed.help.get('odd_total')).toBe('A help with \\ and\nnewline "quotes".');
    expect(parsed.samples).toEqual([{ name: 'odd_total', labels: { v: nasty }, value: 2 }]);
    expect(escapeLabelValue('a"b')).toBe('a\\"b');
  });

  it('counts per label set and keeps the declared label order', () => {
    const registry = new Registry();
    const calls = registry.counter({ name: 'calls_total', help: 'Calls.', labelNames: ['tool', 'ok'] });
    calls.inc({ ok: 'true', tool: 'grep' });
    calls.inc({ tool: 'grep', ok: 'true' }, 2);
    calls.inc({ tool: 'grep', ok: 'false' });
    const text = registry.render();
    expect(text).toContain('calls_total{tool="grep",ok="true"} 3\n');
    expect(text).toContain('calls_total{tool="grep",ok="false"} 1\n');
    expect(calls.get({ tool: 'grep', ok: 'true' })).toBe(3);
    expect(() => calls.inc({ tool: 'grep' })).toThrow(/takes the labels \{tool, ok\}/);
    expect(() => calls.inc({ tool: 'grep', ok: 'true', extra: 'x' })).toThrow(TypeError);
    expect(() => calls.inc({ tool: 'grep', ok: 'true' }, -1)).toThrow(RangeError);
  });

  it('gauges set, inc and dec, or read a collect callback at render time', () => {
    const registry = new Registry();
    const g = registry.gauge({ name: 'level', help: 'L.', labelNames: ['k'] });
    g.set({ k: 'a' }, 5);
    g.inc({ k: 'a' }, 2);
    g.dec({ k: 'a' });
    g.dec({ k: 'b' }, 0.5);
    let n = 1;
    registry.gauge({ name: 'live', help: 'Live.', collect: () => n });
    registry.gauge({ name: 'by_kind', help: 'K.', labelNames: ['kind'], collect: () => [{ labels: { kind: 'x' }, value: n * 10 }] });
    n = 7;
    const parsed = parse(registry.render());
    expect(find(parsed, 'level', { k: 'a' })[0]?.value).toBe(6);
    expect(find(parsed, 'level', { k: 'b' })[0]?.value).toBe(-0.5);
    expect(find(parsed, 'live')[0]?.value).toBe(7);
    expect(find(parsed, 'by_kind')).toEqual([{ name: 'by_kind', labels: { kind: 'x' }, value: 70 }]);
  });

  it('skips a metric whose collect callback throws instead of failing the whole page', () => {
    const registry = new Registry();
    registry.gauge({ name: 'broken', help: 'B.', collect: () => { throw new Error('boom'); } });
    registry.gauge({ name: 'fine', help: 'F.', collect: () => 1 });
    expect(registry.render()).toBe('# HELP fine F.\n# TYPE fine gauge\nfine 1\n');
  });

  it('renders histogram buckets cumulatively with +Inf, _sum and _count', () => {
    const registry = new Registry();
    const h = registry.histogram({ name: 'lat_seconds', help: 'Latency.', labelNames: ['stage'], buckets: [0.1, 0.5, 1] });
    for (const v of [0.05, 0.1, 0.3, 0.7, 2, 20]) h.observe({ stage: 'llm' }, v);
    h.observe({ stage: 'stt' }, 0.2);
    const text = registry.render();
    const parsed = parse(text);
    expect(parsed.type.get('lat_seconds')).toBe('histogram');
    const buckets = find(parsed, 'lat_seconds_bucket', { stage: 'llm' }).map((s) => [s.labels.le, s.value]);
    // 0.1 is inclusive (le = "less than or equal").
    expect(buckets).toEqual([['0.1', 2], ['0.5', 3], ['1', 4], ['+Inf', 6]]);
    expect(find(parsed, 'lat_seconds_count', { stage: 'llm' })[0]?.value).toBe(6);
    expect(find(parsed, 'lat_seconds_sum', { stage: 'llm' })[0]?.value).toBeCloseTo(23.15, 10);
    expect(find(parsed, 'lat_seconds_bucket', { stage: 'stt' }).map((s) => s.value)).toEqual([0, 1, 1, 1]);
    expect(text).toContain('lat_seconds_bucket{stage="llm",le="+Inf"} 6\n');
    // Every bucket series is non-decreasing and +Inf equals _count.
    for (const stage of ['llm', 'stt']) {
      const values = find(parsed, 'lat_seconds_bucket', { stage }).map((s) => s.value);
      expect([...values].sort((a, b) => a - b)).toEqual(values);
      expect(values.at(-1)).toBe(find(parsed, 'lat_seconds_count', { stage })[0]?.value);
    }
    expect(h.get({ stage: 'stt' })).toEqual({ count: 1, sum: 0.2 });
  });

  it('an unlabelled histogram shows zero buckets before any observation', () => {
    const registry = new Registry();
    registry.histogram({ name: 'h', help: 'H.', buckets: [1, 2] });
    expect(registry.render()).toBe('# HELP h H.\n# TYPE h histogram\nh_bucket{le="1"} 0\nh_bucket{le="2"} 0\nh_bucket{le="+Inf"} 0\nh_sum 0\nh_count 0\n');
  });

  it('rejects bad names, reserved labels, unsorted buckets and duplicates', () => {
    expect(() => new Counter({ name: 'bad-name', help: '' })).toThrow(TypeError);
    expect(() => new Gauge({ name: 'ok', help: '', labelNames: ['__x'] })).toThrow(TypeError);
    expect(() => new Gauge({ name: 'ok', help: '', labelNames: ['a', 'a'] })).toThrow(TypeError);
    expect(() => new Histogram({ name: 'h', help: '', labelNames: ['le'], buckets: [1] })).toThrow(TypeError);
    expect(() => new Histogram({ name: 'h', help: '', buckets: [2, 1] })).toThrow(TypeError);
    expect(() => new Histogram({ name: 'h', help: '', buckets: [] })).toThrow(TypeError);
    expect(() => new Histogram({ name: 'h', help: '', buckets: [1] }).observe(Number.NaN)).toThrow(RangeError);
    const registry = new Registry();
    registry.counter({ name: 'x_total', help: '' });
    expect(() => registry.gauge({ name: 'x_total', help: '' })).toThrow(/already registered/);
  });

  it('process metrics are plausible and parse', () => {
    const registry = new Registry();
    registerProcessMetrics(registry);
    const timer = setInterval(() => undefined, 60_000);
    try {
      const parsed = parse(registry.render());
      const one = (name: string) => {
        const s = find(parsed, name);
        expect(s, name).toHaveLength(1);
        return s[0]!.value;
      };
      expect(one('process_resident_memory_bytes')).toBeGreaterThan(1_000_000);
      expect(one('process_heap_bytes')).toBeGreaterThan(100_000);
      expect(one('process_cpu_seconds_total')).toBeGreaterThan(0);
      expect(parsed.type.get('process_cpu_seconds_total')).toBe('counter');
      const start = one('process_start_time_seconds');
      expect(start).toBeLessThanOrEqual(Date.now() / 1000);
      expect(start).toBeGreaterThan(Date.now() / 1000 - 3600);
      const total = one('nodejs_active_handles_total');
      const byType = find(parsed, 'nodejs_active_handles');
      expect(byType.find((s) => s.labels.type === 'Timeout')?.value).toBeGreaterThanOrEqual(1);
      expect(byType.reduce((sum, s) => sum + s.value, 0)).toBe(total);
    } finally {
      clearInterval(timer);
    }
  });
});
