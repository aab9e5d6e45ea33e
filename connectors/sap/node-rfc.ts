/**
 * node-rfc, loaded lazily. The package (SAP/node-rfc, archived by SAP) needs the SAP NW RFC SDK, a licensed
 * download; Stockbridge does not depend on it: install it where RFC is used (connectors/sap/README.md). Nothing here
 * runs unless a pipeline uses an RFC transport.
 *
 * Loading: `STOCKBRIDGE_NODE_RFC` (a module path, e.g. a separate install that survives `npm ci`, or the test
 * double), else `import('node-rfc')`. A missing package or SDK becomes one ConfigError that says what to do.
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../../runtime/contracts/spi.ts';

/** The part of node-rfc's Client the connectors use. */
export interface RfcClient {
  open(): Promise<unknown>;
  close(): Promise<unknown>;
  call(functionModule: string, parameters: Record<string, unknown>, options?: { timeout?: number }): Promise<Record<string, any>>;
  readonly alive: boolean;
}

export interface RfcClientConstructor {
  new (connectionParameters: Record<string, string>, clientOptions?: Record<string, unknown>): RfcClient;
}

export const RFC_INSTALL_HINT =
  'install the SAP NW RFC SDK (licensed download from the SAP Support Portal), set SAPNWRFC_HOME to its folder and put ' +
  '$SAPNWRFC_HOME/lib on LD_LIBRARY_PATH (Linux) or PATH (Windows), then `npm install --no-save node-rfc@3.3.1`; ' +
  'see connectors/sap/README.md';

let cached: { from: string | undefined; client: Promise<RfcClientConstructor> } | undefined;

/** node-rfc's Client class, or a ConfigError naming SAPNWRFC_HOME. Loaded once (again if STOCKBRIDGE_NODE_RFC changes). */
export function loadNodeRfc(): Promise<RfcClientConstructor> {
  const from = process.env.STOCKBRIDGE_NODE_RFC;
  if (!cached || cached.from !== from) {
    const entry = { from, client: load(from) };
    entry.client.catch(() => {
      if (cached === entry) cached = undefined;
    });
    cached = entry;
  }
  return cached.client;
}

async function load(override: string | undefined): Promise<RfcClientConstructor> {
  const spec = override ? pathToFileURL(isAbsolute(override) ? override : resolve(override)).href : 'node-rfc';
  let mod: Record<string, unknown>;
  try {
    mod = (await import(spec)) as Record<string, unknown>;
  } catch (err) {
    throw describeLoadError(err, override);
  }
  const m = (mod.Client ? mod : (mod.default as Record<string, unknown> | undefined)) ?? {};
  if (typeof m.Client !== 'function') throw new ConfigError(`${override ?? 'node-rfc'} does not export a Client class`);
  return m.Client as RfcClientConstructor;
}

/** Maps node-rfc load failures (reference §5) to one clear message. */
export function describeLoadError(err: unknown, override?: string): ConfigError {
  const e = err as NodeJS.ErrnoException;
  const msg = String(e?.message ?? err);
  const env = `SAPNWRFC_HOME=${process.env.SAPNWRFC_HOME ?? '(not set)'}`;
  const notFound = e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND';
  if (notFound && (msg.includes("'node-rfc'") || (override !== undefined && msg.includes(override.replace(/^\.\//, '')))))
    return new ConfigError(
      `SAP RFC: the node-rfc package is not installed${override ? ` (STOCKBRIDGE_NODE_RFC=${override})` : ''} (${env}). To use RFC: ${RFC_INSTALL_HINT}`,
    );
  if (/sapnwrfc|libsapnwrfc|ERR_DLOPEN_FAILED|No native build was found|cannot open shared object/i.test(msg + (e?.code ?? ''))) {
    const first = msg.split('\n')[0];
    const envText = msg.includes('\nenvironment:') ? ` (${msg.slice(msg.indexOf('\nenvironment:') + 1).replace(/\s+/g, ' ').slice(0, 300)})` : '';
    return new ConfigError(
      `SAP RFC: the SAP NW RFC SDK is missing or cannot be loaded: set SAPNWRFC_HOME and LD_LIBRARY_PATH (${env}): ${first}${envText}. ${RFC_INSTALL_HINT}`,
    );
  }
  return new ConfigError(`SAP RFC: cannot load node-rfc (${env}): ${msg.split('\n')[0]}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Errors thrown by calls (node-rfc: RfcLibError / ABAPError / nodeRfcError)

/** RFC_RC codes that mean the connection or session is gone or the call did not come back in time. */
const LOST = new Set([1, 6, 7, 8, 13, 14]); // COMMUNICATION_FAILURE, CLOSED, CANCELED, TIMEOUT, INVALID_HANDLE, RETRY
const LOST_KEYS = /RFC_(COMMUNICATION_FAILURE|CLOSED|CANCELED|TIMEOUT|INVALID_HANDLE|RETRY)|closed connection|not alive|timeout/i;

export interface RfcErrorInfo {
  /** The connection/session is gone or timed out: a posting in flight may or may not have been made. */
  lost: boolean;
  /** Logon or parameter problem: nothing was sent. */
  logon: boolean;
  text: string;
}

export function classifyRfcError(err: unknown): RfcErrorInfo {
  const e = err as { name?: string; code?: number; key?: string; codeString?: string; message?: string };
  const key = e?.key ?? e?.codeString ?? '';
  const text = `${e?.name ?? 'Error'}${key ? ` ${key}` : ''}: ${e?.message ?? String(err)}`;
  const logon = e?.code === 2 || e?.code === 20 || /RFC_LOGON_FAILURE|RFC_INVALID_PARAMETER/.test(key);
  const lost = !logon && ((typeof e?.code === 'number' && LOST.has(e.code)) || LOST_KEYS.test(`${key} ${e?.message ?? ''}`));
  return { lost, logon, text };
}
