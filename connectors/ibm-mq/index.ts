/**
 * `ibm-mq`: mainframe messages from IBM MQ queues, over the MQI (`ibmmq`, optional dependency loaded lazily) or
 * over AMQP 1.0 (`transport: amqp`). Semantics and options: connectors/ibm-mq/README.md.
 */
import type { Source, SourceContext, SourceSpec } from '../../runtime/contracts/spi.ts';
import { ConfigError } from '../../runtime/contracts/spi.ts';
import { loadIbmMq, type MqiModule } from './mqi.ts';
import { MqiSource, type MqiOptions } from './source.ts';

export interface IbmMqOptions {
  transport: 'mqi' | 'amqp';
  queueManager?: string;
  queue?: string;
  channel?: string;
  connectionName?: string;
  ccdt?: string;
  tls?: { cipherSpec?: string; keyRepository?: string; certificateLabel?: string; ca?: string; rejectUnauthorized?: boolean };
  user?: string;
  password?: string;
  applName?: string;
  batchSize?: number;
  waitInterval: number;
  bufferBytes: number;
  maxMessageBytes: number;
  convert: 'auto' | 'always' | 'never';
  ccsidCheck?: boolean;
  backout: { threshold?: number; queue?: string };
  reconnect: { initialDelayMs: number; maxDelayMs: number; maxAttempts: number };
  amqp?: { url: string; address?: string; prefetch?: number; containerId?: string; failedOutcome?: 'released' | 'modified' };
}

/** `${env:` (spelled out so no linter takes it for a template). */
const ENV = '$' + '{env:';

const reconnectSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    initialDelayMs: { type: 'integer', minimum: 10, default: 1000 },
    maxDelayMs: { type: 'integer', minimum: 10, default: 30_000 },
    maxAttempts: { type: 'integer', minimum: 0, default: 0, description: '0 = keep trying.' },
  },
};

export const ibmMqSource: SourceSpec<IbmMqOptions> = {
  kind: 'source',
  name: 'ibm-mq',
  summary: 'IBM MQ queue (MQI via the optional ibmmq client, or AMQP 1.0): syncpoint batches, MQCMIT after the sinks acknowledged, backout-queue handling.',
  delivery:
    'at-least-once: MQCMIT (AMQP: accept) only after every sink and the dead-letter store acknowledged; MQBACK (AMQP: released or modified) when the pipeline fails; a crash before the commit redelivers',
  options: {
    properties: {
      transport: { enum: ['mqi', 'amqp'], default: 'mqi', description: '`mqi`: the IBM MQ client (ibmmq); `amqp`: an AMQP 1.0 channel.' },
      queueManager: { type: 'string', default: '', description: 'Queue manager name (MQI).' },
      queue: { type: 'string', description: 'Queue to read (MQI; for AMQP the default address).' },
      channel: { type: 'string', description: 'Server-connection channel, e.g. DEV.APP.SVRCONN (client connection).' },
      connectionName: { type: 'string', description: 'host(port)[,host2(port)]: the listener(s) of the channel.' },
      ccdt: { type: 'string', description: 'Client channel definition table (JSON or binary CCDT), path or URL; instead of channel/connectionName.' },
      tls: {
        type: 'object',
        additionalProperties: false,
        properties: {
          cipherSpec: { type: 'string', description: 'MQI: the channel’s SSLCIPH, e.g. ANY_TLS13_OR_HIGHER.' },
          keyRepository: { type: 'string', description: 'MQI: key repository stem (e.g. /var/mqm/ssl/key, without .kdb).' },
          certificateLabel: { type: 'string', description: 'MQI: client certificate label.' },
          ca: { type: 'string', description: 'AMQP (amqps://): CA certificate (PEM text).' },
          rejectUnauthorized: { type: 'boolean', default: true },
        },
      },
      user: { type: 'string', description: `User id (use ${ENV}MQ_USER}).` },
      password: { type: 'string', description: `Password (use ${ENV}MQ_PASSWORD}); never logged.` },
      applName: { type: 'string', description: 'Application name shown by DISPLAY CONN.' },
      batchSize: { type: 'integer', minimum: 1, description: 'Messages per MQCMIT (default: delivery.batchSize).' },
      waitInterval: { type: 'integer', minimum: 1, default: 200, description: 'Pause in ms before the next MQGET when the queue is empty.' },
      bufferBytes: { type: 'integer', minimum: 1024, default: 65_536, description: 'Initial MQGET buffer; grows when a message is larger (2080).' },
      maxMessageBytes: { type: 'integer', minimum: 1024, default: 104_857_600, description: 'Largest message accepted.' },
      convert: {
        enum: ['auto', 'always', 'never'],
        default: 'auto',
        description:
          'MQGMO_CONVERT (text to UTF-8 by the queue manager): auto = only when the input format is a text format; binary copybook records are always fetched raw.',
      },
      ccsidCheck: {
        type: 'boolean',
        default: true,
        description:
          'Binary (copybook) records: reject a message whose MQMD CodedCharSetId is one of 37/500/1047/1140/819 but not the code page the format decodes (wrong code page).',
      },
      backout: {
        type: 'object',
        additionalProperties: false,
        default: {},
        description: 'Poison messages. Defaults come from the queue (BOTHRESH, BOQNAME) inquired at open.',
        properties: {
          threshold: { type: 'integer', minimum: 0, description: 'Override BOTHRESH (0 = never move aside). AMQP: compared with delivery-count.' },
          queue: { type: 'string', description: 'Override BOQNAME (AMQP: address of the backout queue).' },
        },
      },
      reconnect: reconnectSchema,
      amqp: {
        type: 'object',
        additionalProperties: false,
        required: ['url'],
        properties: {
          url: { type: 'string', description: 'amqp://host:5672 or amqps://host:5671 (user/password may be in the URL or in user/password).' },
          address: { type: 'string', description: 'Source address (default: queue).' },
          prefetch: { type: 'integer', minimum: 1, description: 'Unsettled deliveries at most (credit); default 2 × batch size.' },
          containerId: { type: 'string' },
          failedOutcome: {
            enum: ['released', 'modified'],
            default: 'released',
            description:
              'How deliveries go back when the pipeline fails: released, or modified with delivery-failed (the broker counts the attempt in delivery-count; not supported by RabbitMQ 3.x).',
          },
        },
      },
    },
  },
  example:
    `source:\n  type: ibm-mq\n  queueManager: QM1\n  queue: STORE.SALES\n  channel: DEV.APP.SVRCONN\n  connectionName: mqhost(1414)\n  user: ${ENV}MQ_USER}\n  password: ${ENV}MQ_PASSWORD}`,
  async create(options, ctx) {
    return createIbmMqSource(options, ctx.source);
  },
};

/** Build the source; `mqi` is injectable (tests pass the MQI test double; production loads `ibmmq` lazily). */
export async function createIbmMqSource(o: IbmMqOptions, ctx: SourceContext, deps: { mqi?: MqiModule } = {}): Promise<Source> {
  const reconnect = { ...{ initialDelayMs: 1000, maxDelayMs: 30_000, maxAttempts: 0 }, ...o.reconnect };
  const backout = o.backout ?? {};
  if (o.transport === 'amqp') {
    if (!o.amqp?.url) throw new ConfigError('ibm-mq: transport amqp needs amqp.url');
    const address = o.amqp.address ?? o.queue;
    if (!address) throw new ConfigError('ibm-mq: transport amqp needs amqp.address (or queue)');
    const { AmqpSource } = await import('./amqp.ts');
    return new AmqpSource(
      {
        url: o.amqp.url,
        address,
        user: o.user,
        password: o.password,
        batchSize: o.batchSize,
        prefetch: o.amqp.prefetch,
        waitInterval: o.waitInterval ?? 200,
        backout,
        reconnect,
        tls: o.tls ? { ca: o.tls.ca, rejectUnauthorized: o.tls.rejectUnauthorized } : undefined,
        containerId: o.amqp.containerId,
        failedOutcome: o.amqp.failedOutcome,
      },
      ctx,
    );
  }
  if (!o.queue) throw new ConfigError('ibm-mq: missing option `queue`');
  if (o.tls && !o.tls.cipherSpec) throw new ConfigError('ibm-mq: tls needs cipherSpec (the channel’s SSLCIPH) for the MQI transport');
  if (o.ccdt && (o.channel || o.connectionName)) throw new ConfigError('ibm-mq: give either ccdt or channel/connectionName, not both');
  const mq = deps.mqi ?? (await loadIbmMq());
  const opts: MqiOptions = {
    queueManager: o.queueManager ?? '',
    queue: o.queue,
    channel: o.channel,
    connectionName: o.connectionName,
    ccdt: o.ccdt,
    tls: o.tls?.cipherSpec ? { cipherSpec: o.tls.cipherSpec, keyRepository: o.tls.keyRepository, certificateLabel: o.tls.certificateLabel } : undefined,
    user: o.user,
    password: o.password,
    applName: o.applName,
    batchSize: o.batchSize,
    waitInterval: o.waitInterval ?? 200,
    bufferBytes: o.bufferBytes ?? 65_536,
    maxMessageBytes: o.maxMessageBytes ?? 104_857_600,
    convert: o.convert ?? 'auto',
    ccsidCheck: o.ccsidCheck,
    backout,
    reconnect,
  };
  return new MqiSource(mq, opts, ctx);
}
