import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_INTENTS, type Intent } from '../../src/agent/intents/intents.js';
import { IntentMatcher, readDictionaryWords } from '../../src/agent/intents/matcher.js';
import { TemplateSyntaxError, compileTemplate, expand, normalise, parseTemplate, spokenForm } from '../../src/agent/intents/template.js';

const DICT = '/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict';
const PACKAGES = ['api', 'web-app', '@kai/core'];
const matcher = new IntentMatcher(DEFAULT_INTENTS, { slotValues: { package: PACKAGES } });

describe('template language', () => {
  it('normalises case, punctuation, apostrophes and contractions', () => {
    expect(normalise('Hey Jarvis, run the tests!')).toEqual(['hey', 'jarvis', 'run', 'the', 'tests']);
    expect(normalise('What is the time?')).toEqual(["what's", 'the', 'time']);
    expect(normalise('whats the time')).toEqual(["what's", 'the', 'time']);
    expect(normalise('What\u2019s   the "git" status')).toEqual(["what's", 'the', 'git', 'status']);
    expect(normalise("How is the job going")).toEqual(["how's", 'the', 'job', 'going']);
    expect(normalise("'quoted' web-app nevermind okay")).toEqual(['quoted', 'web', 'app', 'never', 'mind', 'ok']);
    expect(normalise('')).toEqual([]);
  });

  it('says slot values as words', () => {
    expect(spokenForm('web-app')).toBe('web app');
    expect(spokenForm('@kai/core')).toBe('core');
    expect(spokenForm('apiServer')).toBe('api server');
    expect(spokenForm('my_pkg.v2')).toBe('my pkg v2');
  });

  it('parses literals, optional groups, alternatives and slots', () => {
    const nodes = parseTemplate("run [the] (tests | test suite) [in {package}]");
    expect(nodes.map((n) => n.type)).toEqual(['words', 'group', 'group', 'group']);
    expect(compileTemplate('a {x} b [{y}]').slotNames).toEqual(['x', 'y']);
    // contractions in a literal run are canonical for matching but kept as written for expansion
    expect(parseTemplate('what is the time')[0]).toEqual({ type: 'words', surface: ['what', 'is', 'the', 'time'], canonical: ["what's", 'the', 'time'] });
  });

  it('rejects bad templates', () => {
    for (const bad of ['run [the tests', 'run (a | b', 'run {pa ckage}', 'run {package', 'a ] b', '( | a)', '', 'run the tests!']) {
      expect(() => parseTemplate(bad), bad).toThrow(TemplateSyntaxError);
    }
  });

  it('matches whole utterances only and returns slot values', () => {
    const t = compileTemplate('run [the] tests [in [the] {package} [package]]');
    expect(t.match('run the tests', { package: PACKAGES })).toEqual({});
    expect(t.match('run tests', { package: PACKAGES })).toEqual({});
    expect(t.match('run the tests in the web app package', { package: PACKAGES })).toEqual({ package: 'web-app' });
    expect(t.match('run the tests in core', { package: PACKAGES })).toEqual({ package: '@kai/core' });
    expect(t.match('run the tests in production', { package: PACKAGES })).toBeNull();
    expect(t.match('run the tests now')).toBeNull();
    expect(t.match('please run the tests')).toBeNull();
    expect(t.match('run the')).toBeNull();
    // a slot with no values never matches
    expect(t.match('run the tests in api')).toBeNull();
  });

  it('prefers the longest slot value and supports free-text slots', () => {
    const t = compileTemplate('build {target}');
    expect(t.match('build web app', { target: ['web', 'web-app'] })).toEqual({ target: 'web-app' });
    expect(t.match('build web', { target: ['web', 'web-app'] })).toEqual({ target: 'web' });
    const free = compileTemplate('remind me to {what}');
    expect(free.match('remind me to buy some milk', { what: { type: 'text', maxWords: 4 } })).toEqual({ what: 'buy some milk' });
    expect(free.match('remind me to buy some milk and eggs today', { what: { type: 'text', maxWords: 4 } })).toBeNull();
    expect(free.match('remind me to', { what: { type: 'text', maxWords: 4 } })).toBeNull();
  });

  it('expands every phrase, bounded and deduplicated', () => {
    expect(expand('run [the] tests').sort()).toEqual(['run tests', 'run the tests']);
    expect(expand("(what's | what is) the time").sort()).toEqual(["what is the time", "what's the time"]);
    expect(expand('run the tests [in {package}]', { package: ['api', 'web-app'] }).sort()).toEqual(['run the tests', 'run the tests in api', 'run the tests in web app']);
    // slots without values drop their branch
    expect(expand('run the tests [in {package}]')).toEqual(['run the tests']);
    expect(expand('test {package}')).toEqual([]);
    expect(expand('[a | b] [c | d] [e | f]')).toHaveLength(26);
    expect(expand('[a | b] [c | d] [e | f]', {}, 5)).toHaveLength(5);
    expect(expand('(a | a) b')).toEqual(['a b']);
    for (const phrase of expand('run [all] [the] (tests | test suite) [in [the] {package} [package | folder]]', { package: PACKAGES })) {
      expect(compileTemplate('run [all] [the] (tests | test suite) [in [the] {package} [package | folder]]').match(phrase, { package: PACKAGES }), phrase).not.toBeNull();
    }
  });
});

type Positive = [utterance: string, intent: string, slots?: Record<string, string>];

const POSITIVES: Positive[] = [
  ['run the tests', 'run_tests', {}],
  ['Run tests.', 'run_tests', {}],
  ['hey jarvis, run the tests', 'run_tests', {}],
  ['Jarvis run the tests please', 'run_tests', {}],
  ['can you run the tests for me', 'run_tests', {}],
  ['run all the tests', 'run_tests', {}],
  ['run the test suite', 'run_tests', {}],
  ['run the tests in api', 'run_tests', { package: 'api' }],
  ['run the tests in the web app package', 'run_tests', { package: 'web-app' }],
  ['run the tests in the core folder', 'run_tests', { package: '@kai/core' }],
  ['run the api tests', 'run_tests', { package: 'api' }],
  ['test web app', 'run_tests', { package: 'web-app' }],
  ["what's the git status", 'git_status'],
  ['What is the git status?', 'git_status'],
  ['git status', 'git_status'],
  ['show me the git status', 'git_status'],
  ['are there any uncommitted changes', 'git_status'],
  ['what changed', 'git_diff'],
  ["what's changed", 'git_diff'],
  ['what has changed', 'git_diff'],
  ['ok so what changed', 'git_diff'],
  ['show me the diff', 'git_diff'],
  ['could you show me the changes please', 'git_diff'],
  ['read me the last commit', 'last_commit'],
  ['what was the last commit', 'last_commit'],
  ["what's the latest commit message", 'last_commit'],
  ['what time is it', 'time'],
  ['what time is it now', 'time'],
  ["what's the time", 'time'],
  ['whats the time', 'time'],
  ['Could you tell me what time it is?', 'time'],
  ['what day is it', 'date'],
  ["what's the date today", 'date'],
  ["what is today's date", 'date'],
  ['stop', 'stop'],
  ['Stop!', 'stop'],
  ['stop it', 'stop'],
  ['cancel', 'stop'],
  ['never mind', 'stop'],
  ['nevermind', 'stop'],
  ['hey jarvis stop', 'stop'],
  ['cancel the job', 'cancel_job'],
  ['stop the job', 'cancel_job'],
  ['please kill the running job', 'cancel_job'],
  ["what's the job status", 'job_status'],
  ["what's the job doing", 'job_status'],
  ["how's the job going", 'job_status'],
  ['how is the job doing', 'job_status'],
  ['is the job done yet', 'job_status'],
  ['what is the status of the job', 'job_status'],
  ['help', 'help'],
  ['what can you do', 'help'],
  ['hey kai, what can you do?', 'help'],
  ['can you help', 'help'],
];

const NEAR_MISSES: string[] = [
  'run the test suite on production',
  'run the tests in production',
  "don't run the tests",
  'do not run the tests',
  'run',
  'the tests',
  'what changed in the weather',
  'what changed in the world today',
  'what time is it in tokyo',
  'is it time to go',
  'time',
  'stop the music',
  'stop playing',
  "don't stop",
  'cancel my meeting',
  'cancel the meeting',
  'read me a poem',
  'read me the last email',
  "what's the status of the deployment",
  "what's the status",
  "what's the weather",
  "what's going on",
  'what day is it tomorrow',
  "what's the date of the meeting",
  'help me write an email',
  'tell me a joke',
  'git push',
  'show me the money',
  'what was the last thing you said',
  "what's the job market like",
  'never mind the tests',
  'hey jarvis',
  'please',
  '',
  '...',
];

describe('intent matching', () => {
  it.each(POSITIVES)('%s → %s', (utterance, intent, slots) => {
    const m = matcher.match(utterance);
    expect(m, utterance).not.toBeNull();
    expect(m!.intent.name).toBe(intent);
    if (slots) expect(m!.slots).toEqual(slots);
    expect(m!.confidence).toBeGreaterThan(0.5);
  });

  it.each(NEAR_MISSES)('near miss %j does not match', (utterance) => {
    expect(matcher.match(utterance)).toBeNull();
  });

  it('has enough cases', () => {
    expect(POSITIVES.length).toBeGreaterThanOrEqual(30);
    expect(NEAR_MISSES.length).toBeGreaterThanOrEqual(20);
  });

  it('gives full confidence to exact matches and less with fillers', () => {
    expect(matcher.match('run the tests')!.confidence).toBe(1);
    expect(matcher.match('hey jarvis run the tests please')!.confidence).toBeLessThan(1);
  });

  it('needs the caller to give package names for the package slot', () => {
    const bare = new IntentMatcher(DEFAULT_INTENTS);
    expect(bare.match('run the tests')!.intent.name).toBe('run_tests');
    expect(bare.match('run the tests in api')).toBeNull();
  });

  it('maps matches to tool calls', () => {
    const call = (text: string) => matcher.toolCall(matcher.match(text)!);
    expect(call('run the tests')).toEqual({ tool: 'run_tests', args: {} });
    expect(call('run the tests in web app')).toEqual({ tool: 'run_tests', args: { package: 'web-app' } });
    expect(call('git status')).toEqual({ tool: 'git_status', args: {} });
    expect(call('what changed')).toEqual({ tool: 'git_diff', args: {} });
    expect(call('read me the last commit')).toEqual({ tool: 'git_log', args: { n: 1 } });
    expect(call('what time is it')).toEqual({ tool: 'current_time', args: {} });
    expect(call('what day is it')).toEqual({ tool: 'current_time', args: {} });
    expect(call('cancel the job')).toEqual({ tool: 'cancel_job', args: {} });
    expect(call("how's the job going")).toEqual({ tool: 'job_status', args: {} });
    expect(call('stop')).toBeNull();
    expect(call('help')).toBeNull();
    expect(matcher.match('stop')!.intent.special).toBe('stop');
    expect(matcher.match('what can you do')!.intent.special).toBe('help');
    expect(matcher.match('cancel the job')!.intent.special).toBeUndefined();
  });

  it('answers with the tool result or a template', () => {
    const m = matcher.match('run the tests in api')!;
    expect(matcher.answer(m, { ok: false, spoken: '142 passed, 2 failed in the api package.' })).toBe('142 passed, 2 failed in the api package.');
    expect(matcher.answer(m, { ok: false, spoken: '' })).toBe("I couldn't run the tests in api.");
    expect(matcher.answer(m)).toBe("I couldn't run the tests in api.");
    const at = new Date(2025, 5, 3, 14, 5);
    expect(matcher.answer(matcher.match('what time is it')!, { ok: true, spoken: '', data: { iso: at.toISOString() } })).toBe("It's 2:05 PM.");
    expect(matcher.answer(matcher.match('what day is it')!, { ok: true, spoken: '', data: { iso: at.toISOString() } })).toBe('Today is Tuesday, June 3.');
    expect(matcher.answer(matcher.match('what day is it')!, { ok: true, spoken: "It's Tuesday." })).toBe("It's Tuesday.");
    expect(matcher.answer(matcher.match('stop')!)).toBe('Okay.');
    expect(matcher.answer(matcher.match('help')!)).toBe(matcher.helpText());
  });
});

describe('phrases for the recognizer', () => {
  it('every phrase matches back to its intent', () => {
    const phrases = matcher.phrases();
    expect(phrases.length).toBeGreaterThan(50);
    expect(new Set(phrases).size).toBe(phrases.length);
    expect(phrases).toContain('run the tests');
    expect(phrases).toContain('run the tests in web app');
    expect(phrases).toContain("what's the time");
    expect(phrases).toContain('what is the time');
    expect(phrases).toContain('stop');
    for (const phrase of phrases) {
      expect(phrase, phrase).toMatch(/^[a-z0-9']+( [a-z0-9']+)*$/);
      expect(matcher.match(phrase), phrase).not.toBeNull();
    }
  });

  it('each intent gets its own phrases back', () => {
    for (const intent of DEFAULT_INTENTS) {
      const own = new IntentMatcher([intent], { slotValues: { package: PACKAGES } }).phrases();
      expect(own.length, intent.name).toBeGreaterThan(0);
      for (const phrase of own) expect(matcher.match(phrase)?.intent.name, phrase).toBe(intent.name);
    }
  });

  it('is bounded', () => {
    expect(matcher.phrases(10)).toHaveLength(10);
  });

  it.skipIf(!existsSync(DICT))('uses only words in the pocketsphinx dictionary', () => {
    const dictionary = readDictionaryWords(DICT);
    const words = new Set(new IntentMatcher(DEFAULT_INTENTS, { slotValues: { package: ['api', 'core', 'web'] } }).phrases().flatMap((p) => p.split(' ')));
    const unknown = [...words].filter((w) => !dictionary.has(w));
    expect(unknown).toEqual([]);
  });

  it('drops phrases with words the dictionary lacks', () => {
    const known = new Set(new IntentMatcher(DEFAULT_INTENTS, { slotValues: { package: ['api'] } }).phrases().flatMap((p) => p.split(' ')));
    const checked = new IntentMatcher(DEFAULT_INTENTS, { slotValues: { package: ['api', 'zqxpkg'] }, knownWord: (w) => known.has(w) });
    const phrases = checked.phrases();
    expect(phrases).toContain('run the tests in api');
    expect(phrases.some((p) => p.includes('zqxpkg'))).toBe(false);
    // still matchable as text (e.g. typed into kai simulate)
    expect(checked.match('run the tests in zqxpkg')?.slots).toEqual({ package: 'zqxpkg' });
  });
});

describe('help text', () => {
  it('lists what it can do', () => {
    const help = matcher.helpText();
    expect(help).toMatch(/^I can run the tests, tell you the git status, what changed, read you the last commit, tell you the time/);
    expect(help).toMatch(/\.$/);
    expect(matcher.fallbackText()).toBe(`I can only do commands offline. ${help}`);
  });

  it('follows the intents given', () => {
    const only: Intent[] = [{ name: 'hello', templates: ['hello there'], help: 'say hello', answer: () => 'Hi.' }];
    expect(new IntentMatcher(only).helpText()).toBe('I can say hello.');
  });
});
