/** Share of recent microphone frames that must be the user's (not the echo) for speech to be theirs. */
const USER_SHARE = 0.6;

interface Verdict {
  startMs: number;
  endMs: number;
  user: boolean;
}

/**
 * The self-speech gate's verdicts on the recent microphone frames (was it the user rather than the
 * assistant's own echo?), on the stream timeline: the barge-in decision and where the user's words began.
 */
export class UserVerdicts {
  private readonly verdicts: Verdict[] = [];

  /** `keepMs`: how far back verdicts are kept. */
  constructor(private readonly keepMs: number) {}

  push(startMs: number, endMs: number, user: boolean): void {
    this.verdicts.push({ startMs, endMs, user });
    while (this.verdicts[0]!.endMs < endMs - this.keepMs) this.verdicts.shift();
  }

  /** Share of the frames ending after `sinceMs` that were the user's (0 when there are none). */
  userShare(sinceMs: number): number {
    const recent = this.verdicts.filter((v) => v.endMs > sinceMs);
    return recent.length === 0 ? 0 : recent.filter((v) => v.user).length / recent.length;
  }

  /** Were the frames ending after `sinceMs` mostly the user's? */
  mostlyUser(sinceMs: number): boolean {
    return this.userShare(sinceMs) >= USER_SHARE;
  }

  /**
   * Where the user's speech began, given the VAD's onset: the earliest frame from the onset on after which the
   * microphone has mostly been the user. The VAD may have been hearing the echo before the user began (their
   * words start with the louder frames); but where every frame is the user's (the echo cancelled), the VAD's
   * onset stands, so the words' first sounds are kept for the recogniser. Null when no such frame is known.
   */
  userOnset(vadOnsetMs: number): number | null {
    const from = this.verdicts.findIndex((v) => v.endMs > vadOnsetMs);
    if (from < 0) return null;
    let users = 0;
    for (let i = this.verdicts.length - 1; i >= from; i--) if (this.verdicts[i]!.user) users++;
    for (let i = from; i < this.verdicts.length; i++) {
      const v = this.verdicts[i]!;
      if (v.user && users / (this.verdicts.length - i) >= USER_SHARE) return Math.max(vadOnsetMs, v.startMs);
      if (v.user) users--;
    }
    return null;
  }
}
