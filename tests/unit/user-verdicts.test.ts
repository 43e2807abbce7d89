import { describe, expect, it } from 'vitest';
import { UserVerdicts } from '../../src/audio/user-verdicts.js';

/** 20 ms verdicts from 0 ms: `pattern` has one character per frame, 'u' the user, '.' the echo. */
function verdicts(pattern: string): UserVerdicts {
  const v = new UserVerdicts(1000);
  [...pattern].forEach((c, i) => v.push(i * 20, i * 20 + 20, c === 'u'));
  return v;
}

describe('UserVerdicts', () => {
  it('gives the share of user frames since a time', () => {
    const v = verdicts('....uuuuuu');
    expect(v.userShare(80)).toBe(1);
    expect(v.userShare(0)).toBeCloseTo(0.6);
    expect(v.userShare(500)).toBe(0);
    expect(v.mostlyUser(0)).toBe(true);
    expect(v.mostlyUser(80)).toBe(true);
    expect(verdicts('.....uuuuu').mostlyUser(0)).toBe(false);
  });

  it('keeps only the last keepMs of verdicts', () => {
    const v = new UserVerdicts(100);
    for (let i = 0; i < 20; i++) v.push(i * 20, i * 20 + 20, i < 10);
    expect(v.userShare(0)).toBe(0);
  });

  it("keeps the VAD's onset when every frame is the user's (the echo cancelled): the words' first sounds stay in", () => {
    expect(verdicts('uuuuuuuuuuuuuuu').userOnset(100)).toBe(100);
  });

  it('moves the onset to where the user began when the VAD was hearing the echo before', () => {
    expect(verdicts('..........uuuuu').userOnset(40)).toBe(200);
  });

  it('passes over a stray loud frame of echo long before the user began', () => {
    expect(verdicts('.u........uuuuuuuu').userOnset(0)).toBe(200);
  });

  it('keeps a short dip inside the words', () => {
    expect(verdicts('..uu.uuuuuuu').userOnset(0)).toBe(40);
  });

  it('knows of no onset when no frame since the VAD onset was the user', () => {
    expect(verdicts('uuuu......').userOnset(100)).toBeNull();
  });
});
