// A writable that keeps every JSON line a logger writes, for assertions on exact output.
import { Writable } from 'node:stream';

export interface Capture {
  stream: Writable;
  raw(): Buffer;
  records(): Record<string, unknown>[];
}

export function capture(): Capture {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, 'utf8'));
      cb();
    },
  });
  const raw = () => Buffer.concat(chunks);
  return {
    stream,
    raw,
    records: () =>
      raw()
        .toString('utf8')
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
