/** sap-posting as MBGMCR03 IDoc-XML files: atomic hand-over through a staging folder, exactly once across crashes. */
import { existsSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PostingRules } from '../../../connectors/sap-posting/rules.ts';
import { IdocXmlTransport } from '../../../connectors/sap-posting/transports/idoc-xml.ts';
import { bindIdoc, type IdocTree } from '../../../runtime/formats/idoc/index.ts';
import { event, type Harness, makeSink, SCOPE } from './helpers.ts';

const harnesses: Harness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.sink.close().catch(() => undefined);
});

const idoc = bindIdoc({}, '.');
const files = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.xml'));

async function setup() {
  const h = await makeSink({
    transport: 'idoc-xml',
    idocXml: { dir: 'outbound', client: '100', receiver: { port: 'SAPS4H', partnerNumber: 'S4HCLNT100' } },
    units: { EA: 'ST' },
    settleMs: 0,
  });
  harnesses.push(h);
  return h;
}

describe('sap-posting as MBGMCR03 IDoc-XML files', () => {
  it('one file per posting, decodable by the idoc format, with the key in HEADER_TXT; a re-delivery writes nothing', async () => {
    const h = await setup();
    const out = join(h.dir, 'outbound');
    const events = [event(1), event(2, { eventType: 'TRANSFER_OUT', quantity: '-3.000', references: { documentId: 'T-2', counterpartLocationId: '1010/0005' } })];
    await h.sink.write(events, {});
    const names = files(out);
    expect(names).toHaveLength(2);
    expect(files(join(out, '.staging'))).toEqual([]);
    const trees = names.map((n) => {
      const recs = idoc.decodeMessage(readFileSync(join(out, n)), n);
      expect(recs[0].error).toBeUndefined();
      return recs[0].value as IdocTree;
    });
    const transfer = trees.find((t) => JSON.stringify(t).includes('"311"')) as any;
    expect(transfer.EDI_DC40).toMatchObject({ IDOCTYP: 'MBGMCR03', MESTYP: 'MBGMCR', DIRECT: '2', MANDT: '100', RCVPOR: 'SAPS4H', RCVPRN: 'S4HCLNT100', SNDPRN: 'STOCKBRDG' });
    const m = transfer.E1MBGMCR[0];
    expect(m.E1BP2017_GM_CODE).toEqual([{ GM_CODE: '04' }]);
    expect(m.E1BP2017_GM_HEAD_01[0]).toMatchObject({ PSTNG_DATE: '20261121', REF_DOC_NO: 'T-2' });
    expect(m.E1BP2017_GM_HEAD_01[0].HEADER_TXT).toMatch(/^SB[0-9A-Z]{23}$/);
    expect(m.E1BP2017_GM_ITEM_CREATE).toEqual([
      { MATERIAL: '000000000000104702', PLANT: '1010', STGE_LOC: '0001', MOVE_TYPE: '311', ENTRY_QNT: '3.000', ENTRY_UOM: 'ST', MOVE_PLANT: '1010', MOVE_STLOC: '0005' },
    ]);
    const [entry] = await h.state.listOutbox(SCOPE, { ids: [events[1].eventId] });
    expect(entry.state).toBe('POSTED');
    expect(entry.result).toMatchObject({ file: `MBGMCR_${m.E1BP2017_GM_HEAD_01[0].HEADER_TXT}.xml`, idocNumber: transfer.EDI_DC40.DOCNUM });

    // SAP picked the files up (moved them away); the same events again write nothing
    for (const n of names) renameSync(join(out, n), join(h.dir, n));
    await h.sink.write(events, {});
    expect(files(out)).toEqual([]);
  });

  it('crash after staging (attempt counted, not moved): the restart moves the staged file; crash after the move: nothing is written again', async () => {
    const h = await setup();
    const out = join(h.dir, 'outbound');
    const t = new IdocXmlTransport({ dir: out });
    const rules = new PostingRules({ units: { EA: 'ST' } }, '.');
    const staged = event(1);
    const moved = event(2);
    for (const e of [staged, moved]) {
      const p = rules.prepare(e);
      if (p.kind !== 'post') throw new Error('expected a posting');
      await h.state.openOutbox(SCOPE, [{ id: e.eventId, key: p.posting.key, request: { posting: p.posting } }]);
      await t.stage(p.posting);
      await h.state.updateOutbox(SCOPE, [{ id: e.eventId, state: 'PENDING', attempt: true }]);
      if (e === moved) {
        expect((await t.post(p.posting)).kind).toBe('posted');
        // ...and SAP consumed the file before the process came back
        for (const n of files(out)) renameSync(join(out, n), join(h.dir, n));
      }
    }
    const after = await h.reopen();
    harnesses.push(after);
    await after.sink.write([staged, moved], {});
    expect(files(out)).toHaveLength(1);
    expect(files(join(out, '.staging'))).toEqual([]);
    expect(await after.state.countOutbox(SCOPE)).toMatchObject({ POSTED: 2 });
    expect(existsSync(join(out, files(out)[0]))).toBe(true);
  });
});
