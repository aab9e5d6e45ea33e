/**
 * Writer thread: receives row groups from the sink, encodes and compresses their pages, writes staging files and
 * publishes them (file-writer.ts). Messages are handled one at a time, in order.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FileWriter, type WriterError } from './file-writer.ts';
import type { ToWorker } from './protocol.ts';

const port = parentPort!;
const writer = new FileWriter(workerData);

try {
  await writer.init();
  port.postMessage({ op: 'ready' });
} catch (err) {
  port.postMessage({ op: 'fatal', error: { message: `parquet writer thread failed to start: ${(err as Error).message}` } });
}

port.on('message', (m: ToWorker) => {
  switch (m.op) {
    case 'rowGroup':
      writer.rowGroup(m.file, m.rg);
      return;
    case 'publish':
      try {
        const result = writer.publish(m.file, m.manifest);
        port.postMessage({ op: 'published', id: m.file.id, result });
      } catch (err) {
        const e = err as WriterError;
        port.postMessage({ op: 'failed', id: m.file.id, error: { message: e.message ?? String(err), code: e.code, path: e.path } });
      }
      return;
    case 'discard':
      writer.discard(m.id);
      return;
    case 'close':
      writer.discardAll();
      port.postMessage({ op: 'closed' });
      return;
  }
});
