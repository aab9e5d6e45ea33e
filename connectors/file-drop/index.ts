/** `file-drop`: store servers drop files into folders; this source picks up complete ones exactly once. */
import type { SourceSpec } from '../../runtime/contracts/spi.ts';
import { FileDropSource, type FileDropOptions } from './source.ts';

export const fileDropSource: SourceSpec<FileDropOptions> = {
  kind: 'source',
  name: 'file-drop',
  summary: 'Drop folders (local or mounted shares): complete files only, atomic claims, byte-offset checkpoints, archive/error folders, duplicate-drop protection.',
  delivery:
    'at-least-once per record; a file is archived only after all of it is committed; a restart resumes mid-file after the last committed record',
  options: {
    required: ['path'],
    properties: {
      path: {
        anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, minItems: 1 }],
        description: 'Folder(s) to watch, relative to the pipeline file.',
      },
      include: { type: 'array', items: { type: 'string' }, default: ['*'], description: 'Glob patterns of file names to pick up, e.g. `*.csv`.' },
      exclude: { type: 'array', items: { type: 'string' }, default: [], description: 'Glob patterns to leave alone.' },
      recursive: { type: 'boolean', default: false, description: 'Also look into subfolders (names become `sub/file.csv`).' },
      minAgeMs: { type: 'integer', minimum: 0, default: 2000, description: 'A file must not have been modified for this long.' },
      stableMs: {
        type: 'integer',
        minimum: 0,
        default: 1000,
        description: 'A younger file must keep the same size and mtime across this interval before it is picked up.',
      },
      doneMarker: { type: 'string', description: 'Only pick up `x.csv` once `x.csv<doneMarker>` (e.g. `.done`) exists; the marker is removed on claim.' },
      tempPatterns: {
        type: 'array',
        items: { type: 'string' },
        default: ['*.tmp', '*.part', '*.partial', '*.filepart', '*.crdownload', '~*'],
        description: 'Names of files still being written; dot-files are always ignored.',
      },
      mode: {
        enum: ['watch', 'poll'],
        default: 'watch',
        description: '`watch` reacts to file events and also polls; `poll` only polls (network shares, where file events are unreliable).',
      },
      pollIntervalMs: { type: 'integer', minimum: 50, default: 1000 },
      afterSuccess: { enum: ['archive', 'delete'], default: 'archive', description: 'What to do with a fully committed file.' },
      archive: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: {
          dir: { type: 'string', description: 'Archive folder, relative to the drop folder (default `.archive`).' },
          dated: { type: 'boolean', default: true, description: 'Archive into `YYYY/MM/DD` subfolders (UTC).' },
          gzip: { type: 'boolean', default: false, description: 'Compress archived files (`.gz`).' },
        },
      },
      errorDir: {
        type: 'string',
        description: 'Where files that cannot be processed go, with `<name>.error.json` (default `.error` in the drop folder).',
      },
      duplicateWindowHours: {
        type: 'number',
        minimum: 0,
        default: 168,
        description: 'The same content (SHA-256) dropped again within this window is skipped with a warning; 0 disables.',
      },
      followSymlinks: { type: 'boolean', default: false, description: 'Read symlinks that point inside the drop folder; others go to the error folder.' },
      chunkSize: { type: 'integer', minimum: 1024, default: 262_144, description: 'Read size in bytes.' },
      onceWaitMs: { type: 'integer', minimum: 0, default: 10_000, description: 'With `--once`: how long to wait for files still being written.' },
    },
  },
  example: 'source:\n  type: file-drop\n  path: /srv/drops/stores\n  include: ["*.csv"]\n  archive: { gzip: true }',
  create(options, ctx) {
    return new FileDropSource(options, ctx.baseDir, ctx.source);
  },
};
