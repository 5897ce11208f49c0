import { KMSClient } from '@aws-sdk/client-kms';
import {
  CopyObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import {
  CreateEndpointConfigCommand,
  CreateModelCommand,
  DescribeEndpointCommand,
  DescribeEndpointConfigCommand,
  DescribeInferenceComponentCommand,
  SageMakerClient,
  UpdateEndpointCommand,
  UpdateInferenceComponentCommand,
} from '@aws-sdk/client-sagemaker';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { S3EventRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { IngestConfig } from '../../../functions/artifact-ingest/config.js';
import { ingestRecord, type IngestDeps } from '../../../functions/artifact-ingest/ingest.js';
import { sagemakerName } from '../../../functions/artifact-ingest/register.js';
import { fakeBucket } from './fake-s3.js';

const BUCKET = 'sluice-artifacts-bucket';
const KEY_ARN = 'arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const ROLE_ARN = 'arn:aws:iam::111111111111:role/sluice-ingested-models';
const IMAGE = '763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:0.33.0-lmi15.0.0-cu128';
const ENDPOINT_DEPLOYMENT = {
  BlueGreenUpdatePolicy: {
    TrafficRoutingConfiguration: {
      Type: 'CANARY' as const,
      CanarySize: { Type: 'CAPACITY_PERCENT' as const, Value: 5 },
      WaitIntervalInSeconds: 600,
    },
    TerminationWaitInSeconds: 600,
  },
  AutoRollbackConfiguration: { Alarms: [{ AlarmName: 'sluice-chat-5xx' }] },
};

const config = (rollout: 'registered' | 'canary'): IngestConfig => ({
  bucket: BUCKET,
  kmsKeyArn: KEY_ARN,
  executionRoleArn: ROLE_ARN,
  models: [
    {
      id: 'deepseek/r1:8b',
      slug: 'deepseek-r1-8b',
      image: IMAGE,
      environment: { OPTION_ROLLING_BATCH: 'vllm' },
      rollout,
      hosting: 'endpoint',
      endpointName: 'sluice-chat',
    },
    {
      id: 'embed',
      slug: 'embed',
      image: IMAGE,
      environment: {},
      rollout,
      hosting: 'component',
      componentName: 'sluice-embed-ic',
    },
  ],
});

const s3 = fakeBucket(BUCKET);
const sagemaker = mockClient(SageMakerClient);
const kms = mockClient(KMSClient);
const sfn = mockClient(SFNClient);
const metrics: string[] = [];

const files = {
  'config.json': Buffer.from('{"architectures":["LlamaForCausalLM"]}'),
  'model-00001-of-00001.safetensors': randomBytes(10_000),
};
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const manifestFor = (f: Record<string, Buffer>) =>
  JSON.stringify({
    files: Object.entries(f).map(([path, b]) => ({ path, size: b.length, sha256: sha(b) })),
  });

function upload(prefix = 'incoming/deepseek-r1-8b/v2/', manifest = manifestFor(files)) {
  for (const [path, body] of Object.entries(files)) s3.put(prefix + path, body);
  s3.put(`${prefix}manifest.json`, manifest);
}

const event = (key = 'incoming/deepseek-r1-8b/v2/manifest.json'): S3EventRecord =>
  ({
    eventTime: '2026-12-02T05:00:00.000Z',
    userIdentity: { principalId: 'AWS:AROAEXAMPLE:uploader' },
    requestParameters: { sourceIPAddress: '203.0.113.7' },
    s3: { bucket: { name: BUCKET }, object: { key, size: 100, eTag: 'abc', versionId: 'mv1' } },
  }) as unknown as S3EventRecord;

const deps = (rollout: 'registered' | 'canary' = 'registered'): IngestDeps => ({
  s3: s3.client,
  sagemaker: new SageMakerClient({ region: 'us-east-1' }),
  config: config(rollout),
  metric: (name, reason) => metrics.push(reason ? `${name}:${reason}` : name),
  log: () => undefined,
  now: () => new Date('2026-12-02T05:01:00.000Z'),
  // Small ranges so the ranged, parallel read path runs on small files.
  hash: { rangeSize: 4096, concurrency: 3 },
});

beforeEach(() => {
  s3.reset();
  sagemaker.reset();
  kms.reset();
  sfn.reset();
  metrics.length = 0;
  sagemaker.on(DescribeEndpointCommand).resolves({
    EndpointName: 'sluice-chat',
    EndpointConfigName: 'sluice-chat-config-1',
    LastDeploymentConfig: ENDPOINT_DEPLOYMENT,
  });
  sagemaker.on(DescribeEndpointConfigCommand).resolves({
    EndpointConfigName: 'sluice-chat-config-1',
    ProductionVariants: [
      {
        VariantName: 'g5',
        ModelName: 'old-model',
        InstanceType: 'ml.g5.2xlarge',
        InitialInstanceCount: 1,
        InitialVariantWeight: 100,
      },
    ],
  });
  sagemaker.on(CreateModelCommand).resolves({});
  sagemaker.on(CreateEndpointConfigCommand).resolves({});
  sagemaker.on(UpdateEndpointCommand).resolves({});
});
afterEach(() => {
  // The ingest function never calls KMS or Step Functions itself: S3 encrypts server-side.
  expect(kms.calls()).toHaveLength(0);
  expect(sfn.calls()).toHaveLength(0);
});

const modelName = sagemakerName('deepseek-r1-8b', 'v2');

describe('artifact ingest: a verified version', () => {
  it('copies each file to the hot tier under the customer key, registers it and records provenance', async () => {
    upload();
    const result = await ingestRecord(deps(), event());
    expect(result).toMatchObject({ outcome: 'registered', model: 'deepseek/r1:8b', version: 'v2' });

    const ranged = s3.mock.commandCalls(GetObjectCommand).map((c) => c.args[0].input);
    const weights = ranged.filter((i) => i.Key!.endsWith('.safetensors'));
    expect(weights.map((i) => i.Range)).toEqual([
      'bytes=0-4095',
      'bytes=4096-8191',
      'bytes=8192-9999',
    ]);
    expect(new Set(weights.map((i) => i.IfMatch))).toEqual(
      new Set([
        s3.objects.get('incoming/deepseek-r1-8b/v2/model-00001-of-00001.safetensors')!.etag,
      ]),
    );

    expect(s3.mock.commandCalls(CopyObjectCommand).map((c) => c.args[0].input)).toEqual(
      Object.keys(files).map((path) => ({
        Bucket: BUCKET,
        Key: `models/deepseek-r1-8b/v2/${path}`,
        CopySource: `${BUCKET}/incoming/deepseek-r1-8b/v2/${path}`,
        CopySourceIfMatch: s3.objects.get(`incoming/deepseek-r1-8b/v2/${path}`)!.etag,
        MetadataDirective: 'COPY',
        ServerSideEncryption: 'aws:kms',
        SSEKMSKeyId: KEY_ARN,
        BucketKeyEnabled: true,
        StorageClass: 'STANDARD',
      })),
    );

    const tags = [
      { Key: 'sluice:model', Value: 'deepseek/r1:8b' },
      { Key: 'sluice:version', Value: 'v2' },
    ];
    expect(sagemaker.commandCalls(CreateModelCommand).map((c) => c.args[0].input)).toEqual([
      {
        ModelName: modelName,
        ExecutionRoleArn: ROLE_ARN,
        PrimaryContainer: {
          Image: IMAGE,
          Environment: { OPTION_ROLLING_BATCH: 'vllm' },
          ModelDataSource: {
            S3DataSource: {
              S3Uri: `s3://${BUCKET}/models/deepseek-r1-8b/v2/`,
              S3DataType: 'S3Prefix',
              CompressionType: 'None',
            },
          },
        },
        EnableNetworkIsolation: true,
        Tags: tags,
      },
    ]);
    expect(sagemaker.commandCalls(CreateEndpointConfigCommand)[0]!.args[0].input).toEqual({
      EndpointConfigName: modelName,
      KmsKeyId: undefined,
      ProductionVariants: [
        {
          VariantName: 'g5',
          ModelName: modelName,
          InstanceType: 'ml.g5.2xlarge',
          InitialInstanceCount: 1,
          InitialVariantWeight: 100,
        },
      ],
      Tags: tags,
    });
    expect(sagemaker.commandCalls(UpdateEndpointCommand)).toHaveLength(0);

    const puts = s3.mock.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(puts).toHaveLength(1);
    expect(puts[0]).toMatchObject({
      Bucket: BUCKET,
      Key: 'provenance/deepseek-r1-8b/v2/provenance.json',
      IfNoneMatch: '*',
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: KEY_ARN,
      BucketKeyEnabled: true,
    });
    const record = JSON.parse(puts[0]!.Body as string);
    expect(record).toMatchObject({
      model: 'deepseek/r1:8b',
      version: 'v2',
      uploader: { principalId: 'AWS:AROAEXAMPLE:uploader', sourceIp: '203.0.113.7' },
      times: { uploaded: '2026-12-02T05:00:00.000Z', registered: '2026-12-02T05:01:00.000Z' },
      files: Object.entries(files).map(([path, b]) => ({ path, size: b.length, sha256: sha(b) })),
      registration: { modelName, endpointConfigName: modelName },
    });
    expect(metrics).toEqual(['Ingested']);
  });

  it('starts the endpoint’s blue/green canary with its own rollback alarms when the model says so', async () => {
    upload();
    const result = await ingestRecord(deps('canary'), event());
    expect(result.outcome).toBe('rolling-out');
    expect(sagemaker.commandCalls(UpdateEndpointCommand).map((c) => c.args[0].input)).toEqual([
      {
        EndpointName: 'sluice-chat',
        EndpointConfigName: modelName,
        RetainAllVariantProperties: true,
        DeploymentConfig: ENDPOINT_DEPLOYMENT,
      },
    ]);
    expect(s3.objects.has('provenance/deepseek-r1-8b/v2/rollout.json')).toBe(true);
  });

  it('updates an inference component with its rolling-update policy', async () => {
    upload('incoming/embed/v5/');
    const policy = {
      RollingUpdatePolicy: {
        MaximumBatchSize: { Type: 'COPY_COUNT' as const, Value: 1 },
        WaitIntervalInSeconds: 300,
      },
      AutoRollbackConfiguration: { Alarms: [{ AlarmName: 'embed-errors' }] },
    };
    sagemaker.on(DescribeInferenceComponentCommand).resolves({
      InferenceComponentName: 'sluice-embed-ic',
      Specification: {
        ModelName: 'old',
        ComputeResourceRequirements: {
          MinMemoryRequiredInMb: 4096,
          NumberOfAcceleratorDevicesRequired: 1,
        },
      },
      LastDeploymentConfig: policy,
    });
    sagemaker.on(UpdateInferenceComponentCommand).resolves({});
    const result = await ingestRecord(deps('canary'), event('incoming/embed/v5/manifest.json'));
    expect(result.outcome).toBe('rolling-out');
    expect(sagemaker.commandCalls(CreateEndpointConfigCommand)).toHaveLength(0);
    expect(sagemaker.commandCalls(UpdateInferenceComponentCommand)[0]!.args[0].input).toEqual({
      InferenceComponentName: 'sluice-embed-ic',
      Specification: {
        ModelName: sagemakerName('embed', 'v5'),
        StartupParameters: undefined,
        ComputeResourceRequirements: {
          MinMemoryRequiredInMb: 4096,
          NumberOfAcceleratorDevicesRequired: 1,
        },
      },
      DeploymentConfig: policy,
    });
  });

  it('refuses the rollout, keeping the version registered, when a hot copy is not in S3 Standard', async () => {
    upload();
    // Something demotes one hot copy between the copy and the rollout.
    s3.mock.on(CopyObjectCommand).callsFake((input: { Key: string; CopySource: string }) => {
      const src = s3.objects.get(input.CopySource.slice(BUCKET.length + 1))!;
      s3.objects.set(input.Key, { ...src, storageClass: 'STANDARD_IA' });
      return {};
    });
    const result = await ingestRecord(deps('canary'), event());
    expect(result).toMatchObject({
      outcome: 'rollout-refused',
      detail: expect.stringMatching(/not in the hot tier.*STANDARD_IA.*promote/),
    });
    expect(sagemaker.commandCalls(UpdateEndpointCommand)).toHaveLength(0);
    expect(metrics).toEqual(['Ingested', 'RolloutRefused']);
  });

  it('refuses the rollout when the endpoint has no blue/green policy', async () => {
    upload();
    sagemaker.on(DescribeEndpointCommand).resolves({ EndpointConfigName: 'sluice-chat-config-1' });
    const result = await ingestRecord(deps('canary'), event());
    expect(result).toMatchObject({
      outcome: 'rollout-refused',
      detail: expect.stringMatching(/no blue\/green deployment policy/),
    });
    expect(sagemaker.commandCalls(UpdateEndpointCommand)).toHaveLength(0);
  });
});

describe('artifact ingest: rejections move nothing', () => {
  const rejectionCases: [string, () => void, string, RegExp][] = [
    [
      'a digest that does not match',
      () =>
        upload(
          undefined,
          manifestFor({
            ...files,
            'config.json': Buffer.from('{"architectures":["Other"]}'),
          }).replace(/"size":\d+/, `"size":${files['config.json'].length}`),
        ),
      'digest-mismatch',
      /config\.json has SHA-256 [0-9a-f]{64}, the manifest says/,
    ],
    [
      'a missing file',
      () => upload(undefined, manifestFor({ ...files, 'tokenizer.json': Buffer.from('{}') })),
      'missing-file',
      /tokenizer\.json is not under incoming\/deepseek-r1-8b\/v2\//,
    ],
    [
      'a size that does not match',
      () => upload(undefined, manifestFor(files).replace(/"size":\d+/, '"size":1')),
      'size-mismatch',
      /config\.json is \d+ bytes, the manifest says 1/,
    ],
    [
      'a manifest that is not JSON',
      () => upload(undefined, '{ files: '),
      'bad-manifest',
      /not JSON/,
    ],
    [
      'a path that leaves the version',
      () =>
        upload(
          undefined,
          JSON.stringify({
            files: [{ path: '../v1/config.json', size: 1, sha256: 'a'.repeat(64) }],
          }),
        ),
      'bad-manifest',
      /files\.0\.path: must be a relative path/,
    ],
  ];

  it.each(rejectionCases)(
    'rejects %s with a record and a metric',
    async (_, arrange, reason, detail) => {
      arrange();
      const result = await ingestRecord(deps('canary'), event());
      expect(result).toEqual({
        outcome: 'rejected',
        reason,
        detail: expect.stringMatching(detail),
      });
      expect(s3.mock.commandCalls(CopyObjectCommand)).toHaveLength(0);
      expect(sagemaker.calls()).toHaveLength(0);
      expect([...s3.objects.keys()].filter((k) => k.startsWith('models/'))).toEqual([]);
      const puts = s3.mock.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
      expect(puts).toHaveLength(1);
      expect(puts[0]).toMatchObject({
        Key: 'provenance/deepseek-r1-8b/v2/rejected-2026-12-02T05:01:00.000Z.json',
        ServerSideEncryption: 'aws:kms',
        SSEKMSKeyId: KEY_ARN,
      });
      expect(JSON.parse(puts[0]!.Body as string)).toMatchObject({
        reason,
        uploader: { principalId: 'AWS:AROAEXAMPLE:uploader' },
      });
      expect(metrics).toEqual([`Rejected:${reason}`]);
    },
  );

  it('rejects a model no deployment serves', async () => {
    upload('incoming/unknown/v1/');
    const result = await ingestRecord(deps(), event('incoming/unknown/v1/manifest.json'));
    expect(result).toMatchObject({ outcome: 'rejected', reason: 'unknown-model' });
    expect(s3.mock.commandCalls(CopyObjectCommand)).toHaveLength(0);
    expect(sagemaker.calls()).toHaveLength(0);
    expect(metrics).toEqual(['Rejected:unknown-model']);
  });

  it('rejects a key that is not a manifest, writing no record', async () => {
    const result = await ingestRecord(deps(), event('incoming/deepseek-r1-8b/manifest.json'));
    expect(result).toMatchObject({ outcome: 'rejected', reason: 'bad-key' });
    expect(s3.mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  });
});

describe('artifact ingest: duplicate deliveries', () => {
  it('stops at the provenance record when the same event arrives again', async () => {
    upload();
    await ingestRecord(deps('canary'), event());
    s3.mock.resetHistory();
    sagemaker.resetHistory();
    const again = await ingestRecord(deps('canary'), event());
    expect(again).toEqual({ outcome: 'duplicate', model: 'deepseek/r1:8b', version: 'v2' });
    expect(s3.mock.commandCalls(GetObjectCommand)).toHaveLength(0);
    expect(s3.mock.commandCalls(CopyObjectCommand)).toHaveLength(0);
    expect(sagemaker.calls()).toHaveLength(0);
    expect(metrics).toEqual(['Ingested', 'Duplicate']);
  });

  it('lets only the delivery that writes the record first start the rollout', async () => {
    upload();
    // A concurrent delivery writes the record between this one's check and its write.
    const put = s3.mock.on(PutObjectCommand);
    put.callsFake((input: { IfNoneMatch?: string }) => {
      if (input.IfNoneMatch === '*') {
        throw new S3ServiceException({
          name: 'PreconditionFailed',
          $fault: 'client',
          $metadata: { httpStatusCode: 412 },
        });
      }
      return {};
    });
    const result = await ingestRecord(deps('canary'), event());
    expect(result.outcome).toBe('duplicate');
    // Registration repeats harmlessly (same names); the rollout does not.
    expect(sagemaker.commandCalls(CreateModelCommand)).toHaveLength(1);
    expect(sagemaker.commandCalls(UpdateEndpointCommand)).toHaveLength(0);
  });

  it('treats an existing Model from an earlier, interrupted delivery as registered', async () => {
    upload();
    sagemaker.on(CreateModelCommand).rejects(
      Object.assign(new Error(`Cannot create already existing model "${modelName}".`), {
        name: 'ValidationException',
      }),
    );
    const result = await ingestRecord(deps(), event());
    expect(result.outcome).toBe('registered');
  });
});
