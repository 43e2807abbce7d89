/** RMS level of int16 samples in dB relative to full scale (−100 for digital silence). */
export function levelDbfs(samples: Int16Array): number {
  if (samples.length === 0) return -100;
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i]! * samples[i]!;
  const rms = Math.sqrt(sum / samples.length) / 32768;
  return rms > 0 ? Math.max(-100, 20 * Math.log10(rms)) : -100;
}

/** A fixed-width bar for a terminal level meter, from −60 dBFS (empty) to 0 dBFS (full). */
export function meterBar(dbfs: number, width = 20): string {
  const filled = Math.round(Math.min(1, Math.max(0, (dbfs + 60) / 60)) * width);
  return '█'.repeat(filled) + '·'.repeat(width - filled);
}
