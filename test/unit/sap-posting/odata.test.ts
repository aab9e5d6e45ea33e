/** sap-posting over OData against the OData server double: postings, CSRF, duplicates, UNCERTAIN resolution, rejects. */
import { afterEach, describe, expect, it } from 'vitest';
import { PostingRules } from '../../../connectors/sap-posting/rules.ts';
import { ODataTransport } from '../../../connectors/sap-posting/transports/odata.ts';
import { TransientError } from '../../../runtime/contracts/spi.ts';
import { ODataServerDouble } from '../../doubles/odata-server-double.ts';
import { event, type Harness, makeSink, SCOPE } from './helpers.ts';

const doubles: ODataServerDouble[] = [];
const harnesses: Harness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.sink.close().catch(() => undefined);
  for (const d of doubles.splice(0)) await d.stop().catch(() => undefined);
});

async function setup(doubleOpts: ConstructorParameters<typeof ODataServerDouble>[0] = {}, sinkOpts: Record<string, unknown> = {}) {
  const sap = await new ODataServerDouble({ user: 'STOCKBRIDGE', password: 'secret', hangMs: 5000, ...doubleOpts }).start();
  doubles.push(sap);
  const odata = { url: sap.url, user: 'STOCKBRIDGE', password: 'secret', client: '100', timeoutMs: 400, ...((sinkOpts.odata as object) ?? {}) };
  const h = await makeSink({ transport: 'odata', units: { EA: 'ST' }, settleMs: 50, ...sinkOpts, odata });
  harnesses.push(h);
  return { sap, h };
}

describe('sap-posting over OData (API_MATERIAL_DOCUMENT_SRV double)', () => {
  it('posts one material document per event with the key in MaterialDocumentHeaderText; a re-delivery posts nothing', async () => {
    const { sap, h } = await setup();
    const events = Array.from({ length: 20 }, (_, i) => event(i));
    await h.sink.write(events, {});
    expect(sap.documents).toHaveLength(20);
    expect(sap.duplicates()).toEqual([]);
    const doc = sap.documents.find((d) => d.ReferenceDocument === 'T-3')!;
    expect(doc).toMatchObject({ GoodsMovementCode: '03', PostingDate: `/Date(${Date.UTC(2026, 10, 21)})/` });
    expect(doc.items[0]).toMatchObject({ Material: '000000000000104703', Plant: '1010', StorageLocation: '0001', GoodsMovementType: '251', QuantityInEntryUnit: '2.000', EntryUnit: 'ST' });
    const [entry] = await h.state.listOutbox(SCOPE, { ids: [events[3].eventId] });
    expect(entry).toMatchObject({ state: 'POSTED', key: doc.MaterialDocumentHeaderText, result: { materialDocument: doc.MaterialDocument, year: '2026' }, attempts: 1 });
    expect(sap.requests.tokenFetch).toBe(1);

    await h.sink.write(events, {});
    const again = await h.reopen();
    harnesses.push(again);
    await again.sink.write(events.slice(5, 10), {});
    expect(sap.documents).toHaveLength(20);
    expect(sap.requests.post).toBe(20);
    expect(await again.state.countOutbox(SCOPE)).toEqual({ PENDING: 0, POSTED: 20, FAILED: 0, UNCERTAIN: 0 });
  });

  it('CSRF: fetches a token with the session cookies; an expired session (403 x-csrf-token: Required) refetches once', async () => {
    const { sap, h } = await setup();
    await h.sink.write([event(1)], {});
    sap.expireSessions();
    await h.sink.write([event(2)], {});
    expect(sap.requests).toMatchObject({ tokenFetch: 2, rejectedToken: 1, post: 3 });
    expect(sap.documents).toHaveLength(2);
  });

  it('timeout after SAP posted: UNCERTAIN, then the lookup finds the document and nothing is posted again', async () => {
    const { sap, h } = await setup();
    sap.script.push('timeout-after-post');
    const e = event(1);
    const err = await h.sink.write([e], {}).catch((x: Error) => x);
    expect(err).toBeInstanceOf(TransientError);
    expect(String(err)).toContain('not settled');
    const [u] = await h.state.listOutbox(SCOPE);
    expect(u).toMatchObject({ state: 'UNCERTAIN', attempts: 1 });
    expect(u.error).toMatch(/no answer within 400 ms/);
    expect(sap.documents).toHaveLength(1);
    await h.sink.write([e], {}); // the engine's retry
    expect(sap.postingsPerKey.get(u.key)).toBe(1);
    expect(sap.requests.lookup).toBe(1);
    const [p] = await h.state.listOutbox(SCOPE);
    expect(p).toMatchObject({ state: 'POSTED', result: { materialDocument: sap.documents[0].MaterialDocument } });
  });

  it('timeout before SAP posted, a reset after posting, and a 500 after posting: each resolved by lookup, posted exactly once', async () => {
    const { sap, h } = await setup();
    sap.script.push('timeout-before-post', 'reset-after-post', 'http-500-after-post');
    const events = [event(1), event(2), event(3)];
    for (let attempt = 0; attempt < 6; attempt++) {
      const ok = await h.sink.write(events, {}).then(
        () => true,
        (x) => {
          expect(x).toBeInstanceOf(TransientError);
          return false;
        },
      );
      if (ok) break;
    }
    expect(sap.documents).toHaveLength(3);
    expect(sap.duplicates()).toEqual([]);
    expect(await h.state.countOutbox(SCOPE)).toMatchObject({ POSTED: 3 });
  });

  it('a crash between the call and the outbox update (PENDING, attempts 1): looked up after a restart, not posted twice', async () => {
    const { sap, h } = await setup();
    const e = event(5);
    // what the previous process did before it died: opened the entry, counted the attempt, SAP posted it
    const p = new PostingRules({ units: { EA: 'ST' } }, '.').prepare(e);
    if (p.kind !== 'post') throw new Error('expected a posting');
    await h.state.openOutbox(SCOPE, [{ id: e.eventId, key: p.posting.key, request: { posting: p.posting } }]);
    await h.state.updateOutbox(SCOPE, [{ id: e.eventId, state: 'PENDING', attempt: true }]);
    const t = new ODataTransport({ url: sap.url, user: 'STOCKBRIDGE', password: 'secret' });
    expect((await t.post(p.posting)).kind).toBe('posted');
    await t.close();

    const after = await h.reopen();
    harnesses.push(after);
    await after.sink.write([e], {});
    expect(sap.postingsPerKey.get(p.posting.key)).toBe(1);
    expect((await after.state.listOutbox(SCOPE))[0]).toMatchObject({ state: 'POSTED', result: { materialDocument: sap.documents[0].MaterialDocument } });
  });

  it("business errors (SAP's error JSON) go to the dead-letter store with SAP's text and are never retried", async () => {
    const { sap, h } = await setup({ unknownMaterials: ['000000000000104709'] });
    const events = [event(8), event(9), event(10)];
    await h.sink.write(events, {});
    expect(sap.documents).toHaveLength(2);
    expect(h.deadLetters).toHaveLength(1);
    const dl = h.deadLetters[0];
    expect(dl).toMatchObject({ stage: 'sink', ref: 'sales.csv:11', reason: 'SAP rejected the posting: E M3/305: The material 104709 does not exist or is not activated' });
    expect(JSON.parse(dl.payload as string).eventId).toBe(events[1].eventId);
    expect(dl.meta).toMatchObject({ sink: 'sap', eventId: events[1].eventId, messages: [{ type: 'E', id: 'M3', number: '305' }] });
    const [failed] = await h.state.listOutbox(SCOPE, { states: ['FAILED'] });
    expect(failed).toMatchObject({ id: events[1].eventId, error: 'E M3/305: The material 104709 does not exist or is not activated' });
    const posts = sap.requests.post;
    await h.sink.write(events, {});
    expect(sap.requests.post).toBe(posts);
    expect(h.deadLetters).toHaveLength(1);
  });

  it('events that cannot be mapped to a posting are dead-lettered once, without calling SAP', async () => {
    const { sap, h } = await setup();
    const bad = event(1, { locationId: 'UNKNOWN-STORE' });
    await h.sink.write([bad, event(2), event(3, { eventType: 'SNAPSHOT', quantity: '4.000' })], {});
    expect(sap.documents).toHaveLength(1);
    expect(h.deadLetters.map((d) => d.reason)).toEqual(['location UNKNOWN-STORE has no plant/storage location (locations, locationsFile)']);
    await h.sink.write([bad], {});
    expect(h.deadLetters).toHaveLength(1);
  });

  it('SAP unreachable: a TransientError, nothing posted; it posts once SAP is back', async () => {
    const { sap, h } = await setup();
    const port = Number(new URL(sap.url).port);
    await sap.stop();
    await expect(h.sink.write([event(1)], {})).rejects.toThrow(/not settled.*(ECONNREFUSED|cannot connect)/);
    const back = await new ODataServerDouble({ port, user: 'STOCKBRIDGE', password: 'secret' }).start();
    doubles.push(back);
    await h.sink.write([event(1)], {});
    expect(back.documents).toHaveLength(1);
    // the refused connection certainly sent nothing: no lookup before the new attempt
    expect(back.requests.lookup).toBe(0);
  });

  it('at most `concurrency` postings in flight, across all batches the engine has out', async () => {
    const { sap, h } = await setup({ latencyMs: 15 }, { concurrency: 3 });
    await Promise.all([0, 1, 2, 3].map((b) => h.sink.write(Array.from({ length: 8 }, (_, i) => event(b * 100 + i)), {})));
    expect(sap.documents).toHaveLength(32);
    expect(sap.requests.maxInFlight).toBe(3);
  });

  it('a refused logon stops the pipeline (not retried as transient)', async () => {
    const { h } = await setup({}, { odata: { password: 'wrong' } });
    const err = await h.sink.write([event(1)], {}).catch((x: Error) => x);
    expect(err).not.toBeInstanceOf(TransientError);
    expect(String(err)).toMatch(/SAP posting cannot continue: CSRF token fetch refused \(HTTP 401\)/);
  });

  it('the same event in two concurrent writes is posted once', async () => {
    const { sap, h } = await setup({ latencyMs: 20 });
    const e = event(1);
    await Promise.all([h.sink.write([e, event(2)], {}), h.sink.write([event(3), e], {}), h.sink.write([e, e], {})]);
    expect(sap.documents).toHaveLength(3);
    expect(sap.duplicates()).toEqual([]);
  });
});
