/**
 * Prometheus metrics (prom-client) for every pipeline in the process, served on an optional port
 * (`--metrics-port`). Counters are incremented per batch, never per record, to keep the hot path cheap.
 */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'stockbridge_' });

const labelNames = ['pipeline'] as const;

export const metrics = {
  recordsIn: new Counter({ name: 'stockbridge_records_in_total', help: 'Records read from the source', labelNames, registers: [registry] }),
  recordsMapped: new Counter({ name: 'stockbridge_records_mapped_total', help: 'Records that produced at least one event', labelNames, registers: [registry] }),
  recordsFiltered: new Counter({ name: 'stockbridge_records_filtered_total', help: 'Records dropped by the mapping filter or producing no event', labelNames, registers: [registry] }),
  recordsRejected: new Counter({
    name: 'stockbridge_records_rejected_total',
    help: 'Records sent to the dead-letter store, by stage (decode, map, validate, sink)',
    labelNames: ['pipeline', 'stage'] as const,
    registers: [registry],
  }),
  eventsOut: new Counter({ name: 'stockbridge_events_out_total', help: 'Events acknowledged by every sink', labelNames, registers: [registry] }),
  batchLatency: new Histogram({
    name: 'stockbridge_batch_latency_seconds',
    help: 'From reading a batch to committing it at the source',
    labelNames,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
    registers: [registry],
  }),
  sinkErrors: new Counter({
    name: 'stockbridge_sink_errors_total',
    help: 'Failed sink writes (each retry counts), by sink and kind (transient, fatal)',
    labelNames: ['pipeline', 'sink', 'kind'] as const,
    registers: [registry],
  }),
  pendingBatches: new Gauge({ name: 'stockbridge_pending_batches', help: 'Batches handed to sinks and not yet committed (checkpoint lag)', labelNames, registers: [registry] }),
  pendingRecords: new Gauge({ name: 'stockbridge_pending_records', help: 'Records read but not yet committed (checkpoint lag)', labelNames, registers: [registry] }),
  lastCommit: new Gauge({ name: 'stockbridge_last_commit_timestamp_seconds', help: 'Unix time of the last source commit', labelNames, registers: [registry] }),
  sinkUp: new Gauge({ name: 'stockbridge_sink_up', help: '1 when the sink accepted its last write, 0 while it is failing', labelNames: ['pipeline', 'sink'] as const, registers: [registry] }),
};

/** Serves `/metrics` on the port; resolves once listening. */
export async function serveMetrics(port: number, host = '0.0.0.0'): Promise<Server> {
  const server = createServer(async (req, res) => {
    if (req.url?.startsWith('/metrics')) {
      res.setHeader('content-type', registry.contentType);
      res.end(await registry.metrics());
    } else {
      res.statusCode = 404;
      res.end('see /metrics\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  server.unref();
  return server;
}
