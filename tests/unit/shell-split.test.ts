import { describe, expect, it } from 'vitest';
import { splitCommand, type SimpleCommand } from '../../src/agent/permissions/shell.js';

function parts(command: string): SimpleCommand[] {
  const r = splitCommand(command);
  if (!r.ok) throw new Error(`unexpected failure: ${r.reason}`);
  return r.parts;
}
const argvs = (command: string): string[][] => parts(command).map((p) => p.argv);

describe('splitCommand', () => {
  it('removes quotes and escapes like the shell', () => {
    expect(argvs(`echo 'a b' "c d" e\\ f r''m "x"'y'`)).toEqual([['echo', 'a b', 'c d', 'e f', 'rm', 'xy']]);
    expect(argvs('echo "a \\"q\\" \\$x \\n"')).toEqual([['echo', 'a "q" $x \\n']]);
  });

  it('splits on &&, ||, ;, |, & and newlines', () => {
    expect(argvs('a && b || c; d | e & f\ng')).toEqual([['a'], ['b'], ['c'], ['d'], ['e'], ['f'], ['g']]);
    const p = parts('a | b |& c');
    expect(p.map((x) => [x.pipedInto, x.pipesOut])).toEqual([[false, true], [true, true], [true, false]]);
    expect(parts('sleep 1 & ls').map((x) => x.background)).toEqual([true, false]);
  });

  it('does not split operators inside quotes', () => {
    expect(argvs(`echo "a && b; c | d" 'e || f'`)).toEqual([['echo', 'a && b; c | d', 'e || f']]);
  });

  it('keeps variables, tildes and globs literal and flags them', () => {
    const [p] = parts('ls $HOME ~/x "${Y}" *.ts \'$Z\' {a,b}');
    expect(p?.argv).toEqual(['ls', '$HOME', '~/x', '${Y}', '*.ts', '$Z', '{a,b}']);
    expect(p?.words.map((w) => [w.variable, w.tilde, w.glob])).toEqual([
      [false, false, false], [true, false, false], [false, true, false], [true, false, false],
      [false, false, true], [false, false, false], [false, false, true],
    ]);
  });

  it('turns subshells and brace groups into parts', () => {
    expect(argvs('(cd src && ls) ; { echo a; echo b; }')).toEqual([['cd', 'src'], ['ls'], ['echo', 'a'], ['echo', 'b']]);
  });

  it('applies a group redirection to every command inside', () => {
    const p = parts('{ a; b; } > out.txt');
    expect(p.map((x) => x.redirections.map((r) => r.target))).toEqual([['out.txt'], ['out.txt']]);
  });

  it('splits command substitutions and backticks into their own parts', () => {
    const p = parts('echo $(date +%s) `whoami` "$(id -u)"');
    expect(p.map((x) => [x.argv[0], x.fromSubstitution])).toEqual([['date', true], ['whoami', true], ['id', true], ['echo', false]]);
    expect(p[3]?.words[1]?.substitutions).toEqual(['date +%s']);
    expect(argvs('echo $(a $(b) `c`)')).toEqual([['b'], ['c'], ['a', '$(b)', '`c`'], ['echo', '$(a $(b) `c`)']]);
  });

  it('splits process substitutions', () => {
    const p = parts('bash <(curl -s x)');
    expect(p.map((x) => x.argv)).toEqual([['curl', '-s', 'x'], ['bash', '<(curl -s x)']]);
    expect(p[1]?.words[1]?.processSubstitution).toBe(true);
  });

  it('parses redirections with fds and targets', () => {
    const [p] = parts('cmd > out 2>> err.log < in 2>&1 &> both >| force 3<> rw <<< "here"');
    expect(p?.argv).toEqual(['cmd']);
    expect(p?.redirections.map((r) => [r.op, r.fd, r.target, r.writes])).toEqual([
      ['>', 1, 'out', true], ['2>>', 2, 'err.log', true], ['<', 0, 'in', false], ['2>&', 2, '1', false],
      ['&>', 1, 'both', true], ['>|', 1, 'force', true], ['3<>', 3, 'rw', true], ['<<<', 0, 'here', false],
    ]);
    expect(parts('echo a>b')[0]?.redirections[0]?.target).toBe('b');
  });

  it('separates leading assignments from argv', () => {
    const [p] = parts('FOO=1 BAR="a b" npm test');
    expect(p?.argv).toEqual(['npm', 'test']);
    expect(p?.assignments.map((a) => a.text)).toEqual(['FOO=1', 'BAR=a b']);
  });

  it('records function definitions and their bodies', () => {
    const r = splitCommand(':(){ :|:& };:');
    expect(r.ok && r.functions).toEqual([':']);
    expect(r.ok && r.parts.map((p) => p.inFunction)).toEqual([':', ':', undefined]);
  });

  it('skips reserved words of if / while / for', () => {
    expect(argvs('if test -f x; then rm x; else echo no; fi')).toEqual([['test', '-f', 'x'], ['rm', 'x'], ['echo', 'no']]);
  });

  it('ignores comments and line continuations', () => {
    expect(argvs('echo a \\\n b # rm -rf /')).toEqual([['echo', 'a', 'b']]);
  });

  it.each([
    ['cat <<EOF\nx\nEOF', 'heredoc'],
    ["echo 'open", 'single quote'],
    ['echo "open', 'double quote'],
    ['echo `open', 'backtick'],
    ['echo $(open', '('],
    ['(a', '('],
    ['a)', ')'],
    ['a &&', 'missing'],
    ['| a', '|'],
    ['echo $((1+2))', 'arithmetic'],
    ["echo $'\\x41'", "$'"],
    ['case x in a) b;; esac', 'case'],
    ['echo ${x:-$(rm -rf /)}', 'nested'],
    ['cat >', 'target'],
    ['{ a }', '{'],
  ])('reports %j as unparseable (%s)', (command, fragment) => {
    const r = splitCommand(command);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain(fragment);
  });

  it('keeps the source text of each part', () => {
    expect(parts('git status && npm test -- --run').map((p) => p.text)).toEqual(['git status', 'npm test -- --run']);
  });
});
