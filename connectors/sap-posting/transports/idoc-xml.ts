/**
 * MBGMCR03 IDoc-XML files for an SAP file port: one IDoc (one material document) per file, handed over atomically.
 *
 * Exactly-once hand-over without knowing what SAP did with the folder: the file is first written completely into a
 * staging folder on the same file system (tmp + fsync + rename + fsync), the attempt is recorded in the outbox, then
 * the staged file is renamed into the outbound folder (+ fsync). Rename is atomic, so "the staged file is gone" means
 * "it was handed over", even after SAP has picked it up and deleted it: that is the key lookup for an uncertain
 * entry. SAP posts the IDoc later (IDOC_INPUT_MBGMCR); the outbox records the file and IDoc number.
 */
import { mkdir, open, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type IdocTree, loadCatalog, type SegmentCatalog } from '../../../runtime/formats/idoc/index.ts';
import { toXml } from '../../../runtime/formats/idoc/write.ts';
import type { PostedDocument, Posting, PostResult, Transport } from '../posting.ts';

export interface IdocXmlOptions {
  /** Outbound folder SAP reads (absolute). */
  dir: string;
  /** Staging folder on the same file system (absolute); default `<dir>/.staging`. */
  stagingDir?: string;
  filePrefix?: string;
  basicType?: string;
  /** Client (MANDT) and partners of the control record. */
  client?: string;
  sender?: { port?: string; partnerType?: string; partnerNumber?: string };
  receiver?: { port?: string; partnerType?: string; partnerNumber?: string };
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** A 16-digit IDoc number derived from the key (the same posting always gets the same number). */
export function idocNumber(key: string): string {
  let n = 0n;
  for (const c of key) n = (n * 37n + BigInt(Number.parseInt(c, 36) || 0)) % 10_000_000_000_000_000n;
  return n.toString().padStart(16, '0');
}

/** The MBGMCR03 tree of a posting. */
export function mbgmcrTree(p: Posting, o: IdocXmlOptions, now = new Date()): IdocTree {
  const iso = now.toISOString();
  const control: Record<string, string> = {
    TABNAM: 'EDI_DC40',
    MANDT: o.client ?? '',
    DOCNUM: idocNumber(p.key),
    DIRECT: '2',
    IDOCTYP: o.basicType ?? 'MBGMCR03',
    MESTYP: 'MBGMCR',
    SNDPOR: o.sender?.port ?? 'STOCKBRDG',
    SNDPRT: o.sender?.partnerType ?? 'LS',
    SNDPRN: o.sender?.partnerNumber ?? 'STOCKBRDG',
    RCVPOR: o.receiver?.port ?? '',
    RCVPRT: o.receiver?.partnerType ?? 'LS',
    RCVPRN: o.receiver?.partnerNumber ?? '',
    CREDAT: iso.slice(0, 10).replaceAll('-', ''),
    CRETIM: iso.slice(11, 19).replaceAll(':', ''),
  };
  for (const k of Object.keys(control)) if (control[k] === '') delete control[k];
  const head: Record<string, string> = { PSTNG_DATE: p.header.postingDate, DOC_DATE: p.header.documentDate };
  if (p.header.referenceDocument) head.REF_DOC_NO = p.header.referenceDocument;
  if (p.header.headerText) head.HEADER_TXT = p.header.headerText;
  const items = p.items.map((i) => {
    const it: Record<string, unknown> = {};
    if (!i.materialLong) it.MATERIAL = i.material;
    it.PLANT = i.plant;
    it.STGE_LOC = i.storageLocation;
    if (i.batch) it.BATCH = i.batch;
    it.MOVE_TYPE = i.movementType;
    if (i.stockType) it.STCK_TYPE = i.stockType;
    if (i.specialStock) it.SPEC_STOCK = i.specialStock;
    it.ENTRY_QNT = i.quantity;
    it[i.unitIso ? 'ENTRY_UOM_ISO' : 'ENTRY_UOM'] = i.unit;
    if (i.itemText) it.ITEM_TEXT = i.itemText;
    if (i.costCenter) it.COSTCENTER = i.costCenter;
    if (i.moveMaterial) it.MOVE_MAT = i.moveMaterial;
    if (i.movePlant) it.MOVE_PLANT = i.movePlant;
    if (i.moveStorageLocation) it.MOVE_STLOC = i.moveStorageLocation;
    if (i.moveBatch) it.MOVE_BATCH = i.moveBatch;
    if (i.moveReason) it.MOVE_REAS = i.moveReason;
    if (i.materialLong) it.E1BP2017_GM_ITEM_CREATE1 = [{ MATERIAL_LONG: i.material }];
    return it;
  });
  return {
    EDI_DC40: control,
    E1MBGMCR: [{ E1BP2017_GM_HEAD_01: [head], E1BP2017_GM_CODE: [{ GM_CODE: p.gmCode }], E1BP2017_GM_ITEM_CREATE: items }],
  } as unknown as IdocTree;
}

export class IdocXmlTransport implements Transport {
  readonly name = 'idoc-xml';
  readonly #o: IdocXmlOptions;
  readonly #staging: string;
  readonly #catalog: SegmentCatalog;
  #ready: Promise<void> | undefined;

  constructor(o: IdocXmlOptions) {
    this.#o = o;
    this.#staging = o.stagingDir ?? join(o.dir, '.staging');
    this.#catalog = loadCatalog();
  }

  #name(p: Posting): string {
    return `${this.#o.filePrefix ?? 'MBGMCR_'}${p.key}.xml`;
  }

  #dirs(): Promise<void> {
    this.#ready ??= (async () => {
      await mkdir(this.#o.dir, { recursive: true });
      await mkdir(this.#staging, { recursive: true });
    })();
    return this.#ready;
  }

  async stage(p: Posting): Promise<void> {
    await this.#dirs();
    const name = this.#name(p);
    const target = join(this.#staging, name);
    const tmp = `${target}.${process.pid}.tmp`;
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(toXml(mbgmcrTree(p, this.#o), this.#catalog));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, target);
    await fsyncDir(this.#staging);
  }

  async post(p: Posting): Promise<PostResult> {
    const name = this.#name(p);
    const staged = join(this.#staging, name);
    try {
      await rename(staged, join(this.#o.dir, name));
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      // Staged file gone: an earlier attempt handed it over. Let the lookup confirm.
      if (e.code === 'ENOENT') return { kind: 'uncertain', error: `staged file ${name} is gone` };
      return { kind: 'not-sent', error: `cannot move ${name} into ${this.#o.dir}: ${e.message}` };
    }
    try {
      await fsyncDir(this.#o.dir);
    } catch (err) {
      return { kind: 'uncertain', error: `moved ${name}, but fsync of ${this.#o.dir} failed: ${(err as Error).message}` };
    }
    return { kind: 'posted', materialDocument: '', year: '', file: name, idocNumber: idocNumber(p.key) };
  }

  async lookup(p: Posting): Promise<PostedDocument | null> {
    const name = this.#name(p);
    if (await exists(join(this.#staging, name))) return null;
    return { materialDocument: '', year: '', file: name, idocNumber: idocNumber(p.key) };
  }

  async close(): Promise<void> {}
}
