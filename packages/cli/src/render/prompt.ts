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
