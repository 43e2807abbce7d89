import { describe, expect, it } from 'vitest';
import type { Job } from '../../src/agent/jobs/store.js';
import type { TurnRecord } from '../../src/app/events.js';
import { AssistantMetrics, LATENCY_BUCKETS } from '../../src/metrics/assistant-metrics.js';

function turn(over: Partial<TurnRecord> = {}): { type: 'turn' } & TurnRecord {
  return {
    type: 'turn',
    turn: 1,
    wakeScore: 0.9,
    eouDelayMs: 500,
    sttFinalMs: 120,
    llmTtftMs: 300,
    ttsTtfbMs: 80,
    voiceToVoiceMs: 1100,
    bargeInStopMs: null,
    bargeInClearMs: null,
    interrupted: false,
    transcript: 'run the tests',
    heardText: 'All tests passed.',
    errors: [],
    ...over,
  };
}

function job(id: string): Job {
  return { id, task: 'add a health endpoint', files: [], createdAt: '2025-01-01T00:00:00.000Z', status: 'running', backend: 'builtin', attempts: 1, interruptions: 0, events: [], announcements: [], rev: 1 } as unknown as Job;
}

/** name{labels} → value, from the rendered text. */
function samples(text: string): Map<string, number> {
  const map = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    map.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return map;
}

describe('AssistantMetrics', () => {
  it('turns become a count and per-stage latency histograms in seconds, skipping nulls', () => {
    const m = new AssistantMetrics({ processMetrics: false });
    m.observe(turn());
    m.observe(turn({ turn: 2, llmTtftMs: null, ttsTtfbMs: null, voiceToVoiceMs: 12_000, eouDelayMs: 40 }));
    const s = samples(m.render());
    expect(s.get('kai_turns_total')).toBe(2);
    expect(s.get('kai_turn_stage_seconds_count{stage="eou"}')).toBe(2);
    expect(s.get('kai_turn_stage_seconds_sum{stage="eou"}')).toBeCloseTo(0.54, 10);
    expect(s.get('kai_turn_stage_seconds_bucket{stage="eou",le="0.05"}')).toBe(1);
    expect(s.get('kai_turn_stage_seconds_bucket{stage="eou",le="0.5"}')).toBe(2);
    expect(s.get('kai_turn_stage_seconds_count{stage="llm_ttft"}')).toBe(1);
    expect(s.get('kai_turn_stage_seconds_count{stage="tts_ttfb"}')).toBe(1);
    expect(s.get('kai_turn_stage_seconds_count{stage="stt_final"}')).toBe(2);
    // 12 s is beyond the last bucket: only +Inf holds it.
    expect(s.get('kai_turn_stage_seconds_bucket{stage="voice_to_voice",le="10"}')).toBe(1);
    expect(s.get('kai_turn_stage_seconds_bucket{stage="voice_to_voice",le="+Inf"}')).toBe(2);
    expect(s.has('kai_turn_stage_seconds_count{stage="barge_in_stop"}')).toBe(false);
    expect(s.get('kai_barge_ins_total')).toBe(0);
    expect(LATENCY_BUCKETS[0]).toBe(0.05);
    expect(LATENCY_BUCKETS.at(-1)).toBe(10);
  });

  it('counts a barge-in only when the turn was interrupted and playback was stopped', () => {
    const m = new AssistantMetrics({ processMetrics: false });
    m.observe(turn({ interrupted: true, bargeInStopMs: 180 }));
    m.observe(turn({ interrupted: true, bargeInStopMs: null })); // cancelled some other way
    m.observe(turn({ interrupted: false, bargeInStopMs: null }));
    const s = samples(m.render());
    expect(s.get('kai_barge_ins_total')).toBe(1);
    expect(s.get('kai_turn_stage_seconds_count{stage="barge_in_stop"}')).toBe(1);
    expect(s.get('kai_turn_stage_seconds_bucket{stage="barge_in_stop",le="0.2"}')).toBe(1);
  });

  it('counts wake words, errors and tool results by label', () => {
    const m = new AssistantMetrics({ processMetrics: false });
    m.observe({ type: 'wake', keyword: 'hey_jarvis', score: 0.8 });
    m.observe({ type: 'wake', keyword: 'hey_jarvis', score: 0.7 });
    m.observe({ type: 'wake', keyword: 'alexa', score: 0.9 });
    m.observe({ type: 'error', source: 'stt', message: 'server down' });
    m.observe({ type: 'tool_result', name: 'run_tests', ok: true, summary: '' });
    m.observe({ type: 'tool_result', name: 'run_tests', ok: false, summary: '' });
    m.observe({ type: 'tool_result', name: 'run_tests', ok: false, summary: '' });
    m.observe({ type: 'transcript', final: true, text: 'ignored' });
    const s = samples(m.render());
    expect(s.get('kai_wake_detections_total{keyword="hey_jarvis"}')).toBe(2);
    expect(s.get('kai_wake_detections_total{keyword="alexa"}')).toBe(1);
    expect(s.get('kai_errors_total{source="stt"}')).toBe(1);
    expect(s.get('kai_tool_calls_total{tool="run_tests",ok="true"}')).toBe(1);
    expect(s.get('kai_tool_calls_total{tool="run_tests",ok="false"}')).toBe(2);
  });

  it('kai_state is 1 for the current state and 0 for the others seen', () => {
    const m = new AssistantMetrics({ processMetrics: false });
    for (const value of ['idle', 'wake', 'listen', 'think', 'speak', 'idle']) m.observe({ type: 'state', value });
    const s = samples(m.render());
    expect(s.get('kai_state{state="idle"}')).toBe(1);
    for (const other of ['wake', 'listen', 'think', 'speak']) expect(s.get(`kai_state{state="${other}"}`)).toBe(0);
  });

  it('tracks running jobs and counts finished ones by outcome', () => {
    const m = new AssistantMetrics({ processMetrics: false });
    let s = samples(m.render());
    expect(s.get('kai_jobs_running')).toBe(0);
    for (const status of ['done', 'failed', 'cancelled', 'interrupted']) expect(s.get(`kai_jobs_total{status="${status}"}`)).toBe(0);

    m.observeJob({ type: 'queued', job: job('a') });
    m.observeJob({ type: 'started', job: job('a') });
    m.observeJob({ type: 'started', job: job('b') });
    m.observeJob({ type: 'started', job: job('c') });
    m.observeJob({ type: 'progress', job: job('a'), text: 'editing' });
    expect(samples(m.render()).get('kai_jobs_running')).toBe(3);
    m.observeJob({ type: 'done', job: job('a'), summary: 'ok' });
    m.observeJob({ type: 'failed', job: job('b'), reason: 'no' });
    m.observeJob({ type: 'queued', job: job('c') }); // shutdown put it back
    m.observeJob({ type: 'cancelled', job: job('d') });
    m.observeJob({ type: 'interrupted', job: job('e'), action: 'requeued' });
    m.observeJob({ type: 'interrupted', job: job('f'), action: 'interrupted' });
    s = samples(m.render());
    expect(s.get('kai_jobs_running')).toBe(0);
    expect(s.get('kai_jobs_total{status="done"}')).toBe(1);
    expect(s.get('kai_jobs_total{status="failed"}')).toBe(1);
    expect(s.get('kai_jobs_total{status="cancelled"}')).toBe(1);
    expect(s.get('kai_jobs_total{status="interrupted"}')).toBe(1);
  });

  it('reports uptime from its clock, and the process metrics by default', () => {
    let now = 1_000_000;
    const m = new AssistantMetrics({ now: () => now });
    now += 90_500;
    const text = m.render();
    expect(samples(text).get('kai_uptime_seconds')).toBe(90.5);
    expect(text).toContain('# TYPE process_resident_memory_bytes gauge\n');
    expect(text).toContain('# TYPE nodejs_active_handles gauge\n');
    expect(text).toContain('# HELP kai_turn_stage_seconds ');
  });
});
