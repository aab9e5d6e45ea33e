/**
 * Structured JSON logs (pino) on stderr: stdout is reserved for data (`map`, the jsonl stdout sink) and the
 * `--json` run summary. Level from STOCKBRIDGE_LOG_LEVEL (default info). Values that came from `${env:…}` or
 * `${file:…}` substitutions are registered as secrets and masked wherever they would appear in a log line.
 */
import { pino } from 'pino';
import type { Logger } from '../contracts/spi.ts';

const secrets = new Set<string>();

/** Never log this value: replaced with `***` in every log line. */
export function registerSecret(value: string): void {
  if (value.length >= 4) secrets.add(value);
}

function mask(line: string): string {
  for (const s of secrets) if (line.includes(s)) line = line.split(s).join('***');
  return line;
}

const destination = {
  write(line: string) {
    process.stderr.write(secrets.size ? mask(line) : line);
  },
};

let root: pino.Logger | undefined;

export function rootLogger(): Logger {
  root ??= pino(
    {
      level: process.env.STOCKBRIDGE_LOG_LEVEL ?? 'info',
      base: { app: 'stockbridge' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
  return root as unknown as Logger;
}

/** Change the level at run time (e.g. `--quiet`). */
export function setLogLevel(level: string): void {
  (rootLogger() as unknown as pino.Logger).level = level;
}
