import { describe, expect, it } from 'vitest';
import { heardText } from '../../src/app/actors/reply.js';
import { isYes, spokenError } from '../../src/app/actors/announcers.js';
import { stateName } from '../../src/app/assistant.js';
import { heardPart } from '../../src/agent/agent.js';

describe('what the user heard of an interrupted reply', () => {
  const spoken = [
    { text: 'The build has three failing tests.', audioMs: 2000 },
    { text: 'The first one is a timeout in the health check.', audioMs: 3000 },
  ];

  it('keeps whole sentences played in full and the played share of the one cut off, on a word boundary', () => {
    expect(heardText(spoken, 0)).toBe('');
    expect(heardText(spoken, 2000)).toBe('The build has three failing tests.');
    expect(heardText(spoken, 3500)).toBe('The build has three failing tests. The first one is a');
    expect(heardText(spoken, 99_999)).toBe('The build has three failing tests. The first one is a timeout in the health check.');
  });

  it('cuts proportionally to characters and never mid-word', () => {
    expect(heardPart('one two three four', 500, 1000)).toBe('one two');
    expect(heardPart('one two three four', 100, 1000)).toBe('');
    expect(heardPart('one two', 1000, 1000)).toBe('one two');
  });
});

describe('spoken errors and answers', () => {
  it('turns an error message into a short sentence without URLs or details', () => {
    expect(spokenError('could not reach the LLM server at http://spark.lan:8000/v1')).toBe('Sorry, could not reach the LLM server.');
    expect(spokenError('The speech-to-text server failed (HTTP 500: boom); try again')).toBe('Sorry, the speech-to-text server failed.');
  });

  it('hears only a clear yes as yes', () => {
    for (const yes of ['yes', 'Yes please', 'yeah', 'sure', 'okay go ahead']) expect(isYes(yes), yes).toBe(true);
    for (const no of ['no', 'no thanks', '', 'maybe', 'yesterday', 'not sure']) expect(isYes(no), no).toBe(false);
  });
});

describe('state names', () => {
  it('names states as a person would', () => {
    expect(stateName('idle')).toBe('idle');
    expect(stateName({ listen: 'hearing' })).toBe('listen');
    expect(stateName({ respond: { think: 'working' } })).toBe('think');
    expect(stateName({ respond: { think: 'confirm' } })).toBe('confirm');
    expect(stateName({ respond: 'speak' })).toBe('speak');
  });
});
