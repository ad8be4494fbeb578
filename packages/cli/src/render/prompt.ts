import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { interrupted } from './interrupt.js';

/** Reads a line from the terminal without echoing it. */
export function promptHidden(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let muted = false;
    const output = new Writable({
      write(chunk, _encoding, done) {
        if (!muted) process.stderr.write(chunk);
        done();
      },
    });
    const rl = createInterface({ input: process.stdin, output, terminal: true });
    rl.question(question, (answer) => {
      rl.close();
      process.stderr.write('\n');
      resolve(answer);
    });
    muted = true;
    // Ctrl-C at the prompt (readline has the terminal in raw mode, so no SIGINT is sent).
    rl.on('SIGINT', () => {
      rl.close();
      interrupted();
    });
    rl.on('error', reject);
  });
}

/** Asks a yes/no question on the terminal; false when there is none to ask on. */
export async function confirm(question: string, jsonMode = false): Promise<boolean> {
  if (!process.stdin.isTTY || jsonMode) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  const answer = await new Promise<string>((resolve) => rl.question(`${question} [y/N] `, resolve));
  rl.close();
  return /^y(es)?$/i.test(answer.trim());
}

/** Asks for a typed word (e.g. a device name before deleting its backups). */
export async function confirmTyped(question: string, expected: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  const answer = await new Promise<string>((resolve) => rl.question(`${question} `, resolve));
  rl.close();
  return answer.trim() === expected;
}
