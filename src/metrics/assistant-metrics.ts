import type { JobQueueEvent } from '../agent/jobs/queue.js';
import type { AssistantEvent, TurnRecord } from '../app/events.js';
import { type Counter, type Gauge, type Histogram, registerProcessMetrics, Registry } from './prometheus.js';

/** Latency buckets in seconds: fine-grained where voice latency matters (under a second). */
export const LATENCY_BUCKETS: readonly number[] = [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10];

/** Histogram `stage` label → the turn record field it is read from (DESIGN.md fixes the names). */
export const TURN_STAGES = {
  eou: 'eouDelayMs',
  stt_final: 'sttFinalMs',
  llm_ttft: 'llmTtftMs',
  tts_ttfb: 'ttsTtfbMs',
  voice_to_voice: 'voiceToVoiceMs',
  barge_in_stop: 'bargeInStopMs',
} as const satisfies Record<string, keyof TurnRecord>;

const JOB_OUTCOMES = ['done', 'failed', 'cancelled', 'interrupted'] as const;

export interface AssistantMetricsOptions {
  /** Defaults to a new registry. */
  registry?: Registry;
  /** Adds the process_* and nodejs_* metrics (default true). */
  processMetrics?: boolean;
  /** Clock for kai_uptime_seconds, in ms (default Date.now). */
  now?: () => number;
}

/** Prometheus metrics fed by the assistant's events and the job queue's events. */
export class AssistantMetrics {
  readonly registry: Registry;
  private readonly turns: Counter;
  private readonly stages: Histogram;
  private readonly wakes: Counter;
  private readonly bargeIns: Counter;
  private readonly errors: Counter;
  private readonly toolCalls: Counter;
  private readonly jobs: Counter;
  private readonly state: Gauge;
  private readonly runningJobs = new Set<string>();
  private currentState: string | undefined;

  constructor(options: AssistantMetricsOptions = {}) {
    const registry = (this.registry = options.registry ?? new Registry());
    const now = options.now ?? Date.now;
    const startedAt = now();
    this.turns = registry.counter({ name: 'kai_turns_total', help: 'Conversation turns finished.' });
    this.stages = registry.histogram({
      name: 'kai_turn_stage_seconds',
      help: 'Latency of each stage of a turn, in seconds (eou, stt_final, llm_ttft, tts_ttfb, voice_to_voice, barge_in_stop).',
      labelNames: ['stage'],
      buckets: LATENCY_BUCKETS,
    });
    this.wakes = registry.counter({ name: 'kai_wake_detections_total', help: 'Wake words detected, by keyword.', labelNames: ['keyword'] });
    this.bargeIns = registry.counter({ name: 'kai_barge_ins_total', help: 'Replies the user interrupted by speaking.' });
    this.errors = registry.counter({ name: 'kai_errors_total', help: 'Errors reported, by source.', labelNames: ['source'] });
    this.toolCalls = registry.counter({ name: 'kai_tool_calls_total', help: 'Tool calls finished, by tool and outcome.', labelNames: ['tool', 'ok'] });
    this.jobs = registry.counter({ name: 'kai_jobs_total', help: 'Delegated coding jobs finished, by outcome.', labelNames: ['status'] });
    for (const status of JOB_OUTCOMES) this.jobs.inc({ status }, 0);
    registry.gauge({ name: 'kai_jobs_running', help: 'Delegated coding jobs running now.', collect: () => this.runningJobs.size });
    this.state = registry.gauge({ name: 'kai_state', help: 'The assistant state: 1 for the current one, 0 for the others seen.', labelNames: ['state'] });
    registry.gauge({ name: 'kai_uptime_seconds', help: 'Seconds since the metrics started.', collect: () => (now() - startedAt) / 1000 });
    if (options.processMetrics ?? true) registerProcessMetrics(registry);
  }

  observe(event: AssistantEvent): void {
    switch (event.type) {
      case 'state':
        if (this.currentState !== undefined) this.state.set({ state: this.currentState }, 0);
        this.currentState = event.value;
        this.state.set({ state: event.value }, 1);
        break;
      case 'wake':
        this.wakes.inc({ keyword: event.keyword });
        break;
      case 'error':
        this.errors.inc({ source: event.source });
        break;
      case 'tool_result':
        this.toolCalls.inc({ tool: event.name, ok: String(event.ok) });
        break;
      case 'turn':
        this.turns.inc();
        for (const [stage, field] of Object.entries(TURN_STAGES)) {
          const ms = event[field];
          // Skips stages the turn never reached; a negative span would be a clock bug, not a latency.
          if (ms !== null && Number.isFinite(ms) && ms >= 0) this.stages.observe({ stage }, ms / 1000);
        }
        if (event.interrupted && event.bargeInStopMs !== null) this.bargeIns.inc();
        break;
      default:
        break;
    }
  }

  observeJob(event: JobQueueEvent): void {
    const id = event.job.id;
    switch (event.type) {
      case 'started':
        this.runningJobs.add(id);
        break;
      case 'done':
      case 'failed':
      case 'cancelled':
        this.runningJobs.delete(id);
        this.jobs.inc({ status: event.type });
        break;
      case 'interrupted':
        this.runningJobs.delete(id);
        if (event.action === 'interrupted') this.jobs.inc({ status: 'interrupted' });
        break;
      case 'queued': // also sent when a shutdown puts a running job back in the queue
        this.runningJobs.delete(id);
        break;
      default:
        break;
    }
  }

  render(): string {
    return this.registry.render();
  }
}
