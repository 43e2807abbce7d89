import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  Screen,
  describeState,
  fitWidth,
  formatLatencies,
  levelMeter,
  renderPanel,
  textWidth,
  type PanelView,
} from '../../src/cli/tui/panel.js';

function view(over: Partial<PanelView> = {}): PanelView {
  return {
    state: 'idle',
    level: -40,
    pttMode: 'hold',
    interim: '',
    lastTranscript: '',
    reply: '',
    pending: [],
    jobs: [],
    lastTurn: null,
    notices: [],
    ...over,
  };
}

const busy = view({
  state: 'respond.think.confirm',
  level: -12,
  interim: 'run the te',
  lastTranscript: 'run the tests',
  reply: '142 passed, 2 failed in the api package: the health check and the login test.',
  pending: [{ id: 'p1', prompt: 'run `rm -rf build`?' }],
  jobs: [
    { id: 'j1', task: 'add a health endpoint', status: 'running', detail: 'editing server.ts' },
    { id: 'j2', task: 'fix lint', status: 'done' },
  ],
  lastTurn: {
    voiceToVoiceMs: 820.4,
    sttFinalMs: 210,
    llmTtftMs: 300,
    ttsTtfbMs: 90,
    eouDelayMs: null,
    bargeInStopMs: null,
  },
  notices: ['microphone: retrying in 4 s (arecord exited with code 1)'],
  url: 'http://127.0.0.1:8765/',
});

describe('describeState', () => {
  it('names the deepest known state', () => {
    expect(describeState('idle')).toBe('idle');
    expect(describeState('listen.hearing')).toBe('hearing you');
    expect(describeState('respond.think.confirm')).toBe('asking you');
    expect(describeState('respond.speak')).toBe('speaking');
    expect(describeState('somethingNew')).toBe('somethingNew');
  });
});

describe('formatLatencies', () => {
  it('lists the measured latencies in a fixed order and skips the missing ones', () => {
    expect(formatLatencies(busy.lastTurn!)).toBe('voice→voice 820 ms · stt 210 ms · llm 300 ms · tts 90 ms');
    expect(formatLatencies({ eouDelayMs: 500, bargeInStopMs: 120 })).toBe('eou 500 ms · barge-in 120 ms');
    expect(formatLatencies({})).toBe('');
  });
});

describe('levelMeter', () => {
  it('fills the bar from -60 dBFS to 0', () => {
    expect(levelMeter(0, 10)).toBe('▕██████████▏   0 dBFS');
    expect(levelMeter(-30, 10)).toBe('▕█████░░░░░▏ -30 dBFS');
    expect(levelMeter(-90, 10)).toBe('▕░░░░░░░░░░▏ -90 dBFS');
    expect(levelMeter(-Infinity, 10)).toBe('▕░░░░░░░░░░▏  -∞ dBFS');
    expect(levelMeter(Number.NaN, 4)).toBe('▕░░░░▏  -∞ dBFS');
  });
});

describe('fitWidth', () => {
  it('cuts to the width with an ellipsis, counting wide characters twice', () => {
    expect(fitWidth('hello', 5)).toBe('hello');
    expect(fitWidth('hello world', 8)).toBe('hello w…');
    expect(textWidth('日本語')).toBe(6);
    expect(fitWidth('日本語です', 6)).toBe('日本…');
    expect(textWidth(fitWidth('日本語です', 6))).toBeLessThanOrEqual(6);
  });
});

describe('renderPanel', () => {
  it('shows state, meter, transcripts, reply, approvals, jobs, latencies, notices, url and keys', () => {
    const text = renderPanel(busy, 200).join('\n');
    expect(text).toContain('asking you (respond.think.confirm)');
    expect(text).toMatch(/mic ▕█+░*▏ -12 dBFS/);
    expect(text).toContain('… run the te');
    expect(text).toContain('you: run the tests');
    expect(text).toContain('kai: 142 passed, 2 failed');
    expect(text).toContain('approve (y/n)? [p1] run `rm -rf build`?');
    expect(text).toContain('job j1 running: add a health endpoint — editing server.ts');
    expect(text).toContain('job j2 done: fix lint');
    expect(text).toContain('last turn: voice→voice 820 ms · stt 210 ms · llm 300 ms · tts 90 ms');
    expect(text).toContain('! microphone: retrying in 4 s (arecord exited with code 1)');
    expect(text).toContain('web: http://127.0.0.1:8765/');
    expect(text).toContain('space: hold to talk');
  });

  it('tells how to talk in toggle mode', () => {
    const lines = renderPanel(view({ pttMode: 'toggle' }), 80);
    expect(lines.at(-1)).toBe('space: press to talk, again to stop · esc: cancel · q: quit');
  });

  it('leaves out empty sections', () => {
    const lines = renderPanel(view(), 80);
    expect(lines).toEqual([
      'KAI · idle (idle)',
      `mic ${levelMeter(-40, 30)}`,
      'space: hold to talk · esc: cancel · q: quit',
    ]);
  });

  it('cuts every line to the terminal width', () => {
    for (const columns of [20, 33, 50]) {
      const lines = renderPanel(busy, columns);
      for (const line of lines) expect(textWidth(line)).toBeLessThanOrEqual(columns);
      expect(lines.some((l) => l.endsWith('…'))).toBe(true);
    }
  });

  it('wraps the reply on a few lines and cuts the rest', () => {
    const reply = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');
    const lines = renderPanel(view({ reply }), 40);
    const replyLines = lines.filter((l) => l.startsWith('kai: ') || l.startsWith('     word'));
    expect(replyLines).toHaveLength(4);
    expect(replyLines[3]!.endsWith('…')).toBe(true);
  });

  it('strips control characters so text cannot move the cursor', () => {
    const lines = renderPanel(view({ reply: 'evil\x1b[2J\r\nline\x07two', lastTranscript: 'a\tb' }), 80);
    expect(lines.join('')).not.toMatch(/[\x00-\x1f]/);
    expect(lines).toContain('kai: evil [2J line two');
    expect(lines).toContain('you: a b');
  });

  it('shows at most five jobs and counts the others', () => {
    const jobs = Array.from({ length: 7 }, (_, i) => ({ id: `j${i}`, task: 't', status: 'queued' }));
    const lines = renderPanel(view({ jobs }), 80);
    expect(lines.filter((l) => l.startsWith('job '))).toHaveLength(5);
    expect(lines).toContain('… 2 more jobs');
  });
});

class FakeOutput {
  columns = 40;
  rows = 30;
  text = '';
  writes = 0;
  private resize: (() => void) | undefined;
  write(s: string) {
    this.text += s;
    this.writes++;
    return true;
  }
  on(_event: 'resize', listener: () => void) {
    this.resize = listener;
  }
  removeListener() {
    this.resize = undefined;
  }
  emitResize() {
    this.resize?.();
  }
}

describe('Screen', () => {
  afterEach(() => vi.useRealTimers());

  it('hides the cursor, draws, redraws in place and restores the cursor on close', () => {
    const out = new FakeOutput();
    const screen = new Screen(out, { render: (v) => [v.state, 'b', 'c'] });
    screen.update(view({ state: 'one' }));
    expect(out.text).toBe('\x1b[?25l\r\x1b[2Kone\r\n\x1b[2Kb\r\n\x1b[2Kc\x1b[J');
    out.text = '';
    screen.flush();
    screen.update(view({ state: 'two' }));
    screen.flush();
    expect(out.text).toContain('\r\x1b[2A\x1b[2Ktwo');
    out.text = '';
    screen.close();
    screen.close();
    expect(out.text.endsWith('\r\n\x1b[?25h')).toBe(true);
    screen.update(view({ state: 'three' }));
    expect(out.text).not.toContain('three');
  });

  it('renders with the stream width minus one column', () => {
    const out = new FakeOutput();
    const widths: number[] = [];
    const screen = new Screen(out, { render: (_v, columns) => (widths.push(columns), ['x']) });
    screen.update(view());
    out.columns = 60;
    out.emitResize();
    screen.close();
    expect(widths.slice(0, 2)).toEqual([39, 59]);
  });

  it('draws at most maxFps times a second, always ending on the latest view', () => {
    vi.useFakeTimers();
    const out = new FakeOutput();
    const drawn: string[] = [];
    const screen = new Screen(out, { maxFps: 20, render: (v) => (drawn.push(v.state), [v.state]) });
    for (let i = 0; i < 100; i++) {
      screen.update(view({ state: `s${i}` }));
      vi.advanceTimersByTime(1);
    }
    // 100 ms at 20 redraws/s: the first at once, then one every 50 ms.
    expect(drawn.length).toBeLessThanOrEqual(3);
    vi.advanceTimersByTime(100);
    expect(drawn.at(-1)).toBe('s99');
    screen.close();
  });

  it('uses the alternate screen when asked and leaves it on close', () => {
    const out = new FakeOutput();
    const screen = new Screen(out, { alternateScreen: true, render: () => ['x'] });
    screen.update(view());
    expect(out.text.startsWith('\x1b[?1049h\x1b[?25l\x1b[H')).toBe(true);
    screen.close();
    expect(out.text.endsWith('\x1b[?25h\x1b[?1049l')).toBe(true);
  });

  it('keeps the frame within the terminal height', () => {
    const out = new FakeOutput();
    out.rows = 4;
    const screen = new Screen(out, { render: () => ['1', '2', '3', '4', '5', '6'] });
    screen.update(view());
    expect(out.text).toContain('3');
    expect(out.text).not.toContain('4');
    screen.close();
  });

  it('writes nothing when closed before any view was shown', () => {
    const out = new FakeOutput();
    new Screen(out).close();
    expect(out.text).toBe('');
  });
});
