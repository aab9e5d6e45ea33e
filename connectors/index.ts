/**
 * The one list of built-in connectors. Adding a connector: create connectors/<name>/ with its spec, code and
 * README.md, and add its spec here.
 */
import type { ConnectorSpec } from '../runtime/contracts/spi.ts';
import { ConnectorRegistry } from '../runtime/registry.ts';
import { fileDropSource } from './file-drop/index.ts';
import { fileSource } from './file/index.ts';
import { generatorSource } from './generator/index.ts';
import { ibmMqSource } from './ibm-mq/index.ts';
import { jsonlSink } from './jsonl/index.ts';
import { kafkaSink, kafkaSource } from './kafka/index.ts';
import { discardSink } from './discard/index.ts';
import { parquetSink } from './parquet/index.ts';
import { selectProcessor } from './select/index.ts';
import { sapPostingSink } from './sap-posting/index.ts';
import { sapRfcSource } from './sap-rfc/index.ts';

export const BUILTIN_CONNECTORS: readonly ConnectorSpec[] = [generatorSource, fileSource, fileDropSource, jsonlSink, discardSink, parquetSink, selectProcessor, kafkaSink, kafkaSource, ibmMqSource, sapPostingSink, sapRfcSource];

export function builtinRegistry(): ConnectorRegistry {
  return new ConnectorRegistry(BUILTIN_CONNECTORS);
}
