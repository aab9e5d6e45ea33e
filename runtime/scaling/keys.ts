/**
 * Names of everything a worker pool keeps in Redis. Per pipeline, under the state store's namespace
 * `sb:{<pipeline>}:` (runtime/state/redis-store.ts):
 *
 *   pool:watcher, pool:watcher:fence      the folder watcher's fenced lock (runtime/scaling/lock.ts)
 *   pool:singleton, pool:singleton:fence  the lock of a source only one worker may run (e.g. scheduled extracts)
 *   pool:dedup:<sha256>                   STRING  queued name of that content; expires after the duplicate window
 *   pool:queued                           HASH    queued name → sha256, for every file in the shared queued area
 *   pool:rate:<epoch second>              HASH    recordsIn / eventsOut / files published by the workers in that second
 *   pool:rejected                         LIST    the last 100 files the watcher sent to the error folder (JSON)
 *
 * Global (all pipelines on this Redis):
 *
 *   sb:workers           ZSET    worker id → last heartbeat (ms)
 *   sb:worker:<id>       STRING  the worker's JSON status, expiring a few heartbeats after the last one
 *
 * The BullMQ queue of a file-drop pipeline is `stockbridge-files-<pipeline>` with BullMQ's default `bull:` prefix.
 */
import { pipelineKeyPrefix } from '../state/redis-store.ts';

export const GLOBAL_PREFIX = 'sb';
export const BULL_PREFIX = 'bull';

export function poolKeys(pipeline: string) {
  const p = `${pipelineKeyPrefix(pipeline, GLOBAL_PREFIX)}pool:`;
  return {
    watcherLock: `${p}watcher`,
    singletonLock: `${p}singleton`,
    dedup: (sha256: string) => `${p}dedup:${sha256}`,
    queued: `${p}queued`,
    rate: (epochSecond: number) => `${p}rate:${epochSecond}`,
    rejected: `${p}rejected`,
  };
}

export const WORKERS_KEY = `${GLOBAL_PREFIX}:workers`;
export const workerKey = (id: string) => `${GLOBAL_PREFIX}:worker:${id}`;

export function filesQueueName(pipeline: string): string {
  return `stockbridge-files-${pipeline}`.replace(/[^A-Za-z0-9_.-]/g, '_');
}
