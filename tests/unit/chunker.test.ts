import { describe, expect, it } from 'vitest';
import { SentenceChunker, describeCodeBlock, sentences, type ChunkerOptions } from '../../src/speech/chunker.js';

/** The whole text in one delta. */
function chunk(text: string, options?: ChunkerOptions): string[] {
  const chunker = new SentenceChunker(options);
  return [...chunker.push(text), ...chunker.flush()];
}

/** The text in the given deltas. */
function chunkDeltas(deltas: string[], options?: ChunkerOptions): string[] {
  const chunker = new SentenceChunker(options);
  return [...deltas.flatMap((d) => chunker.push(d)), ...chunker.flush()];
}

/** What has been emitted after feeding `text` one character at a time, without flushing. */
function emittedAfter(text: string): string[] {
  const chunker = new SentenceChunker();
  return [...text].flatMap((c) => chunker.push(c));
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Cuts `text` into deltas of 1 to `max` characters. */
function randomDeltas(text: string, seed: number, max: number): string[] {
  const random = mulberry32(seed);
  const out: string[] = [];
  for (let i = 0; i < text.length; ) {
    const n = 1 + Math.floor(random() * max);
    out.push(text.slice(i, i + n));
    i += n;
  }
  return out;
}

const REPLY = `Sure! Here's how to fix the failing test.

## What went wrong

The test in \`src/app.ts\` expects Node 20.19, e.g. the version in \`.nvmrc\`, but CI runs v18.2.0. Dr. Smith's note (see [the wiki](https://wiki.example.com/ci?x=1)) says so too.

1. Update **package.json** to require \`"node": ">=20.19"\`.
2. Run \`npm ci\` and then \`npm test\`.
3. Check the logs in ../shared/logs/ci.log for errors.

\`\`\`bash
npm ci
npm test -- --run. Not spoken!
\`\`\`

| Step | Time |
|------|------|
| install | 12 s |
| *test* | 3.5 s |

> **Note:** the cache lives at ~/.npm, i.e. your home directory.

---

That's it. Questions? Email me at dev@example.com. Good luck!`;

const REPLY_SENTENCES = [
  'Sure!',
  "Here's how to fix the failing test.",
  'What went wrong',
  'The test in src/app.ts expects Node 20.19, e.g. the version in .nvmrc, but CI runs v18.2.0.',
  "Dr. Smith's note (see the wiki) says so too.",
  'Update package.json to require "node": ">=20.19".',
  'Run npm ci and then npm test.',
  'Check the logs in ../shared/logs/ci.log for errors.',
  'Here is a code block in Bash.',
  'Step, Time',
  'install, 12 s',
  'test, 3.5 s',
  'Note: the cache lives at ~/.npm, i.e. your home directory.',
  "That's it.",
  'Questions?',
  'Email me at dev@example.com.',
  'Good luck!',
];

const SPLITS: Array<[string, string, string[]]> = [
  ['period before a capital', 'Hello there. This is Kai.', ['Hello there.', 'This is Kai.']],
  ['exclamation and question marks', 'Done! Want more? Yes.', ['Done!', 'Want more?', 'Yes.']],
  ['runs of marks', 'Really?! Yes!!! Ok?? Fine.', ['Really?!', 'Yes!!!', 'Ok??', 'Fine.']],
  ['three-dot ellipsis', 'Wait... The build passed.', ['Wait...', 'The build passed.']],
  ['unicode ellipsis', 'Hmm… Let me check.', ['Hmm…', 'Let me check.']],
  ['closing double quote', 'He said "Stop." Then he left.', ['He said "Stop."', 'Then he left.']],
  ['closing curly quote', 'She asked “Why?” Nobody knew.', ['She asked “Why?”', 'Nobody knew.']],
  ['closing paren', 'It failed (again.) Try later.', ['It failed (again.)', 'Try later.']],
  ['before a digit', 'I counted 3. 2 were red.', ['I counted 3.', '2 were red.']],
  ['before an opening quote', 'It said. "Hello" back.', ['It said.', '"Hello" back.']],
  ['file name at the end of a sentence', 'Edit package.json. Then run it.', ['Edit package.json.', 'Then run it.']],
  ['version at the end of a sentence', 'Use Node 20.19. It is required.', ['Use Node 20.19.', 'It is required.']],
  ['URL at the end of a sentence', 'Go to https://example.com/docs. It is there.', ['Go to https://example.com/docs.', 'It is there.']],
  ['etc. before a capital (it usually ends the sentence)', 'Bring apples, pears, etc. The rest is here.', ['Bring apples, pears, etc.', 'The rest is here.']],
  ['p.m. before a capital', 'We meet at 5 p.m. See you.', ['We meet at 5 p.m.', 'See you.']],
  ['No. as an answer', 'Is it ready? No. It failed.', ['Is it ready?', 'No.', 'It failed.']],
  ['the pronoun I', 'So did I. Then we left.', ['So did I.', 'Then we left.']],
  ['a sentence without final punctuation at the end', 'First one. And the tail', ['First one.', 'And the tail']],
  ['newline between paragraphs', 'First paragraph\n\nSecond paragraph', ['First paragraph', 'Second paragraph']],
  ['newline after a sentence', 'One.\nTwo.', ['One.', 'Two.']],
];

const NO_SPLITS: Array<[string, string]> = [
  ['e.g.', 'Use a tool, e.g. Vitest, for this.'],
  ['i.e.', 'The default, i.e. Kokoro, is fine.'],
  ['E.g. at the start', 'E.g. This one works.'],
  ['etc. before lower case', 'Apples, pears, etc. are fruit.'],
  ['vs.', 'It is Vitest vs. Jest here.'],
  ['Mr. Mrs. Ms.', 'Mr. Smith met Mrs. Jones and Ms. Lee.'],
  ['Dr. and Prof.', 'Dr. Who met Prof. Oak.'],
  ['St. and Jr.', 'He lives on St. James Street with Bob Jr. Smith.'],
  ['No. before a number', 'See issue No. 5 for details.'],
  ['a.m. before lower case', 'It starts at 9 a.m. sharp.'],
  ['U.S.', 'The U.S. Army uses it.'],
  ['initials', 'J. R. R. Tolkien wrote it.'],
  ['decimal', 'Pi is 3.14 and half is 0.5 today.'],
  ['dotted versions', 'Upgrade to v1.2.3 or v7.0.2 now.'],
  ['Node version', 'We need Node 20.19 for this.'],
  ['file names', 'Open package.json and README.md now.'],
  ['paths', 'Look in src/app.ts and ../shared/x and ./run.sh for it.'],
  ['URLs', 'See https://example.com/a.b?c=1!d and www.example.org now.'],
  ['e-mail addresses', 'Write to jane.doe@example.co.uk today.'],
  ['lower case after a period', 'The value is 3. that is odd.'],
  ['ellipsis before lower case', 'I was thinking... maybe not.'],
  ['question mark in a quote before lower case', 'He asked "why?" and left.'],
  ['a soft line break inside a paragraph', 'This sentence is\nwrapped over two lines.'],
];

const MARKDOWN: Array<[string, string, string[]]> = [
  ['ATX headings', '# Title\n### Sub title\nText.', ['Title', 'Sub title', 'Text.']],
  ['numbered headings', '## 1. Setup\n## 2. Run', ['1. Setup', '2. Run']],
  ['a hash that is not a heading', '#hashtag is fine.', ['#hashtag is fine.']],
  ['bold and italic', 'This is **bold**, *italic*, __strong__ and _em_.', ['This is bold, italic, strong and em.']],
  ['strikethrough', 'It is ~~not~~ done.', ['It is not done.']],
  ['bold around a sentence end', '**Done.** Next step.', ['Done.', 'Next step.']],
  ['literal stars and underscores', 'Compute 2 * 3 or 5*3 in my_var_name.', ['Compute 2 * 3 or 5*3 in my_var_name.']],
  ['inline code keeps its content', 'Run `npm test` now.', ['Run npm test now.']],
  ['inline code keeps markdown symbols', 'Use `a*b_c*` here.', ['Use a*b_c* here.']],
  ['double-backtick code', 'Type ``a ` b`` here.', ['Type a ` b here.']],
  ['links', 'Read [the docs](https://x.dev/a_(b)) first.', ['Read the docs first.']],
  ['links with emphasis', 'See [**this** one](u) now.', ['See this one now.']],
  ['brackets that are not links', 'See [1] and [x] here.', ['See [1] and [x] here.']],
  ['images are dropped', 'Look: ![a diagram](img.png) there.', ['Look: there.']],
  ['autolinks', 'Visit <https://example.com> now.', ['Visit https://example.com now.']],
  ['HTML tags', 'Hello<br>world <b>bold</b> <span class="x">in</span>.<br/>Next <p>one</p>', ['Hello world bold in.', 'Next one']],
  ['HTML tags with attributes', 'Click <a href="https://x.dev/a.b?c=1" target=_blank>here</a>.', ['Click here.']],
  ['setext headings', 'Title\n=====\nSub\n---\nText.', ['Title', 'Sub', 'Text.']],
  ['HTML comments', 'Hi <!-- secret --> there.', ['Hi there.']],
  ['a less-than sign', 'If a < b then stop.', ['If a < b then stop.']],
  ['escapes', 'A \\*star\\* and \\_under\\_.', ['A *star* and _under_.']],
  ['block quotes', '> Quoted line\n> continues here.\n\nAfter.', ['Quoted line continues here.', 'After.']],
  ['nested quotes', '> > Deep.', ['Deep.']],
  ['bullets', '- one\n* two\n+ three', ['one', 'two', 'three']],
  ['numbered items', '1. First step\n2. Second step\n10) Tenth', ['First step', 'Second step', 'Tenth']],
  ['unicode bullets', '• one\n• two', ['one', 'two']],
  ['bold labels in items', '* **Speed:** fast.\n* **Cost:** low.', ['Speed: fast.', 'Cost: low.']],
  ['task list', '- [ ] todo\n- [x] done', ['todo', 'done']],
  ['nested bullets', '- outer\n  - inner', ['outer', 'inner']],
  ['indented item continuation', '- an item that\n  goes on.', ['an item that goes on.']],
  ['paragraph after a list', '- item\nNext paragraph.', ['item', 'Next paragraph.']],
  ['list after a colon', 'Steps:\n- build\n- test', ['Steps:', 'build', 'test']],
  ['numbers at a line start that are not items', '3.14 is pi.\n2024 was fine.', ['3.14 is pi.', '2024 was fine.']],
  ['horizontal rules', 'Above.\n\n---\n***\n___\nBelow.', ['Above.', 'Below.']],
  ['bold at a line start is not a bullet', '**Note:** read this.', ['Note: read this.']],
  ['tables', '| Name | Age |\n|:-----|----:|\n| Ann | 31 |\n| **Bob** | 42 |', ['Name, Age', 'Ann, 31', 'Bob, 42']],
  ['CRLF line ends', 'One.\r\nTwo\r\n\r\nThree', ['One.', 'Two', 'Three']],
  ['whitespace is normalized', '  Lots   of\t\tspace .  Here  ', ['Lots of space .', 'Here']],
  ['nothing speakable', '---\n\n***\n', []],
  ['empty input', '', []],
];

const CODE_BLOCKS: Array<[string, string, string[]]> = [
  ['with a language', 'Try this:\n```ts\nconst x = 1. Foo();\n```\nDone.', ['Try this:', 'Here is a code block in TypeScript.', 'Done.']],
  ['without a language', '```\nls -la\n```', ['Here is a code block.']],
  ['with an unknown language', '```zig\nconst x = 1;\n```', ['Here is a code block in zig.']],
  ['with an info string', '```python title="a.py"\nprint(1)\n```', ['Here is a code block in Python.']],
  ['tilde fence', '~~~json\n{"a": 1}\n~~~\nOk.', ['Here is a code block in JSON.', 'Ok.']],
  ['longer fence with a shorter one inside', '````md\n```js\nx\n```\n````\nAfter.', ['Here is a code block in Markdown.', 'After.']],
  ['markdown inside is not spoken', '```\n# not a heading\n- not an item. Nope!\n```', ['Here is a code block.']],
  ['unclosed at the end of the stream', 'Look:\n```sh\nrm -rf build\nnpm ci', ['Look:', 'Here is a code block in shell.']],
  ['in a list item', '1. Install:\n   ```bash\n   npm ci\n   ```\n2. Test.', ['Install:', 'Here is a code block in Bash.', 'Test.']],
  ['two blocks', '```py\na\n```\n```\nb\n```', ['Here is a code block in Python.', 'Here is a code block.']],
];

describe('SentenceChunker: sentence ends', () => {
  it.each(SPLITS)('splits on %s', (_name, text, expected) => {
    expect(chunk(text)).toEqual(expected);
  });

  it.each(NO_SPLITS)('does not split on %s', (_name, text) => {
    expect(chunk(text)).toEqual([text.replace(/\s+/g, ' ')]);
  });
});

describe('SentenceChunker: markdown', () => {
  it.each(MARKDOWN)('strips %s', (_name, text, expected) => {
    expect(chunk(text)).toEqual(expected);
  });

  it.each(CODE_BLOCKS)('reads a fenced code block %s as one short sentence', (_name, text, expected) => {
    expect(chunk(text)).toEqual(expected);
  });

  it.each([
    ['ts', 'Here is a code block in TypeScript.'],
    ['JavaScript', 'Here is a code block in JavaScript.'],
    ['bash', 'Here is a code block in Bash.'],
    ['text', 'Here is a code block.'],
    ['', 'Here is a code block.'],
    ['{.weird}', 'Here is a code block.'],
  ])('describes a code block with info %j', (info, expected) => {
    expect(describeCodeBlock(info)).toBe(expected);
  });
});

describe('SentenceChunker: length cap', () => {
  const words = (s: string[]): string => s.join(' ').split(' ').filter(Boolean).join(' ');

  it('splits a run-on sentence after a comma before the cap', () => {
    const text = 'This sentence goes on for quite a while, it keeps adding clauses and words until it is far too long to speak';
    const out = chunk(text, { maxChars: 60 });
    expect(out[0]).toBe('This sentence goes on for quite a while,');
    expect(out.every((s) => s.length <= 60)).toBe(true);
    expect(words(out)).toBe(text);
  });

  it('prefers a break before a conjunction over a plain space', () => {
    const text = 'The quick brown fox jumps over the lazy dog and then it runs far away into the deep dark woods';
    expect(chunk(text, { maxChars: 60 })).toEqual([
      'The quick brown fox jumps over the lazy dog',
      'and then it runs far away into the deep dark woods',
    ]);
  });

  it('falls back to the last space and never cuts a word', () => {
    const text = Array.from({ length: 80 }, (_, i) => `word${i}`).join(' ');
    const out = chunk(text, { maxChars: 50 });
    expect(out.length).toBeGreaterThan(5);
    expect(out.every((s) => s.length <= 50)).toBe(true);
    expect(words(out)).toBe(text);
  });

  it('uses the default cap of 220 characters', () => {
    const text = `${'lorem ipsum '.repeat(40)}end.`;
    const out = chunk(text);
    expect(out.length).toBeGreaterThan(1);
    expect(out.every((s) => s.length <= 220)).toBe(true);
    expect(out[0]?.length).toBeGreaterThan(200);
  });

  it('does not touch sentences under the cap', () => {
    expect(chunk('Short one. Another short one.', { maxChars: 20 })).toEqual(['Short one.', 'Another short one.']);
  });

  it('keeps a single word longer than the cap whole', () => {
    const url = `https://example.com/${'a'.repeat(80)}`;
    expect(chunk(`Open ${url} now please.`, { maxChars: 40 })).toEqual(['Open', url, 'now please.']);
  });

  it('emits a capped piece while the LLM is still writing', () => {
    const chunker = new SentenceChunker({ maxChars: 30 });
    const out = chunker.push('one two three four five six seven eight nine ten');
    expect(out).toEqual(['one two three four five six']);
  });
});

describe('SentenceChunker: minChars', () => {
  it('emits a short first sentence at once by default', () => {
    expect(new SentenceChunker().push('Sure. H')).toEqual(['Sure.']);
  });

  it('joins fragments shorter than minChars to the next sentence', () => {
    expect(chunk('Sure. Here it is. Done.', { minChars: 10 })).toEqual(['Sure. Here it is.', 'Done.']);
  });

  it('adds a period after a heading it joins', () => {
    expect(chunk('## Setup\nInstall the deps now.', { minChars: 10 })).toEqual(['Setup. Install the deps now.']);
  });

  it('rejects invalid options', () => {
    expect(() => new SentenceChunker({ maxChars: 0 })).toThrow(RangeError);
    expect(() => new SentenceChunker({ maxChars: 1.5 })).toThrow(RangeError);
    expect(() => new SentenceChunker({ minChars: -1 })).toThrow(RangeError);
  });
});

describe('SentenceChunker: streaming', () => {
  const corpus = [
    REPLY,
    ...SPLITS.map(([, text]) => text),
    ...NO_SPLITS.map(([, text]) => text),
    ...MARKDOWN.map(([, text]) => text),
    ...CODE_BLOCKS.map(([, text]) => text),
  ];

  it('reads a realistic LLM reply', () => {
    expect(chunk(REPLY)).toEqual(REPLY_SENTENCES);
  });

  it.each<[string, ChunkerOptions]>([
    ['default options', {}],
    ['a tight cap and minChars', { maxChars: 40, minChars: 15 }],
  ])('gives the same sentences however the text is cut into deltas (%s)', (_name, options) => {
    for (const text of corpus) {
      const whole = chunk(text, options);
      expect(chunkDeltas([...text], options), text).toEqual(whole);
      for (let seed = 1; seed <= 20; seed++) {
        expect(chunkDeltas(randomDeltas(text, seed, 1 + (seed % 9)), options), `${text} (seed ${seed})`).toEqual(whole);
      }
    }
  });

  it('gives the same sentences for random markdown soup cut at random', () => {
    const pieces = [
      'Hello', 'world', 'The', 'apple', ' ', ' ', '  ', '\t', '\n', '\n', '\n\n', '\r\n', '. ', '! ', '? ', '?!', '.', '...',
      '…', '"', "'", '”', '(', ')', '# ', '## ', '####### ', '- ', '* ', '• ', '1. ', '2) ', '- [ ] ', '> ', '> > ', '---',
      '===', '```', '```ts\n', '```\n', '~~~\n', '`', '`code`', '**', '*', '_', '__', '~~', '[', ']', '](', '[t](u)',
      '![', '<', '>', '<b>', '</b>', '<br>', '<!--', '-->', '<https://a.b>', 'a@b.co', '<a href="x.y">', '\\', '|',
      '| a | b |', '|---|', 'e.g.', 'i.e.', 'etc.', 'Dr.', 'Mr.', 'No. 5', 'U.S.', 'J.', '3.14', '5', 'package.json',
      'https://x.dev/a_b', 'snake_case', '2 * 3',
    ];
    for (let seed = 1; seed <= 1500; seed++) {
      const random = mulberry32(seed);
      const text = Array.from({ length: 5 + Math.floor(random() * 50) }, () => pieces[Math.floor(random() * pieces.length)]).join('');
      for (const options of [{}, { maxChars: 20, minChars: 6 }]) {
        const whole = chunk(text, options);
        expect(chunkDeltas(randomDeltas(text, seed, 1 + (seed % 7)), options), JSON.stringify(text)).toEqual(whole);
        for (const sentence of whole) expect(sentence).toMatch(/^\S(?:.*\S)?$/);
        for (const sentence of whole) expect(sentence).not.toMatch(/\s\s/);
      }
    }
  });

  it('gives the same sentences for every cut of the reply into two deltas', () => {
    for (let i = 0; i <= REPLY.length; i++) {
      expect(chunkDeltas([REPLY.slice(0, i), REPLY.slice(i)])).toEqual(REPLY_SENTENCES);
    }
  });

  it('gives the same capped pieces however the text is cut', () => {
    const text = 'The quick brown fox, having jumped, ran over the lazy dog and then it went far away into the deep woods; nobody saw it again. The end came soon after that';
    const whole = chunk(text, { maxChars: 40 });
    for (let seed = 1; seed <= 30; seed++) {
      expect(chunkDeltas(randomDeltas(text, seed, 6), { maxChars: 40 })).toEqual(whole);
    }
  });

  it('never takes back a sentence: what is out after every delta is a prefix of the result', () => {
    const chunker = new SentenceChunker();
    const out: string[] = [];
    for (const c of REPLY) {
      out.push(...chunker.push(c));
      expect(REPLY_SENTENCES.slice(0, out.length)).toEqual(out);
    }
  });

  it.each<[string, string[]]>([
    ['Hello there. Th', ['Hello there.']],
    ['Hello there. ', []],
    ['Hello there.', []],
    ['Done! N', ['Done!']],
    ['Wait... W', ['Wait...']],
    ['Use it, e.g', []],
    ['Use it, e.g. ', []],
    ['Use it, e.g. Vitest', []],
    ['Pi is 3.', []],
    ['Pi is 3.1', []],
    ['Call Dr. Sm', []],
    ['He said "Stop." T', ['He said "Stop."']],
    ['# Title\n', ['Title']],
    ['A paragraph\n\n', ['A paragraph']],
    ['- one\n', []],
    ['- one\n- t', ['one']],
    ['1. one\n2. t', ['one']],
    ['| a | b |\n', ['a, b']],
    ['Intro.\n```py\n', ['Intro.', 'Here is a code block in Python.']],
    ['```py\nprint("Hi. There")\n', ['Here is a code block in Python.']],
    ['Run `npm test. Now', []],
    ['See [the docs. Now', []],
    ['**Done.** N', ['Done.']],
    ['If x <y then it fails. N', ['If x <y then it fails.']],
    ['Hi <span class="a. B"', []],
  ])('after %j it has emitted %j', (text, expected) => {
    expect(emittedAfter(text)).toEqual(expected);
  });

  it('flushes the tail at the end of the stream', () => {
    const chunker = new SentenceChunker();
    expect(chunker.push('First. Second without an end')).toEqual(['First.']);
    expect(chunker.flush()).toEqual(['Second without an end']);
    expect(chunker.flush()).toEqual([]);
  });

  it('flushes a held-back construct as text', () => {
    const chunker = new SentenceChunker();
    expect(chunker.push('Half a [link and `code')).toEqual([]);
    expect(chunker.flush()).toEqual(['Half a [link and code']);
  });

  it('can be reused after flush', () => {
    const chunker = new SentenceChunker();
    expect(chunker.push('```ts\nunclosed')).toEqual(['Here is a code block in TypeScript.']);
    expect(chunker.flush()).toEqual([]);
    expect([...chunker.push('Fresh start. N'), ...chunker.flush()]).toEqual(['Fresh start.', 'N']);
  });

  it('streams sentences from an async iterable of deltas', async () => {
    async function* deltas(): AsyncGenerator<string> {
      for (const d of randomDeltas(REPLY, 7, 5)) yield d;
    }
    const out: string[] = [];
    for await (const sentence of sentences(deltas())) out.push(sentence);
    expect(out).toEqual(REPLY_SENTENCES);
  });

  it('yields each sentence before the rest of the stream has arrived', async () => {
    const seen: string[] = [];
    async function* deltas(): AsyncGenerator<string> {
      yield 'First one. Sec';
      seen.push('second delta requested');
      yield 'ond one.';
    }
    for await (const sentence of sentences(deltas())) seen.push(sentence);
    expect(seen).toEqual(['First one.', 'second delta requested', 'Second one.']);
  });
});
