import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, type AnyStateMachine, fromPromise, getNextTransitions, SimulatedClock, type AnyMachineSnapshot, type EventObject } from 'xstate';
import { adjacencyMapToArray, getAdjacencyMap, getShortestPaths } from 'xstate/graph';
import type { ListenerCommand, MachineEvent, ReplyCommand } from '../../src/states/events.js';
import { conversationMachine, expectedChildren, type ConfirmationAnswer, type ConfirmationInput, type ListenerInput, type MachineInput, type ReplyInput, type Timeouts } from '../../src/states/machine.js';

const timeouts: Timeouts = {
  noSpeechMs: 8000,
  maxUtteranceMs: 30_000,
  transcriptMs: 5000,
  thinkMs: 20_000,
  speakMs: 60_000,
  confirmMs: 8000,
  followUpMs: 5000,
  earconMs: 1000,
  errorMs: 5000,
};
const input: MachineInput = { timeouts, followUp: 'question' };
const delayMs: Record<string, number> = {
  noSpeech: timeouts.noSpeechMs,
  maxUtterance: timeouts.maxUtteranceMs,
  transcript: timeouts.transcriptMs,
  think: timeouts.thinkMs,
  speak: timeouts.speakMs,
  confirm: timeouts.confirmMs + 20_000,
  followUp: timeouts.followUpMs,
  earcon: timeouts.earconMs,
  errorAnnouncement: timeouts.errorMs,
};

type AnyEvent = MachineEvent | { type: string; [key: string]: unknown };

/** Concrete events for an event type, one per guarded branch worth taking. */
function eventsFor(type: string): AnyEvent[] {
  switch (type) {
    case 'WAKE_DETECTED':
      return [{ type, keyword: 'hey_jarvis', score: 0.93 }];
    case 'TRANSCRIPT_INTERIM':
      return [{ type, text: 'what' }];
    case 'TRANSCRIPT_FINAL':
      return [{ type, text: 'what time is it' }, { type, text: '  ' }];
    case 'REPLY_DONE':
      return [{ type, askedQuestion: true }, { type, askedQuestion: false }];
    case 'CONFIRM_REQUEST':
      return [{ type, prompt: 'Run npm install in the api folder?' }];
    case 'ANNOUNCE':
      return [{ type, text: 'The coding job is done.' }];
    case 'TEXT_INPUT':
      return [{ type, text: 'what time is it' }, { type, text: ' ' }];
    case 'CONFIRM_ANSWER':
      return [{ type, approved: true }, { type, approved: false }];
    case 'SERVICE_ERROR':
      return [{ type, source: 'stt', message: 'I cannot reach the speech server' }];
    case 'xstate.done.actor.confirmation':
      return [{ type, output: 'yes' }, { type, output: 'no' }, { type, output: 'timeout' }];
    default:
      return type.startsWith('xstate.error.actor.') ? [{ type, error: new Error('boom') }] : [{ type }];
  }
}

const nextEvents = (snapshot: AnyMachineSnapshot): AnyEvent[] =>
  [...new Set(getNextTransitions(snapshot).map((t) => t.eventType))].flatMap(eventsFor);

/** "respond.think.working" for { respond: { think: 'working' } } */
function stateKey(value: unknown): string {
  if (typeof value === 'string') return value;
  const [[key, child]] = Object.entries(value as Record<string, unknown>) as [[string, unknown]];
  return `${key}.${stateKey(child)}`;
}

const serializeState = (s: AnyMachineSnapshot) =>
  JSON.stringify({ v: s.value, mode: s.context.mode, asked: s.context.askedQuestion });

/** The machine with stand-in actors that keep a register of which ones are running. */
function liveMachine() {
  const running = new Set<string>();
  const received: { to: string; event: EventObject }[] = [];
  const callback = <E extends EventObject, I = unknown>(id: string) =>
    fromCallback<E, I>(({ receive }) => {
      running.add(id);
      receive((event) => received.push({ to: id, event }));
      return () => running.delete(id);
    });
  const pending = <O, I>(id: string) =>
    fromPromise<O, I>(({ signal }) => {
      running.add(id);
      signal.addEventListener('abort', () => running.delete(id));
      return new Promise<O>(() => {});
    });
  const machine = conversationMachine.provide({
    actors: {
      wakeListener: callback<MachineEvent>('wakeListener'),
      listener: callback<ListenerCommand, ListenerInput>('listener'),
      reply: callback<ReplyCommand, ReplyInput>('reply'),
      bargeInDetector: callback<MachineEvent, { turn: number }>('bargeInDetector'),
      wakeEarcon: pending<void, { turn: number }>('wakeEarcon'),
      confirmation: pending<ConfirmationAnswer, ConfirmationInput>('confirmation'),
      errorAnnouncer: pending<void, { source: string; message: string }>('errorAnnouncer'),
    },
  });
  const clock = new SimulatedClock();
  const actor = createActor(machine, { input, clock });
  const errors: unknown[] = [];
  actor.subscribe({ error: (err) => errors.push(err) });
  actor.start();
  return { actor, clock, running, errors, received };
}

function expectChildrenOf(snapshot: AnyMachineSnapshot, running: Set<string>): void {
  const key = stateKey(snapshot.value);
  const expected = expectedChildren[key];
  expect(expected, `no expectation for ${key}`).toBeDefined();
  expect(Object.keys(snapshot.children).sort(), `children in ${key}`).toEqual([...expected!].sort());
  expect([...running].sort(), `running actors in ${key}`).toEqual([...expected!].sort());
}

describe('the conversation machine, edge by edge', () => {
  const options = { input, events: nextEvents, serializeState, serializeEvent: (e: AnyEvent) => JSON.stringify(e) };
  // xstate/graph's types do not carry a machine's emitted events through; the logic is the same.
  const logic = conversationMachine as unknown as AnyStateMachine;
  const adjacency = getAdjacencyMap(logic, options as never);
  const edges = adjacencyMapToArray(adjacency);
  const paths = new Map(getShortestPaths(logic, options as never).map((p) => [serializeState(p.state), p]));

  it('reaches every resting state and covers the expected edges', () => {
    const reached = new Set([...paths.values()].map((p) => stateKey(p.state.value)));
    expect([...reached].sort()).toEqual(Object.keys(expectedChildren).sort());
    expect(edges.length).toBeGreaterThan(150);
  });

  it('replays every edge on a live actor: right state, exactly the right children', () => {
    let replayed = 0;
    for (const edge of edges) {
      const path = paths.get(serializeState(edge.state));
      expect(path, `path to ${serializeState(edge.state)}`).toBeDefined();
      const { actor, running, errors } = liveMachine();
      for (const step of path!.steps) {
        if ((step.event as AnyEvent).type !== 'xstate.init') actor.send(step.event as MachineEvent);
      }
      expect(actor.getSnapshot().value).toEqual(edge.state.value);
      actor.send(edge.event as MachineEvent);
      const snapshot = actor.getSnapshot();
      expect(snapshot.value, `${serializeState(edge.state)} --${edge.event.type}-->`).toEqual(edge.nextState.value);
      expectChildrenOf(snapshot, running);
      expect(errors).toEqual([]);
      actor.stop();
      expect(running.size).toBe(0);
      replayed += 1;
    }
    expect(replayed).toBe(edges.length);
  });

  it('goes back to idle from every state when nothing more happens, stopping every child', () => {
    for (const path of paths.values()) {
      const { actor, clock, running } = liveMachine();
      for (const step of path.steps) {
        if ((step.event as AnyEvent).type !== 'xstate.init') actor.send(step.event as MachineEvent);
      }
      // the longest chain of timeouts: hearing → finalizing → error → idle
      for (let quiet = 0; quiet < 4 && actor.getSnapshot().value !== 'idle'; quiet++) clock.increment(Math.max(...Object.values(timeouts)) + 1);
      expect(actor.getSnapshot().value, `from ${serializeState(path.state)}`).toBe('idle');
      expectChildrenOf(actor.getSnapshot(), running);
      actor.stop();
    }
  });
});

describe('the conversation machine under 10,000 random events', () => {
  it('never throws, never leaves a child in the wrong state, and returns to idle when input goes quiet', () => {
    let seed = 20261121;
    const random = () => {
      seed = (seed + 0x6d2b79f5) >>> 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const vocabulary = ['ANNOUNCE', 'WAKE_DETECTED', 'PTT_START', 'PTT_STOP', 'PTT_TOGGLE', 'CANCEL', 'SPEECH_START', 'SPEECH_END', 'TRANSCRIPT_INTERIM', 'TRANSCRIPT_FINAL', 'AUDIO_STARTED', 'REPLY_DONE', 'CONFIRM_REQUEST', 'BARGE_IN', 'SERVICE_ERROR', 'TEXT_INPUT', 'CONFIRM_ANSWER'].flatMap(eventsFor);
    const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]!;

    const { actor, clock, running, errors } = liveMachine();
    const visited = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const snapshot = actor.getSnapshot();
      // mostly what the state can react to, sometimes anything at all
      const event = random() < 0.25 ? pick(vocabulary) : pick(nextEvents(snapshot));
      if (event.type.startsWith('xstate.after.')) clock.increment(delayMs[event.type.split('.')[2]!]!);
      else actor.send(event as MachineEvent);
      const after = actor.getSnapshot();
      expect(after.status).toBe('active');
      expectChildrenOf(after, running);
      visited.add(stateKey(after.value));
    }
    expect([...visited].sort()).toEqual(Object.keys(expectedChildren).sort());
    for (let quiet = 0; quiet < 6 && actor.getSnapshot().value !== 'idle'; quiet++) clock.increment(Math.max(...Object.values(timeouts)) + 1);
    expect(actor.getSnapshot().value).toBe('idle');
    expectChildrenOf(actor.getSnapshot(), running);
    expect(errors).toEqual([]);
  });
});

describe('the conversation machine, scenario by scenario', () => {
  const run = (events: AnyEvent[]) => {
    const live = liveMachine();
    for (const e of events) live.actor.send(e as MachineEvent);
    return live;
  };
  const value = (events: AnyEvent[]) => stateKey(run(events).actor.getSnapshot().value);
  const wake: AnyEvent[] = [{ type: 'WAKE_DETECTED', keyword: 'hey_jarvis', score: 0.9 }, { type: 'xstate.done.actor.wakeEarcon' }];
  const spoken: AnyEvent[] = [...wake, { type: 'SPEECH_START' }, { type: 'SPEECH_END' }, { type: 'TRANSCRIPT_FINAL', text: 'what time is it' }];

  it('walks a whole turn: idle → wake → listen → think → speak → idle', () => {
    expect(value(wake.slice(0, 1))).toBe('wake');
    expect(value(wake)).toBe('listen.waiting');
    expect(value([...wake, { type: 'SPEECH_START' }])).toBe('listen.hearing');
    expect(value([...wake, { type: 'SPEECH_START' }, { type: 'SPEECH_END' }])).toBe('listen.finalizing');
    expect(value(spoken)).toBe('respond.think.working');
    expect(value([...spoken, { type: 'AUDIO_STARTED' }])).toBe('respond.speak');
    expect(value([...spoken, { type: 'AUDIO_STARTED' }, { type: 'REPLY_DONE', askedQuestion: false }])).toBe('idle');
    const { actor } = run(spoken);
    expect(actor.getSnapshot().context).toMatchObject({ turn: 1, transcript: 'what time is it', mode: 'wake' });
  });

  it('opens the follow-up window after a question, and a reply in it needs no wake word', () => {
    const asked = [...spoken, { type: 'AUDIO_STARTED' }, { type: 'REPLY_DONE', askedQuestion: true }];
    expect(value(asked)).toBe('followUp');
    const { actor } = run([...asked, { type: 'SPEECH_START' }]);
    expect(stateKey(actor.getSnapshot().value)).toBe('listen.hearing');
    expect(actor.getSnapshot().context).toMatchObject({ turn: 2, mode: 'voice' });
  });

  it('barges in on speech, the wake word or a push-to-talk press, straight into listening', () => {
    const speaking = [...spoken, { type: 'AUDIO_STARTED' }];
    expect(value([...speaking, { type: 'BARGE_IN' }])).toBe('listen.hearing');
    expect(value([...speaking, { type: 'WAKE_DETECTED', keyword: 'hey_jarvis', score: 0.9 }])).toBe('listen.waiting');
    const { actor } = run([...speaking, { type: 'PTT_START' }]);
    expect(stateKey(actor.getSnapshot().value)).toBe('listen.waiting');
    expect(actor.getSnapshot().context.mode).toBe('hold');
  });

  it('ends a push-to-talk turn on release, not on a pause in speech', () => {
    const held: AnyEvent[] = [{ type: 'PTT_START' }, { type: 'xstate.done.actor.wakeEarcon' }, { type: 'SPEECH_START' }];
    expect(value([...held, { type: 'SPEECH_END' }])).toBe('listen.hearing');
    expect(value([...held, { type: 'SPEECH_END' }, { type: 'PTT_STOP' }])).toBe('listen.finalizing');
    const toggled: AnyEvent[] = [{ type: 'PTT_TOGGLE' }, { type: 'xstate.done.actor.wakeEarcon' }, { type: 'SPEECH_START' }];
    expect(value([...toggled, { type: 'PTT_TOGGLE' }])).toBe('listen.finalizing');
    expect(value([{ type: 'PTT_START' }, { type: 'PTT_STOP' }])).toBe('idle');
  });

  it('speaks an announcement from idle, like a reply the user can interrupt', () => {
    const { actor } = run([{ type: 'ANNOUNCE', text: 'The coding job is done.' }]);
    expect(stateKey(actor.getSnapshot().value)).toBe('respond.think.working');
    expect(actor.getSnapshot().context).toMatchObject({ turn: 1, announcement: 'The coding job is done.', transcript: '' });
    expect(value([{ type: 'WAKE_DETECTED', keyword: 'hey_jarvis', score: 0.9 }, { type: 'ANNOUNCE', text: 'x' }])).toBe('wake');
  });

  it('goes idle on an empty transcript, and from anywhere on CANCEL', () => {
    expect(value([...wake, { type: 'SPEECH_START' }, { type: 'SPEECH_END' }, { type: 'TRANSCRIPT_FINAL', text: ' ' }])).toBe('idle');
    for (const prefix of [wake, spoken, [...spoken, { type: 'AUDIO_STARTED' }]]) expect(value([...prefix, { type: 'CANCEL' }])).toBe('idle');
  });

  it('asks before a risky action and tells the reply the answer; silence counts as no', () => {
    const asking = [...spoken, { type: 'CONFIRM_REQUEST', prompt: 'Run npm install?' }];
    const { actor, clock } = run(asking);
    expect(stateKey(actor.getSnapshot().value)).toBe('respond.think.confirm');
    expect(actor.getSnapshot().context.confirmPrompt).toBe('Run npm install?');
    // the confirmation actor waits confirmMs after asking; the machine itself gives up 20 s later
    clock.increment(timeouts.confirmMs + 20_000);
    expect(stateKey(actor.getSnapshot().value)).toBe('respond.think.working');
  });

  it('takes typed text as a new turn from any state, replacing a reply in progress', () => {
    const typed: AnyEvent = { type: 'TEXT_INPUT', text: ' what time is it ' };
    for (const prefix of [[], wake.slice(0, 1), wake, spoken, [...spoken, { type: 'AUDIO_STARTED' }]]) {
      const { actor, running } = run(prefix);
      const turnBefore = actor.getSnapshot().context.turn;
      actor.send(typed as MachineEvent);
      expect(stateKey(actor.getSnapshot().value)).toBe('respond.think.working');
      expect(actor.getSnapshot().context).toMatchObject({ transcript: 'what time is it', turn: turnBefore + 1 });
      expect([...running]).toEqual(['reply']);
    }
    expect(value([{ type: 'TEXT_INPUT', text: '   ' }])).toBe('idle');
  });

  it('settles a confirmation from the web page as well as by voice, and says by whom', () => {
    const asking = [...spoken, { type: 'CONFIRM_REQUEST', prompt: 'Run npm install?' }];
    for (const approved of [true, false]) {
      const live = liveMachine();
      const settled: unknown[] = [];
      live.actor.on('confirmed', (e) => settled.push(e));
      for (const e of asking) live.actor.send(e as MachineEvent);
      live.actor.send({ type: 'CONFIRM_ANSWER', approved });
      expect(stateKey(live.actor.getSnapshot().value)).toBe('respond.think.working');
      expect(settled).toEqual([{ type: 'confirmed', approved, by: 'web' }]);
      expect(live.received.filter((r) => r.to === 'reply')).toEqual([{ to: 'reply', event: { type: 'CONFIRMED', approved, timedOut: false } }]);
    }
    const { actor, clock } = run(asking);
    const settled: unknown[] = [];
    actor.on('confirmed', (e) => settled.push(e));
    clock.increment(timeouts.confirmMs + 20_000);
    expect(settled).toEqual([{ type: 'confirmed', approved: false, by: 'timeout' }]);
    expect(value([...spoken, { type: 'CONFIRM_ANSWER', approved: true }])).toBe('respond.think.working');
  });

  it('reports a failed service, announces it and returns to idle', () => {
    const { actor, clock } = run([...spoken, { type: 'SERVICE_ERROR', source: 'llm', message: 'I cannot reach the language model' }]);
    expect(stateKey(actor.getSnapshot().value)).toBe('error');
    expect(actor.getSnapshot().context.error).toEqual({ source: 'llm', message: 'I cannot reach the language model' });
    clock.increment(timeouts.errorMs);
    expect(actor.getSnapshot().value).toBe('idle');
  });
});
