import { mkdirSync } from 'node:fs';
import { cacheDir } from './fixtures.js';

export default function setup(): void {
  mkdirSync(cacheDir, { recursive: true });
}
