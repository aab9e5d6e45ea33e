/**
 * A stock posting as the outbox stores it and every transport sends it: the transport-neutral form of one
 * BAPI_GOODSMVT_CREATE call / one API_MATERIAL_DOCUMENT_SRV deep insert / one MBGMCR03 IDoc (one material document).
 */

export interface PostingHeader {
  /** YYYYMMDD */
  postingDate: string;
  documentDate: string;
  /** HEADER_TXT / MaterialDocumentHeaderText (25). */
  headerText?: string;
  /** REF_DOC_NO / ReferenceDocument (16). */
  referenceDocument?: string;
}

export interface PostingItem {
  material: string;
  plant: string;
  storageLocation: string;
  batch?: string;
  movementType: string;
  /** Positive decimal text, 3 fraction digits (`10.000`). */
  quantity: string;
  unit: string;
  /** The unit is an ISO code (ENTRY_UOM_ISO) rather than SAP's internal one (ENTRY_UOM). */
  unitIso?: boolean;
  stockType?: string;
  specialStock?: string;
  moveReason?: string;
  costCenter?: string;
  itemText?: string;
  /** Transfers: the receiving side. */
  moveMaterial?: string;
  movePlant?: string;
  moveStorageLocation?: string;
  moveBatch?: string;
  /** Material is longer than 18 characters (S/4HANA MATERIAL_LONG). */
  materialLong?: boolean;
}

export interface Posting {
  /** Idempotency key; also in header.headerText or header.referenceDocument. */
  key: string;
  keyField: 'headerText' | 'referenceDocument';
  gmCode: string;
  header: PostingHeader;
  items: PostingItem[];
}

/** BAPIRET2 / OData error detail, trimmed to what operators need. */
export interface SapMessage {
  type: string;
  id?: string;
  number?: string;
  message: string;
  field?: string;
}

export interface PostedDocument {
  materialDocument: string;
  year: string;
  /** idoc-xml transport: the file handed to SAP and its IDoc number. */
  file?: string;
  idocNumber?: string;
}

export type PostResult =
  | ({ kind: 'posted'; messages?: SapMessage[] } & PostedDocument)
  /** Business error (RETURN type E/A, OData 4xx with an SAP error): final, dead-lettered, never retried by itself. */
  | { kind: 'rejected'; messages: SapMessage[] }
  /** Technical error before SAP could post anything (connection refused, logon failure, CSRF token refused). */
  | { kind: 'not-sent'; error: string; fatal?: boolean }
  /** Timeout or lost session after the request went out: SAP may have posted; look the key up before retrying. */
  | { kind: 'uncertain'; error: string };

export interface Transport {
  readonly name: string;
  /** Called before the attempt is recorded (idoc-xml: writes the staging file). */
  stage?(p: Posting): Promise<void>;
  post(p: Posting): Promise<PostResult>;
  /** The document SAP holds for this key, or null when there is none. Throws when SAP cannot be asked. */
  lookup(p: Posting): Promise<PostedDocument | null>;
  close(): Promise<void>;
}

export function messagesText(messages: readonly SapMessage[]): string {
  const important = messages.filter((m) => m.type === 'E' || m.type === 'A');
  return (important.length ? important : messages)
    .map((m) => `${m.type}${m.id ? ` ${m.id}${m.number ? `/${m.number}` : ''}` : ''}: ${m.message}`)
    .join('; ');
}
