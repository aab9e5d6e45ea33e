/**
 * sap-posting over RFC against the RFC client double (node-rfc's Client surface + BAPI semantics):
 * BAPI_GOODSMVT_CREATE + BAPI_TRANSACTION_COMMIT on one stateful connection, rollback on errors, UNCERTAIN after a
 * timeout or a lost session resolved through RFC_READ_TABLE on MKPF, and the node-rfc load errors.
 */
import { resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeLoadError, loadNodeRfc } from '../../../connectors/sap/node-rfc.ts';
import { ConfigError, TransientError } from '../../../runtime/contracts/spi.ts';
import { Client, RfcSystemDouble } from '../../doubles/rfc-client-double.ts';
import { event, type Harness, makeSink, SCOPE } from './helpers.ts';

const DOUBLE = resolve(import.meta.dirname, '..', '..', 'doubles', 'rfc-client-double.ts');
process.env.STOCKBRIDGE_NODE_RFC = DOUBLE;

let sap: RfcSystemDouble;
const harnesses: Harness[] = [];
beforeEach(() => {
  sap = RfcSystemDouble.create('S4H');
});
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.sink.close().catch(() => undefined);
});

async function setup(rfc: Record<string, unknown> = {}) {
  const h = await makeSink({ transport: 'rfc', rfc: { connection: { dest: 'S4H' }, connections: 2, ...rfc }, units: { EA: 'ST' }, settleMs: 20 });
  harnesses.push(h);
  return h;
}

/** The loader imports the double module itself; the test talks to the same module instance only through the registry. */
async function system(): Promise<RfcSystemDouble> {
  const mod = (await import(DOUBLE)) as typeof import('../../doubles/rfc-client-double.ts');
  return mod.RfcSystemDouble.systems.get('S4H') ?? sap;
}

async function retryUntilSettled(h: Harness, events: Parameters<Harness['sink']['write']>[0], max = 6): Promise<number> {
  for (let i = 1; i <= max; i++) {
    try {
      await h.sink.write(events, {});
      return i;
    } catch (err) {
      expect(err).toBeInstanceOf(TransientError);
    }
  }
  throw new Error('not settled');
}

describe('RFC client double (node-rfc surface, stateful sessions)', () => {
  it('commit applies the LUW of the same connection only; close drops it', async () => {
    const a = new Client({ dest: 'S4H' });
    const b = new Client({ dest: 'S4H' });
    await a.open();
    await b.open();
    const params = { GOODSMVT_HEADER: { PSTNG_DATE: '20261121', HEADER_TXT: 'K1' }, GOODSMVT_CODE: { GM_CODE: '05' }, GOODSMVT_ITEM: [{ MATERIAL: '000000000000000001', PLANT: '1010', STGE_LOC: '0001', MOVE_TYPE: '501', ENTRY_QNT: '1', ENTRY_UOM: 'ST' }] };
    const r = await a.call('BAPI_GOODSMVT_CREATE', params);
    expect(r).toMatchObject({ MATERIALDOCUMENT: '4900000000', MATDOCUMENTYEAR: '2026', RETURN: [] });
    await b.call('BAPI_TRANSACTION_COMMIT', { WAIT: 'X' });
    expect(sap.committed).toHaveLength(0);
    await a.call('BAPI_TRANSACTION_COMMIT', { WAIT: 'X' });
    expect(sap.committed).toHaveLength(1);
    await a.call('BAPI_GOODSMVT_CREATE', params);
    await a.close();
    expect(a.alive).toBe(false);
    await expect(a.call('BAPI_TRANSACTION_COMMIT', {})).rejects.toMatchObject({ name: 'nodeRfcError', message: expect.stringContaining('closed connection') });
    expect(sap.committed).toHaveLength(1);
    const bad = await b.call('BAPI_GOODSMVT_CREATE', { ...params, GOODSMVT_ITEM: [{ ...params.GOODSMVT_ITEM[0], MATERIAL: '1' }] });
    expect(bad.RETURN[0]).toMatchObject({ TYPE: 'E', ID: 'M3', NUMBER: '305' });
    await expect(new Client({ ashost: 'nowhere' }).open()).rejects.toMatchObject({ name: 'RfcLibError', code: 1, key: 'RFC_COMMUNICATION_FAILURE' });
  });
});

describe('sap-posting over RFC (BAPI_GOODSMVT_CREATE + BAPI_TRANSACTION_COMMIT)', () => {
  it('posts and commits on the same connection; a re-delivery posts nothing', async () => {
    const h = await setup();
    const s = await system();
    const events = Array.from({ length: 12 }, (_, i) => event(i));
    await h.sink.write(events, {});
    expect(s.committed).toHaveLength(12);
    expect(s.duplicates()).toEqual([]);
    const d = s.committed.find((c) => c.XBLNR === 'T-4')!;
    expect(d.items[0]).toMatchObject({ MATERIAL: '000000000000104704', PLANT: '1010', STGE_LOC: '0001', MOVE_TYPE: '251', ENTRY_QNT: '2.000', ENTRY_UOM: 'ST' });
    expect(d.BKTXT).toMatch(/^SB[0-9A-Z]{23}$/);
    expect(s.calls.filter((c) => c === 'BAPI_TRANSACTION_COMMIT')).toHaveLength(12);
    const [entry] = await h.state.listOutbox(SCOPE, { ids: [events[4].eventId] });
    expect(entry).toMatchObject({ state: 'POSTED', result: { materialDocument: d.MBLNR, year: '2026' } });
    await h.sink.write(events, {});
    expect(s.committed).toHaveLength(12);
    expect(s.openSessions).toBeLessThanOrEqual(2);
  });

  it('RETURN with E or A: rolled back, dead-lettered with the message, FAILED, never retried', async () => {
    const h = await setup();
    const s = await system();
    s.unknownMaterials = ['000000000000104702'];
    s.script.push({ fn: 'BAPI_GOODSMVT_CREATE', fault: 'business-abort', when: (p) => p.GOODSMVT_HEADER.REF_DOC_NO === 'T-3' });
    await h.sink.write([event(1), event(2), event(3)], {});
    expect(s.committed).toHaveLength(1);
    expect(s.calls.filter((c) => c === 'BAPI_TRANSACTION_ROLLBACK')).toHaveLength(2);
    expect(h.deadLetters.map((d) => d.reason).sort()).toEqual([
      'SAP rejected the posting: A M3/897: The material is locked by another user (scripted)',
      'SAP rejected the posting: E M3/305: The material 104702 does not exist or is not activated',
    ]);
    expect(await h.state.countOutbox(SCOPE)).toMatchObject({ POSTED: 1, FAILED: 2 });
    const calls = s.calls.length;
    await h.sink.write([event(1), event(2), event(3)], {});
    expect(s.calls.length).toBe(calls);
  });

  it('session lost after BAPI_GOODSMVT_CREATE: the LUW is gone, UNCERTAIN; the lookup finds nothing and it is posted once', async () => {
    const h = await setup();
    const s = await system();
    s.script.push({ fn: 'BAPI_GOODSMVT_CREATE', fault: 'session-loss-after' });
    expect(await retryUntilSettled(h, [event(1)])).toBe(2);
    expect(s.committed).toHaveLength(1);
    expect(s.calls).toContain('RFC_READ_TABLE');
    expect(s.duplicates()).toEqual([]);
  });

  it('timeout after BAPI_TRANSACTION_COMMIT went through: the lookup finds the document, nothing is posted again', async () => {
    const h = await setup();
    const s = await system();
    s.script.push({ fn: 'BAPI_TRANSACTION_COMMIT', fault: 'timeout-after' });
    const e = event(1);
    const err = await h.sink.write([e], {}).catch((x: Error) => x);
    expect(err).toBeInstanceOf(TransientError);
    const [u] = await h.state.listOutbox(SCOPE);
    expect(u).toMatchObject({ state: 'UNCERTAIN' });
    expect(u.error).toContain('BAPI_TRANSACTION_COMMIT: RfcLibError RFC_CANCELED');
    expect(s.committed).toHaveLength(1);
    await h.sink.write([e], {});
    expect(s.committed).toHaveLength(1);
    expect(s.calls.filter((c) => c === 'BAPI_GOODSMVT_CREATE')).toHaveLength(1);
    expect((await h.state.listOutbox(SCOPE))[0]).toMatchObject({ state: 'POSTED', result: { materialDocument: s.committed[0].MBLNR, year: '2026' } });
  });

  it('timeout before the commit ran, and an update error at commit', async () => {
    const h = await setup();
    const s = await system();
    s.script.push({ fn: 'BAPI_TRANSACTION_COMMIT', fault: 'timeout-before' }, { fn: 'BAPI_TRANSACTION_COMMIT', fault: 'commit-error' });
    await retryUntilSettled(h, [event(1)]);
    // first attempt: commit never ran (UNCERTAIN → not found → posted again), second: update error → rejected
    expect(s.committed).toHaveLength(0);
    expect(h.deadLetters[0].reason).toBe('SAP rejected the posting: E M7/200: Update was terminated (posting not saved)');
  });

  it('the key can travel in REF_DOC_NO: lookup on MKPF-XBLNR', async () => {
    const h = await makeSink({ transport: 'rfc', rfc: { connection: { dest: 'S4H' } }, keyField: 'referenceDocument', settleMs: 0 });
    harnesses.push(h);
    const s = await system();
    s.script.push({ fn: 'BAPI_TRANSACTION_COMMIT', fault: 'session-loss-after' });
    await retryUntilSettled(h, [event(1)]);
    expect(s.committed).toHaveLength(1);
    expect(s.committed[0].XBLNR).toMatch(/^SB[0-9A-Z]{14}$/);
    expect(s.committed[0].BKTXT).toBe('T-1');
  });

  it('a refused logon stops the pipeline; an unreachable system is transient', async () => {
    const s = await system();
    s.password = 'right';
    const h = await setup({ connection: { dest: 'S4H', user: 'RFCUSER', passwd: 'wrong' } });
    await expect(h.sink.write([event(1)], {})).rejects.toThrow(/cannot continue: cannot open an RFC connection: RfcLibError RFC_LOGON_FAILURE/);
    s.password = undefined;
    s.down = true;
    const h2 = await setup();
    await expect(h2.sink.write([event(1)], {})).rejects.toBeInstanceOf(TransientError);
    s.down = false;
    await h2.sink.write([event(1)], {});
    expect(s.committed).toHaveLength(1);
  });
});

describe('node-rfc loading', () => {
  it('the double loads through STOCKBRIDGE_NODE_RFC', async () => {
    const C = await loadNodeRfc();
    expect(typeof C).toBe('function');
  });

  it('a missing package or SDK gives one clear message naming SAPNWRFC_HOME', async () => {
    const saved = process.env.STOCKBRIDGE_NODE_RFC;
    process.env.STOCKBRIDGE_NODE_RFC = '/nonexistent/node-rfc/index.js';
    try {
      const err = await loadNodeRfc().catch((x: Error) => x);
      expect(err).toBeInstanceOf(ConfigError);
      expect(String((err as Error).message)).toMatch(/node-rfc package is not installed .*SAPNWRFC_HOME/);
    } finally {
      process.env.STOCKBRIDGE_NODE_RFC = saved;
    }
    const missingPkg = Object.assign(new Error("Cannot find package 'node-rfc' imported from /app/connectors/sap/node-rfc.ts"), { code: 'ERR_MODULE_NOT_FOUND' });
    expect(describeLoadError(missingPkg).message).toMatch(/^SAP RFC: the node-rfc package is not installed \(SAPNWRFC_HOME=.*\)\. To use RFC: install the SAP NW RFC SDK/);
    const dlopen = Object.assign(
      new Error(
        "libsapnwrfc.so: cannot open shared object file: No such file or directory\nenvironment: {\"platform\":{\"name\":\"linux\"},\"env\":{\"SAPNWRFC_HOME\":\"\",\"RFC_INI\":\"\"}}",
      ),
      { code: 'ERR_DLOPEN_FAILED' },
    );
    const m = describeLoadError(dlopen).message;
    expect(m).toMatch(/SAP NW RFC SDK is missing or cannot be loaded: set SAPNWRFC_HOME and LD_LIBRARY_PATH/);
    expect(m).toContain('libsapnwrfc.so: cannot open shared object file');
    expect(m).toContain('environment:');
    expect(describeLoadError(new Error('No native build was found for platform=linux arch=x64 runtime=node abi=137 napi=9')).message).toMatch(/SDK is missing/);
  });

  it('the sink fails at start, not at the first posting, when node-rfc is missing', async () => {
    const saved = process.env.STOCKBRIDGE_NODE_RFC;
    process.env.STOCKBRIDGE_NODE_RFC = '/nonexistent/node-rfc/index.js';
    try {
      await expect(makeSink({ transport: 'rfc', rfc: { connection: { dest: 'S4H' } } })).rejects.toThrow(/SAPNWRFC_HOME/);
    } finally {
      process.env.STOCKBRIDGE_NODE_RFC = saved;
    }
  });
});
