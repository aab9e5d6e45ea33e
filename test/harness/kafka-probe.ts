// Readiness probe used by kafka.sh `wait`: succeeds only when the broker answers a real Metadata request
// (DescribeCluster through kafkajs) listing at least one broker, with the expected cluster id when one is given.
// Usage: node test/harness/kafka-probe.ts <bootstrap> [expectedClusterId]
import { Kafka, logLevel } from 'kafkajs';

const [bootstrap, expectedClusterId] = process.argv.slice(2);
if (!bootstrap) {
  console.error('usage: kafka-probe.ts <host:port> [clusterId]');
  process.exit(2);
}

const kafka = new Kafka({
  clientId: 'stockbridge-harness-probe',
  brokers: bootstrap.split(','),
  logLevel: logLevel.NOTHING,
  connectionTimeout: 2_000,
  requestTimeout: 5_000,
  retry: { retries: 0 },
});
const admin = kafka.admin();
const timer = setTimeout(() => {
  console.error('probe timed out');
  process.exit(1);
}, 8_000);

try {
  await admin.connect();
  const cluster = await admin.describeCluster();
  if (cluster.brokers.length === 0) throw new Error('metadata lists no brokers yet');
  if (expectedClusterId && cluster.clusterId !== expectedClusterId) {
    throw new Error(`cluster id ${cluster.clusterId} != expected ${expectedClusterId} (another broker on this port?)`);
  }
  await admin.listTopics();
  console.log(`ok cluster=${cluster.clusterId} brokers=${cluster.brokers.map((b) => `${b.host}:${b.port}`).join(',')}`);
  await admin.disconnect();
  clearTimeout(timer);
} catch (err) {
  console.error(`not ready: ${(err as Error).message}`);
  process.exit(1);
}
