#!/usr/bin/env node
import type { CommandIo } from './command.js';
import { describeError } from '../errors.js';
import { main } from './main.js';

const controller = new AbortController();
let interrupts = 0;
const onSignal = () => {
  interrupts += 1;
  if (interrupts > 1) process.exit(130);
  controller.abort();
  // Stopping is promised within 2 s; whatever is still winding down after that is cut short.
  setTimeout(() => process.exit(process.exitCode ?? 1), 1900).unref();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
});
const io: CommandIo = {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  cwd: process.cwd(),
  signal: controller.signal,
};
main(process.argv.slice(2), io).then(
  (code) => {
    process.exitCode = code;
    // The command is done: a handle some library left open must not keep the process alive.
    setTimeout(() => process.exit(code), 1000).unref();
  },
  (err) => {
    process.stderr.write(`kai: ${describeError(err)}\n`);
    process.exitCode = 2;
  },
);
