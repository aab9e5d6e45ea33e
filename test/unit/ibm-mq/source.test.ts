import { afterEach, describe, expect, it } from 'vitest';
import { createIbmMqSource } from '../../../connectors/ibm-mq/index.ts';
import { loadIbmMq, type MqiModule } from '../../../connectors/ibm-mq/mqi.ts';
import { putTimestamp } from '../../../connectors/ibm-mq/source.ts';
import { MAPPED, type CompiledMapping } from '../../../runtime/contracts/mapping.ts';
import type { SourceRecord } from '../../../runtime/contracts/spi.ts';
import { CopybookFormat } from '../../../runtime/formats/copybook/index.ts';
import { MQC, QueueManagerDouble } from '../../doubles/mqi-double.ts';
import { silentLog } from '../../support/fakes.ts';
import { packed, pic } from '../copybook/fixtures.ts';
import { GatedSink, json, rig, stores, until } from './harness.ts';

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

function qmWith(n: number, opts: { threshold?: number; boq?: string } = {}): QueueManagerDouble {
  const qm = new QueueManagerDouble('QM1');
  qm.defineQueue('IN', { backoutThreshold: opts.threshold, backoutQueue: opts.boq });
  if (opts.boq) qm.defineQueue(opts.boq);
  for (let i = 0; i < n; i++) qm.put('IN', json(`SKU${i}`), { Format: 'MQSTR', CodedCharSetId: 1208 });
  return qm;
}

describe('ibm-mq source over the MQI (test double)', () => {
  it('MQCMIT only after the sink acknowledged; no MQGET while a batch waits for its commit', async () => {
    const qm = qmWith(5);
    const sink = new GatedSink();
    const r = await rig(qm, { sink, batchSize: 5 });
    await until(() => sink.held.length === 1, 5000, 'first write');
    expect(qm.uncommitted()).toBe(5);
    expect(qm.depth('IN')).toBe(0);
    expect(r.order).not.toContain('MQCMIT');
    // More messages arrive while the batch is unacknowledged: they are not got (commit barrier).
    for (let i = 5; i < 8; i++) qm.put('IN', json(`SKU${i}`));
    await new Promise((res) => setTimeout(res, 50));
    expect(qm.depth('IN')).toBe(3);
    expect(qm.stats.gets).toBe(5);
    sink.release();
    await until(() => sink.held.length === 1, 5000, 'second write');
    expect(r.order).toEqual(['MQCMIT']);
    expect(qm.uncommitted()).toBe(3);
    sink.release();
    await until(() => r.order.length === 2 && qm.uncommitted() === 0, 5000, 'second commit');
    r.engine.stop();
    const s = await r.run;
    expect(s).toMatchObject({ status: 'stopped', recordsIn: 8, recordsMapped: 8 });
    expect(sink.events.map((e) => e.sku)).toEqual(Array.from({ length: 8 }, (_, i) => `SKU${i}`));
    expect(qm.depth('IN')).toBe(0);
    expect(qm.stats.getsWithoutSyncpoint).toBe(0);
  });

  it('MQBACK when the pipeline fails: the messages stay on the queue with BackoutCount + 1', async () => {
    const qm = qmWith(4);
    const sink = new GatedSink();
    sink.failWith = () => new Error('disk full');
    const r = await rig(qm, { sink, batchSize: 10 });
    const s = await r.run;
    expect(s.status).toBe('failed');
    expect(r.order).toEqual(['MQBACK']);
    expect(qm.depth('IN')).toBe(4);
    expect(qm.queue('IN').messages.map((m) => m.BackoutCount)).toEqual([1, 1, 1, 1]);
    expect(qm.stats.disconnectCommits).toBe(0);
  });

  it('a poison message is moved to the backout queue after BOTHRESH failures and the pipeline continues', async () => {
    const qm = qmWith(0, { threshold: 2, boq: 'IN.BOQ' });
    qm.put('IN', json('GOOD1'));
    const poison = qm.put('IN', json('POISON'));
    qm.put('IN', json('GOOD2'));
    const delivered: string[] = [];
    // Each run: the sink fails on POISON → the pipeline stops with MQBACK (a supervisor restarts it).
    for (let run = 1; run <= 3; run++) {
      const sink = new GatedSink();
      sink.auto = true;
      sink.failWith = (evs) => (evs.some((e) => e.sku === 'POISON') ? new Error('sink refuses this record') : undefined);
      const r = await rig(qm, { sink, batchSize: 1, once: true });
      const s = await r.run;
      delivered.push(...sink.events.map((e) => e.sku));
      if (run < 3) {
        expect(s.status).toBe('failed');
        expect(poison.BackoutCount).toBe(run);
      } else {
        expect(s.status).toBe('ok');
        expect(r.order.filter((x) => x === 'MQBACK')).toHaveLength(0);
      }
    }
    expect(delivered).toEqual(['GOOD1', 'GOOD2']);
    expect(qm.depth('IN')).toBe(0);
    expect(qm.queue('IN.BOQ').messages).toHaveLength(1);
    const moved = qm.queue('IN.BOQ').messages[0];
    expect(moved.MsgId).toEqual(poison.MsgId);
    expect(moved.data.toString()).toBe(json('POISON'));
    expect(qm.stats.put1).toBe(1);
  });

  it('the backout-queue Put1 is under syncpoint: visible only after MQCMIT', async () => {
    const qm = qmWith(0, { threshold: 1, boq: 'IN.BOQ' });
    qm.put('IN', json('A'), { BackoutCount: 1 });
    qm.put('IN', json('B'));
    const sink = new GatedSink();
    const r = await rig(qm, { sink, batchSize: 10 });
    await until(() => sink.held.length === 1);
    expect(qm.depth('IN.BOQ')).toBe(0); // moved, but not committed yet
    sink.release();
    await until(() => r.order.includes('MQCMIT'));
    expect(qm.depth('IN.BOQ')).toBe(1);
    r.engine.stop();
    await r.run;
  });

  it('without a backout queue the poison message goes to the dead-letter store before MQCMIT', async () => {
    const qm = qmWith(0, { threshold: 3 });
    const p = qm.put('IN', json('P'), { BackoutCount: 3 });
    qm.put('IN', json('OK'));
    const r = await rig(qm, { once: true });
    const s = await r.run;
    expect(s.status).toBe('ok');
    expect(r.order).toEqual([`dlq:${p.MsgId.toString('hex')}`, 'MQCMIT']);
    const [dl] = await r.state.listDeadLetters();
    expect(dl).toMatchObject({ stage: 'source', ref: p.MsgId.toString('hex') });
    expect(dl.reason).toMatch(/poison message: backed out 3 times \(backout threshold 3\) and queue IN has no backout queue/);
    expect(Buffer.from(dl.payload as Uint8Array).toString()).toBe(json('P'));
    expect(qm.depth('IN')).toBe(0);
  });

  it('a record that does not decode is stored as a reject before the MQCMIT that removes it; binary records are got without MQGMO_CONVERT', async () => {
    const qm = new QueueManagerDouble('QM1');
    qm.defineQueue('IN');
    const format = new CopybookFormat({ copybookText: '01 R. 05 K PIC X(4). 05 Q PIC S9(5) COMP-3.', sourceFormat: 'free' }, '/');
    const good = Buffer.concat([pic('AB12', 4), packed(-42, 5)]);
    const badNibble = Buffer.concat([pic('AB12', 4), Buffer.from([0x12, 0xa4, 0x5c])]);
    const ok = qm.put('IN', good, { Format: '', CodedCharSetId: 37, Encoding: 785, CorrelId: Buffer.alloc(24, 7) });
    const bad = qm.put('IN', badNibble);
    const short = qm.put('IN', good.subarray(0, 5));
    const wrongCp = qm.put('IN', good, { CodedCharSetId: 500 });
    const seen: Array<{ value: unknown; meta: unknown }> = [];
    const mapping: CompiledMapping = {
      id: 'mq-test@1',
      name: 'mq-test',
      version: '1',
      format,
      map(rec: SourceRecord, value) {
        seen.push({ value, meta: rec.meta });
        return MAPPED;
      },
    };
    const r = await rig(qm, { once: true, mapping });
    const s = await r.run;
    expect(s).toMatchObject({ status: 'ok', recordsIn: 4, recordsMapped: 1, recordsRejected: 3 });
    expect(qm.stats.getsWithConvert).toBe(0);
    const badId = bad.MsgId.toString('hex');
    const shortId = short.MsgId.toString('hex');
    const wrongId = wrongCp.MsgId.toString('hex');
    expect(r.order).toEqual([`dlq:${badId}`, `dlq:${shortId}`, `dlq:${wrongId}`, 'MQCMIT']);
    const dls = await r.state.listDeadLetters();
    expect(dls[0]).toMatchObject({ stage: 'decode', ref: badId, error: { offset: 5, file: badId } });
    expect(dls[0].reason).toMatch(new RegExp(`message ${badId}: invalid packed decimal nibble 0xA4 in R.Q at offset 5`));
    expect(dls[1].reason).toMatch(/length mismatch: message .* is 5 bytes, the layout needs 7/);
    expect([...(dls[0].payload as Uint8Array)]).toEqual([...badNibble]);
    expect(dls[2]).toMatchObject({ stage: 'decode', ref: wrongId, error: { offset: 0 } });
    expect(dls[2].reason).toMatch(/wrong code page: message .* has CodedCharSetId 500 but the copybook format decodes CCSID 37/);
    // MQMD fields reach the mapping as $meta.
    expect(seen[0].value).toEqual({ k: 'AB12', q: '-42' });
    expect(seen[0].meta).toMatchObject({
      MsgId: ok.MsgId.toString('hex'),
      CorrelId: '07'.repeat(24),
      PutDate: '20240118',
      PutTime: '13453012',
      putTimestamp: '2024-01-18T13:45:30.120Z',
      Format: '',
      CodedCharSetId: 37,
      Encoding: 785,
      BackoutCount: 0,
      queue: 'IN',
      queueManager: 'QM1',
    });
  });

  it('ccsidCheck: false decodes whatever CodedCharSetId the MQMD claims', async () => {
    const qm = new QueueManagerDouble('QM1');
    qm.defineQueue('IN');
    qm.put('IN', Buffer.concat([pic('X', 1)]), { CodedCharSetId: 1047 });
    const format = new CopybookFormat({ copybookText: '01 R. 05 K PIC X.', sourceFormat: 'free', codePage: 500 }, '/');
    const mapping: CompiledMapping = { id: 'm@1', name: 'm', version: '1', format, map: () => MAPPED };
    const strict = await rig(qm, { once: true, mapping });
    expect(await strict.run).toMatchObject({ recordsRejected: 1 });
    qm.put('IN', Buffer.concat([pic('X', 1)]), { CodedCharSetId: 1047 });
    const lax = await rig(qm, { once: true, mapping, source: { ccsidCheck: false } });
    expect(await lax.run).toMatchObject({ recordsMapped: 1, recordsRejected: 0 });
  });

  it('text formats are got with MQGMO_CONVERT (to UTF-8); convert: never fetches raw', async () => {
    const qm = qmWith(2);
    await (await rig(qm, { once: true })).run;
    expect(qm.stats.getsWithConvert).toBe(2);
    const qm2 = qmWith(2);
    await (await rig(qm2, { once: true, source: { convert: 'never' } })).run;
    expect(qm2.stats.getsWithConvert).toBe(0);
  });

  it('reconnects with backoff after 2059 at connect and 2009 in the middle of a batch; nothing is lost or duplicated', async () => {
    const qm = qmWith(10);
    qm.failNextConnects(2, MQC.MQRC_Q_MGR_NOT_AVAILABLE);
    let gets = 0;
    qm.beforeGet = () => {
      if (++gets === 4) qm.breakConnections(); // 3 messages got, then the network drops
    };
    const r = await rig(qm, { batchSize: 100 });
    await until(() => qm.depth('IN') === 0 && qm.uncommitted() === 0 && r.order.includes('MQCMIT'));
    r.engine.stop();
    const s = await r.run;
    expect(s.status).toBe('stopped');
    expect(qm.stats.connectFailures).toBe(2);
    expect(qm.stats.connects).toBe(2);
    expect(qm.stats.implicitBackouts).toBe(1);
    const sink = (r.engine as unknown as { counts(): { eventsOut: number } }).counts();
    expect(sink.eventsOut).toBe(10);
  });

  it('2009 at MQCMIT: the batch is redelivered (same event ids downstream), nothing lost', async () => {
    const qm = qmWith(3);
    const sink = new GatedSink();
    const r = await rig(qm, { sink, batchSize: 10 });
    await until(() => sink.held.length === 1);
    qm.breakConnections();
    sink.release();
    await until(() => sink.held.length === 1, 5000, 'redelivery');
    sink.release();
    await until(() => qm.depth('IN') === 0 && qm.uncommitted() === 0 && sink.held.length === 0 && r.order.includes('MQCMIT'));
    r.engine.stop();
    await r.run;
    const ids = sink.events.map((e) => e.eventId);
    expect(ids).toHaveLength(6);
    expect(new Set(ids).size).toBe(3); // the redelivered copies carry the same event ids
    expect(qm.queue('IN').messages).toHaveLength(0);
  });

  it('process killed between MQGET and MQCMIT: the messages are redelivered to the next run and nothing is lost', async () => {
    const qm = qmWith(5);
    const sink = new GatedSink();
    const first = await rig(qm, { sink, batchSize: 10 });
    await until(() => sink.held.length === 1);
    expect(qm.uncommitted()).toBe(5);
    // The process dies: no MQCMIT, no MQBACK, no MQDISC.
    qm.kill(qm.connections[0]);
    expect(qm.depth('IN')).toBe(5);
    first.controller.abort();
    void first.run.catch(() => undefined);
    const sink2 = new GatedSink();
    sink2.auto = true;
    const second = await rig(qm, { sink: sink2, once: true });
    const s = await second.run;
    expect(s.status).toBe('ok');
    expect(sink2.events.map((e) => e.sku)).toEqual(['SKU0', 'SKU1', 'SKU2', 'SKU3', 'SKU4']);
    expect(qm.depth('IN')).toBe(0);
    expect(qm.stats.disconnectCommits).toBe(0);
  });

  it('close() with an uncommitted batch backs out before MQDISC (which would commit it)', async () => {
    const qm = qmWith(3);
    const ctx = { pipeline: 'p', signal: new AbortController().signal, once: true, batchSize: 10, format: new CopybookFormat({ copybookText: '01 R. 05 A PIC X.', sourceFormat: 'free' }, '/'), state: undefined as never, log: silentLog, deadLetter: async () => {}, unitCounts: () => undefined };
    const src = await createIbmMqSource({ transport: 'mqi', queueManager: 'QM1', queue: 'IN', waitInterval: 5, bufferBytes: 1024, maxMessageBytes: 4096, convert: 'auto', backout: {}, reconnect: { initialDelayMs: 5, maxDelayMs: 5, maxAttempts: 1 } }, ctx, { mqi: qm.module as unknown as MqiModule });
    const it = src.batches()[Symbol.asyncIterator]();
    const b = await it.next();
    expect(b.value!.records).toHaveLength(3);
    expect(b.value!.commitBarrier).toBe(true);
    await src.close();
    await it.return?.(undefined);
    expect(qm.depth('IN')).toBe(3);
    expect(qm.stats.disconnectCommits).toBe(0);
    expect(qm.stats.backouts).toBe(1);
  });

  it('a message larger than the buffer (2080) is got again with a bigger buffer', async () => {
    const qm = qmWith(0);
    qm.put('IN', JSON.stringify({ sku: 'BIG', qty: '1', pad: 'x'.repeat(5000) }));
    const r = await rig(qm, { once: true, source: { bufferBytes: 1024 } });
    const s = await r.run;
    expect(s).toMatchObject({ status: 'ok', recordsMapped: 1 });
    expect(qm.stats.truncatedFailures).toBe(1);
  });

  it.each([
    ['2161 Q_MGR_QUIESCING', MQC.MQRC_Q_MGR_QUIESCING],
    ['2202 CONNECTION_QUIESCING', MQC.MQRC_CONNECTION_QUIESCING],
  ])('quiescing (%s): the batch in hand is committed, then the source reconnects when it is back', async (_, reason) => {
    const qm = qmWith(3);
    let gets = 0;
    qm.beforeGet = () => {
      if (++gets === 3) qm.quiesce(true, reason);
    };
    const r = await rig(qm, { batchSize: 100 });
    await until(() => r.order.includes('MQCMIT'));
    expect(qm.uncommitted()).toBe(0);
    expect(qm.depth('IN')).toBe(1);
    await new Promise((res) => setTimeout(res, 30));
    qm.quiesce(false);
    qm.put('IN', json('LATE'));
    await until(() => qm.depth('IN') === 0 && qm.uncommitted() === 0 && r.order.filter((x) => x === 'MQCMIT').length >= 2);
    r.engine.stop();
    const s = await r.run;
    expect(s.recordsMapped).toBe(4);
    expect(qm.stats.connects).toBe(2);
  });

  it('connection options: client channel, TLS, credentials; CCDT; a wrong password is fatal, not retried', async () => {
    const qm = qmWith(1);
    qm.credentials = { user: 'app', password: 's3cret' };
    const ok = await rig(qm, {
      once: true,
      source: { channel: 'DEV.APP.SVRCONN', connectionName: 'mq1(1414),mq2(1414)', tls: { cipherSpec: 'ANY_TLS13_OR_HIGHER', keyRepository: '/var/mqm/ssl/key' }, user: 'app', password: 's3cret' },
    });
    expect((await ok.run).status).toBe('ok');
    expect(qm.lastCno).toMatchObject({
      Options: MQC.MQCNO_CLIENT_BINDING,
      ClientConn: { ChannelName: 'DEV.APP.SVRCONN', ConnectionName: 'mq1(1414),mq2(1414)', SSLCipherSpec: 'ANY_TLS13_OR_HIGHER' },
      SSLConfig: { KeyRepository: '/var/mqm/ssl/key' },
      SecurityParms: { UserId: 'app', Password: 's3cret', AuthenticationType: 1 },
    });
    const ccdt = await rig(qm, { once: true, source: { ccdt: '/etc/mq/ccdt.json', user: 'app', password: 's3cret' } });
    await ccdt.run;
    expect(qm.lastCno?.CCDTUrl).toBe('file:///etc/mq/ccdt.json');
    const bad = await rig(qm, { once: true, source: { user: 'app', password: 'nope' } });
    const s = await bad.run;
    expect(s.status).toBe('failed');
    expect(s.error).toMatch(/cannot connect to QM1.*2035|NOT_AUTHORIZED/);
  });
});

describe('MQI test double faithfulness', () => {
  it('MQDISC with an open unit of work commits it; a broken connection backs it out', async () => {
    const qm = qmWith(2);
    const m = qm.module;
    const h = await m.ConnxPromise('QM1', new m.MQCNO());
    const o = await m.OpenPromise(h, Object.assign(new m.MQOD(), { ObjectName: 'IN' }), 1);
    const gmo = Object.assign(new m.MQGMO(), { Options: MQC.MQGMO_SYNCPOINT });
    m.GetSync(o, new m.MQMD(), gmo, Buffer.alloc(100));
    await m.DiscPromise(h);
    expect(qm.depth('IN')).toBe(1);
    const h2 = await m.ConnxPromise('QM1', new m.MQCNO());
    const o2 = await m.OpenPromise(h2, Object.assign(new m.MQOD(), { ObjectName: 'IN' }), 1);
    m.GetSync(o2, new m.MQMD(), gmo, Buffer.alloc(100));
    qm.kill(h2);
    expect(qm.depth('IN')).toBe(1);
    expect(qm.queue('IN').messages[0].BackoutCount).toBe(1);
    expect(() => m.GetSync(o2, new m.MQMD(), gmo, Buffer.alloc(100))).toThrow(/2009/);
  });
});

describe('loading ibmmq lazily', () => {
  it('a missing package gives one message naming MQIJS_NOREDIST and LD_LIBRARY_PATH', async () => {
    const err = Object.assign(new Error("Cannot find package 'ibmmq' imported from x"), { code: 'ERR_MODULE_NOT_FOUND' });
    await expect(loadIbmMq(() => Promise.reject(err))).rejects.toThrow(/MQIJS_NOREDIST.*LD_LIBRARY_PATH.*package ibmmq is not installed/s);
  });

  it('missing MQ C libraries (what ibmmq throws when libmqm_r.so is absent) give the same hint', async () => {
    const err = new Error('/opt/mqm/lib/libmqm_r.so: cannot open shared object file: No such file or directory');
    await expect(loadIbmMq(() => Promise.reject(err))).rejects.toThrow(/MQIJS_NOREDIST.*LD_LIBRARY_PATH.*libmqm_r\.so/s);
  });

  it('the real import fails with that message here (ibmmq is optional and not installed)', async () => {
    await expect(loadIbmMq()).rejects.toThrow(/MQIJS_NOREDIST/);
  });
});

describe('putTimestamp', () => {
  it('PutDate + PutTime (GMT, hundredths) → ISO-8601', () => {
    expect(putTimestamp('20240118', '13453012')).toBe('2024-01-18T13:45:30.120Z');
    expect(putTimestamp('', '')).toBeUndefined();
  });
});
