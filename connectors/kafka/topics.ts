/** Topic existence check at start, with optional creation. */
import { ConfigError, type Logger } from '../../runtime/contracts/spi.ts';
import { type AdminAdapter, KafkaError, type TopicInfo } from './adapter.ts';
import { type TopicCreation, topicConfigs } from './options.ts';

/** Partition counts and configs of the topics; creates missing ones when `create` is set, else a clear error. */
export async function ensureTopics(
  admin: AdminAdapter,
  topics: string[],
  create: TopicCreation | undefined,
  log: Logger,
  role: string,
): Promise<Map<string, TopicInfo>> {
  const out = new Map<string, TopicInfo>();
  let info = await admin.describeTopics(topics);
  const missing = topics.filter((t) => !info.get(t));
  if (missing.length && !create) {
    throw new ConfigError(
      `kafka ${role}: topic${missing.length > 1 ? 's' : ''} ${missing.map((t) => `'${t}'`).join(', ')} ` +
        `do${missing.length > 1 ? '' : 'es'} not exist on ${role === 'source' ? 'the cluster' : 'the cluster'} ` +
        '(create it, or set `createTopics:` to have Stockbridge create it)',
    );
  }
  for (const t of missing) {
    const c = create!;
    try {
      await admin.createTopic(t, c.partitions ?? 6, c.replicationFactor ?? 3, topicConfigs(c));
      log.info({ topic: t, partitions: c.partitions, replicationFactor: c.replicationFactor }, 'created topic');
    } catch (err) {
      // Another process may have created it meanwhile.
      if (!(err instanceof KafkaError) || !err.codes.includes('TOPIC_ALREADY_EXISTS')) throw err;
    }
  }
  if (missing.length) {
    for (let i = 0; i < 50; i++) {
      info = await admin.describeTopics(topics);
      if (topics.every((t) => (info.get(t)?.partitions ?? 0) > 0)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  for (const t of topics) {
    const i = info.get(t);
    if (!i || i.partitions === 0) throw new ConfigError(`kafka ${role}: topic '${t}' has no partitions yet`);
    out.set(t, i);
  }
  return out;
}
