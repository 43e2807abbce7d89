/**
 * A tiny Prometheus registry: counters, gauges and histograms with labels, rendered in the text
 * exposition format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/).
 */

export type Labels = Readonly<Record<string, string>>;

/** What a collect callback returns: one unlabelled value, or one value per label set. */
export type Collected = number | readonly { labels: Labels; value: number }[];

export interface MetricOptions {
  name: string;
  help: string;
  /** Every sample carries exactly these labels (default: none). */
  labelNames?: readonly string[];
  /** Called at render time; its result replaces the stored values (for values read from elsewhere). */
  collect?: () => Collected;
}

export interface HistogramOptions extends Omit<MetricOptions, 'collect'> {
  /** Upper bounds, ascending; `+Inf` is added. */
  buckets: readonly number[];
}

/** The Content-Type of `Registry.render()`. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

interface Series<V> {
  labels: Labels;
  value: V;
}

abstract class Metric {
  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];

  constructor(options: Omit<MetricOptions, 'collect'>, reserved: readonly string[] = []) {
    if (!METRIC_NAME.test(options.name)) throw new TypeError(`invalid metric name "${options.name}"`);
    this.name = options.name;
    this.help = options.help;
    this.labelNames = [...(options.labelNames ?? [])];
    for (const label of this.labelNames) {
      if (!LABEL_NAME.test(label) || label.startsWith('__') || reserved.includes(label)) {
        throw new TypeError(`invalid label name "${label}" on ${this.name}`);
      }
    }
    if (new Set(this.labelNames).size !== this.labelNames.length) throw new TypeError(`duplicate label name on ${this.name}`);
  }

  /** The sample lines of this metric (without HELP/TYPE). */
  abstract lines(): string[];

  /** A stable key for a label set, after checking it has exactly the declared names. */
  protected key(labels: Labels): string {
    const names = Object.keys(labels);
    if (names.length !== this.labelNames.length || !this.labelNames.every((n) => typeof labels[n] === 'string')) {
      throw new TypeError(`${this.name} takes the labels {${this.labelNames.join(', ')}}, got {${names.join(', ')}}`);
    }
    return JSON.stringify(this.labelNames.map((n) => labels[n]));
  }

  /** A copy holding only the declared names, in declaration order. */
  protected own(labels: Labels): Labels {
    return Object.fromEntries(this.labelNames.map((n) => [n, labels[n] ?? '']));
  }
}

/** Shared by Counter and Gauge: one number per label set, or a collect callback. */
abstract class ScalarMetric extends Metric {
  protected readonly series = new Map<string, Series<number>>();
  private readonly collect: (() => Collected) | undefined;

  constructor(options: MetricOptions) {
    super(options);
    this.collect = options.collect;
    // An unlabelled metric exists from the start, so rate() and absent() behave.
    if (this.labelNames.length === 0) this.series.set(this.key({}), { labels: {}, value: 0 });
  }

  /** The current value for a label set (0 when never touched). */
  get(labels: Labels = {}): number {
    return this.series.get(this.key(labels))?.value ?? 0;
  }

  /** Forgets every labelled series (unlabelled ones go back to 0). */
  reset(): void {
    this.series.clear();
    if (this.labelNames.length === 0) this.series.set(this.key({}), { labels: {}, value: 0 });
  }

  protected add(labels: Labels, by: number): void {
    const key = this.key(labels);
    const entry = this.series.get(key);
    if (entry) entry.value += by;
    else this.series.set(key, { labels: this.own(labels), value: by });
  }

  protected put(labels: Labels, value: number): void {
    const key = this.key(labels);
    const entry = this.series.get(key);
    if (entry) entry.value = value;
    else this.series.set(key, { labels: this.own(labels), value });
  }

  lines(): string[] {
    if (this.collect) {
      const collected = this.collect();
      this.reset();
      if (typeof collected === 'number') this.put({}, collected);
      else for (const { labels, value } of collected) this.put(labels, value);
    }
    return [...this.series.values()].map((s) => `${this.name}${formatLabels(s.labels)} ${formatValue(s.value)}`);
  }
}

/** Only goes up. */
export class Counter extends ScalarMetric {
  readonly type = 'counter';

  inc(by?: number): void;
  inc(labels: Labels, by?: number): void;
  inc(a?: Labels | number, b?: number): void {
    const [labels, by] = typeof a === 'number' || a === undefined ? [{}, a ?? 1] : [a, b ?? 1];
    if (!(by >= 0)) throw new RangeError(`${this.name} can only go up (inc by ${by})`);
    this.add(labels, by);
  }
}

/** Goes up and down, or reads its value at render time through `collect`. */
export class Gauge extends ScalarMetric {
  readonly type = 'gauge';

  set(value: number): void;
  set(labels: Labels, value: number): void;
  set(a: Labels | number, b?: number): void {
    if (typeof a === 'number') this.put({}, a);
    else this.put(a, b ?? 0);
  }

  inc(by?: number): void;
  inc(labels: Labels, by?: number): void;
  inc(a?: Labels | number, b?: number): void {
    if (typeof a === 'number' || a === undefined) this.add({}, a ?? 1);
    else this.add(a, b ?? 1);
  }

  dec(by?: number): void;
  dec(labels: Labels, by?: number): void;
  dec(a?: Labels | number, b?: number): void {
    if (typeof a === 'number' || a === undefined) this.add({}, -(a ?? 1));
    else this.add(a, -(b ?? 1));
  }
}

interface HistogramValue {
  /** Non-cumulative count per bucket (the last one is +Inf); made cumulative when rendered. */
  counts: number[];
  sum: number;
  count: number;
}

/** Observations (seconds, by convention) counted into buckets. */
export class Histogram extends Metric {
  readonly type = 'histogram';
  readonly buckets: readonly number[];
  private readonly series = new Map<string, Series<HistogramValue>>();

  constructor(options: HistogramOptions) {
    super(options, ['le']);
    const buckets = [...options.buckets];
    if (buckets.length === 0 || buckets.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= (buckets[i - 1] as number)))) {
      throw new TypeError(`${this.name} needs finite buckets in ascending order`);
    }
    this.buckets = buckets;
    if (this.labelNames.length === 0) this.entry({});
  }

  observe(value: number): void;
  observe(labels: Labels, value: number): void;
  observe(a: Labels | number, b?: number): void {
    const [labels, value] = typeof a === 'number' ? [{}, a] : [a, b ?? Number.NaN];
    if (Number.isNaN(value)) throw new RangeError(`${this.name} cannot observe NaN`);
    const entry = this.entry(labels);
    const index = this.buckets.findIndex((upper) => value <= upper);
    const slot = index === -1 ? this.buckets.length : index;
    entry.counts[slot] = (entry.counts[slot] ?? 0) + 1;
    entry.sum += value;
    entry.count += 1;
  }

  /** Count and sum for a label set (tests, summaries). */
  get(labels: Labels = {}): { count: number; sum: number } {
    const entry = this.series.get(this.key(labels))?.value;
    return { count: entry?.count ?? 0, sum: entry?.sum ?? 0 };
  }

  lines(): string[] {
    const out: string[] = [];
    for (const { labels, value } of this.series.values()) {
      let cumulative = 0;
      [...this.buckets, Number.POSITIVE_INFINITY].forEach((upper, i) => {
        cumulative += value.counts[i] ?? 0;
        out.push(`${this.name}_bucket${formatLabels({ ...labels, le: formatValue(upper) })} ${cumulative}`);
      });
      out.push(`${this.name}_sum${formatLabels(labels)} ${formatValue(value.sum)}`);
      out.push(`${this.name}_count${formatLabels(labels)} ${value.count}`);
    }
    return out;
  }

  private entry(labels: Labels): HistogramValue {
    const key = this.key(labels);
    let series = this.series.get(key);
    if (!series) {
      series = { labels: this.own(labels), value: { counts: new Array<number>(this.buckets.length + 1).fill(0), sum: 0, count: 0 } };
      this.series.set(key, series);
    }
    return series.value;
  }
}

export type AnyMetric = Counter | Gauge | Histogram;

export class Registry {
  private readonly metrics = new Map<string, AnyMetric>();

  register<M extends AnyMetric>(metric: M): M {
    if (this.metrics.has(metric.name)) throw new TypeError(`metric ${metric.name} is already registered`);
    this.metrics.set(metric.name, metric);
    return metric;
  }

  counter(options: MetricOptions): Counter {
    return this.register(new Counter(options));
  }

  gauge(options: MetricOptions): Gauge {
    return this.register(new Gauge(options));
  }

  histogram(options: HistogramOptions): Histogram {
    return this.register(new Histogram(options));
  }

  get(name: string): AnyMetric | undefined {
    return this.metrics.get(name);
  }

  /** Every metric in registration order, in the text exposition format (ends with a newline). */
  render(): string {
    const out: string[] = [];
    for (const metric of this.metrics.values()) {
      let samples: string[];
      try {
        samples = metric.lines();
      } catch {
        continue; // a failing collect callback must not take /metrics down
      }
      out.push(`# HELP ${metric.name} ${escapeHelp(metric.help)}`, `# TYPE ${metric.name} ${metric.type}`, ...samples);
    }
    return out.length ? `${out.join('\n')}\n` : '';
  }
}

export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatLabels(labels: Labels): string {
  const pairs = Object.entries(labels).map(([name, value]) => `${name}="${escapeLabelValue(value)}"`);
  return pairs.length ? `{${pairs.join(',')}}` : '';
}

function formatValue(value: number): string {
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  if (Number.isNaN(value)) return 'NaN';
  return String(value);
}

/**
 * The usual process metrics: memory, CPU time, start time and the active libuv resources
 * (`nodejs_active_handles{type}` per kind and `nodejs_active_handles_total`).
 */
export function registerProcessMetrics(registry: Registry): void {
  registry.gauge({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory size in bytes.',
    collect: () => {
      // Diagnostics: a process started with --expose-gc collects its garbage first, so the memory
      // figures show what is retained rather than how lazily V8 collects (the soak test reads them so).
      (globalThis as { gc?: () => void }).gc?.();
      return process.memoryUsage.rss();
    },
  });
  registry.gauge({
    name: 'process_heap_bytes',
    help: 'V8 heap in use, in bytes.',
    collect: () => process.memoryUsage().heapUsed,
  });
  registry.counter({
    name: 'process_cpu_seconds_total',
    help: 'User and system CPU time spent, in seconds.',
    collect: () => {
      const { user, system } = process.cpuUsage();
      return (user + system) / 1e6;
    },
  });
  const startSeconds = Math.round(performance.timeOrigin) / 1000;
  registry.gauge({
    name: 'process_start_time_seconds',
    help: 'Start time of the process since the Unix epoch, in seconds.',
    collect: () => startSeconds,
  });
  registry.gauge({
    name: 'nodejs_active_handles',
    help: 'Active libuv resources keeping the event loop alive, by type.',
    labelNames: ['type'],
    collect: () => {
      const byType = new Map<string, number>();
      for (const type of process.getActiveResourcesInfo()) byType.set(type, (byType.get(type) ?? 0) + 1);
      return [...byType].map(([type, value]) => ({ labels: { type }, value }));
    },
  });
  registry.gauge({
    name: 'nodejs_active_handles_total',
    help: 'Active libuv resources keeping the event loop alive.',
    collect: () => process.getActiveResourcesInfo().length,
  });
}
