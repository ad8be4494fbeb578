/**
 * A worker thread that reads one file at a time, cuts it with FastCDC and computes each
 * chunk's keyed id — the CPU-heavy part of a push — so that both cores work while the main
 * thread deduplicates, encrypts only the chunks it does not have yet, packs and uploads.
 *
 * Flow control: at most `credits` chunks are in flight to the main thread; each `ack`
 * returns one. Memory stays bounded however large the file.
 */

import { createSecretKey } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { contentIdSync, type SecretKey } from '../crypto/cipher.js';
import { type ChunkerParams, FastCdcChunker } from './fastcdc.js';

export interface ChunkWorkerData {
  seed: Uint8Array;
  idKey: Uint8Array;
  params: ChunkerParams;
  credits: number;
}

export type ToWorker = { type: 'file'; job: number; path: string } | { type: 'ack'; job: number };

export type FromWorker =
  | { type: 'chunk'; job: number; index: number; id: string; data: Uint8Array }
  | { type: 'done'; job: number; chunks: number; size: number }
  | { type: 'error'; job: number; message: string; code?: string };

const READ_BUFFER = 1024 * 1024;

if (parentPort) {
  const port = parentPort;
  const data = workerData as ChunkWorkerData;
  const idKey: SecretKey = createSecretKey(data.idKey);
  let credits = data.credits;
  let waiting: (() => void) | undefined;
  const queue: Array<{ job: number; path: string }> = [];
  let busy = false;

  const send = async (message: FromWorker, transfer: ArrayBuffer[] = []) => {
    if (message.type === 'chunk') {
      while (credits <= 0) await new Promise<void>((resolve) => (waiting = resolve));
      credits--;
    }
    port.postMessage(message, transfer);
  };

  const processFile = async (job: number, path: string) => {
    const chunker = new FastCdcChunker(data.seed, data.params);
    let index = 0;
    let size = 0;
    const emit = async (chunk: Buffer) => {
      size += chunk.length;
      const id = contentIdSync(idKey, chunk);
      // A chunk is usually a view into the read buffer: hand over a copy of its own.
      const own =
        chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength ? chunk : Buffer.from(chunk);
      const bytes = new Uint8Array(own.buffer, own.byteOffset, own.byteLength);
      const transferable = own.byteOffset === 0 && own.byteLength === own.buffer.byteLength;
      await send(
        { type: 'chunk', job, index: index++, id, data: bytes },
        transferable ? [own.buffer as ArrayBuffer] : [],
      );
    };
    try {
      for await (const buffer of createReadStream(path, { highWaterMark: READ_BUFFER })) {
        for (const chunk of chunker.push(buffer as Buffer)) await emit(chunk);
      }
      const last = chunker.finish();
      if (last) await emit(last);
      await send({ type: 'done', job, chunks: index, size });
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      await send({ type: 'error', job, message: e.message, code: e.code });
    }
  };

  const pump = async () => {
    if (busy) return;
    busy = true;
    while (queue.length > 0) {
      const next = queue.shift()!;
      await processFile(next.job, next.path);
    }
    busy = false;
  };

  port.on('message', (message: ToWorker) => {
    if (message.type === 'ack') {
      credits++;
      const wake = waiting;
      waiting = undefined;
      wake?.();
    } else {
      queue.push({ job: message.job, path: message.path });
      void pump();
    }
  });
}
