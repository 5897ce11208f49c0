/**
 * Lambda entry of artifact ingest: S3 `ObjectCreated` events for
 * `incoming/<model>/<version>/manifest.json` (see ingest.ts for what happens to each).
 */
import { S3Client } from '@aws-sdk/client-s3';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import type { S3Event } from 'aws-lambda';
import { ingestConfigFromEnv } from './config.js';
import { ingestRecord, type IngestOutcome } from './ingest.js';

/** CloudWatch namespace of the ingest metrics; the rejection alarm reads `Rejected` here. */
export const INGEST_NAMESPACE = 'Sluice/Artifacts';

const config = ingestConfigFromEnv(process.env);
const s3 = new S3Client({});
const sagemaker = new SageMakerClient({});

/** One EMF line per count: the metric has no dimensions, the reason rides along as a property. */
function metric(name: string, reason?: string): void {
  process.stdout.write(
    `${JSON.stringify({
      _aws: {
        Timestamp: Date.now(),
        CloudWatchMetrics: [
          {
            Namespace: INGEST_NAMESPACE,
            Dimensions: [[]],
            Metrics: [{ Name: name, Unit: 'Count' }],
          },
        ],
      },
      [name]: 1,
      ...(reason ? { reason } : {}),
    })}\n`,
  );
}

export async function handler(event: S3Event): Promise<IngestOutcome[]> {
  const outcomes: IngestOutcome[] = [];
  for (const record of event.Records) {
    outcomes.push(
      await ingestRecord(
        {
          s3,
          sagemaker,
          config,
          metric,
          log: (line) => process.stdout.write(`${JSON.stringify({ level: 'info', ...line })}\n`),
          // A Lambda has little memory to spare: 4 × 16 MiB ranges in flight.
          hash: { rangeSize: 16 * 1024 * 1024, concurrency: 4 },
        },
        record,
      ),
    );
  }
  return outcomes;
}
