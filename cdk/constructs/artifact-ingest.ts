import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3n from 'aws-cdk-lib/aws-s3-notifications';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IngestConfig, IngestModel } from '../../functions/artifact-ingest/config.js';
import { modelSlug } from '../../functions/artifact-ingest/paths.js';
import { namePrefix } from '../../functions/artifact-ingest/register.js';
import { containerEnvironment, containerImageUri } from '../config/images.js';
import type { ModelDeployment } from '../config/schema.js';
import { BUNDLING, GATEWAY_RUNTIME } from './gateway-function.js';
import { createModelExecutionRole } from './model-execution-role.js';
import { acknowledgeWildcardResources } from './nag-acknowledge.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Construct id of CDK's singleton bucket-notifications handler in a stack. */
const NOTIFICATIONS_HANDLER_ID = 'BucketNotificationsHandler050a0587b7544547bf325f094a3db834';
/** CloudWatch namespace the ingest function writes (functions/artifact-ingest/handler.ts). */
export const INGEST_NAMESPACE = 'Sluice/Artifacts';

export interface ArtifactIngestProps {
  /** The artifact bucket (SSE-KMS with an S3 Bucket Key) that receives uploads. */
  readonly artifacts: s3.IBucket;
  /** Its customer key: the hot copies and the records are encrypted under it. */
  readonly key: kms.IKey;
  /** The models whose versions may be ingested; anything else is rejected. */
  readonly models: readonly ModelDeployment[];
  /** Where the rejection and failure alarms go. */
  readonly topic: sns.ITopic;
  /** Memory of the function; hashing runs faster with more vCPU. @default 3008 */
  readonly memoryMiB?: number;
}

/**
 * Artifact ingest: an upload of `incoming/<model>/<version>/manifest.json` invokes a function that
 * verifies the version, copies it to `models/<model>/<version>/` under the customer key, registers
 * it with SageMaker and, where the model's `onIngest` is `canary`, starts its guarded rollout.
 *
 * The function may touch only the prefixes of the configured models, use the key only through S3
 * for this bucket (`kms:ViaService` and the `aws:s3:arn` encryption context), create SageMaker
 * resources whose names start with a configured model's prefix, and pass one role: the execution
 * role of ingested versions, which reads `models/<model>/` of these models and nothing else.
 */
export class ArtifactIngest extends Construct {
  public readonly function: NodejsFunction;
  /** The role SageMaker assumes for ingested versions. */
  public readonly modelRole: iam.Role;
  /** Fires on any rejected upload (digest, size, missing file, manifest, unknown model). */
  public readonly rejectionAlarm: cloudwatch.Alarm;
  /** Fires when the function fails (the event is retried by Lambda, then dropped). */
  public readonly errorAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: ArtifactIngestProps) {
    super(scope, id);
    if (props.models.length === 0) throw new Error('ArtifactIngest: no models to ingest');
    const stack = Stack.of(this);
    const slugs = [...new Set(props.models.map((m) => modelSlug(m.id)))];
    const { artifacts, key } = props;

    this.modelRole = createModelExecutionRole(this, 'ModelRole', {
      description: 'SageMaker execution role of model versions registered by artifact ingest',
      artifacts,
      key,
      prefixes: slugs.map((s) => `models/${s}/`),
      imageUris: props.models.map((m) => containerImageUri(m, stack.region)),
      logGroups: props.models.map((m) =>
        m.hosting === 'endpoint'
          ? `/aws/sagemaker/Endpoints/${m.endpointName}`
          : `/aws/sagemaker/InferenceComponents/${m.inferenceComponent.name}`,
      ),
    });

    const config: IngestConfig = {
      bucket: artifacts.bucketName,
      kmsKeyArn: key.keyArn,
      executionRoleArn: this.modelRole.roleArn,
      models: props.models.map((m): IngestModel => {
        const common = {
          id: m.id,
          slug: modelSlug(m.id),
          image: containerImageUri(m, stack.region),
          rollout: m.onIngest,
        };
        return m.hosting === 'endpoint'
          ? {
              ...common,
              environment: containerEnvironment(m),
              hosting: 'endpoint',
              endpointName: m.endpointName,
            }
          : {
              ...common,
              environment: containerEnvironment(m, m.inferenceComponent),
              hosting: 'component',
              componentName: m.inferenceComponent.name,
            };
      }),
    };

    const logGroup = new logs.LogGroup(this, 'Logs', {
      encryptionKey: key,
      retention: logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Sluice artifact ingest: verify uploads, copy to the hot tier, register',
    });
    logGroup.grantWrite(role);
    this.grant(role, slugs, props);

    this.function = new NodejsFunction(this, 'Function', {
      entry: path.join(REPO_ROOT, 'functions/artifact-ingest/handler.ts'),
      handler: 'handler',
      runtime: GATEWAY_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memoryMiB ?? 3008,
      // Verification streams every byte through SHA-256; the largest versions need the most.
      timeout: Duration.minutes(15),
      role,
      logGroup,
      environment: { SLUICE_INGEST_CONFIG: JSON.stringify(config) },
      projectRoot: REPO_ROOT,
      depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
      bundling: BUNDLING,
      description: 'Sluice artifact ingest',
    });
    artifacts.addEventNotification(
      s3.EventType.OBJECT_CREATED,
      new s3n.LambdaDestination(this.function),
      { prefix: 'incoming/', suffix: '/manifest.json' },
    );
    // CDK's stack-wide handler that writes the bucket's notification configuration.
    const notifier = stack.node.tryFindChild(NOTIFICATIONS_HANDLER_ID);
    if (notifier) {
      Validations.of(notifier).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason:
          'The handler CDK creates to put the bucket notification configuration at deploy time carries the AWS managed basic execution policy (log writing only); CDK offers no way to replace it.',
      });
    }

    const count = (metricName: string) =>
      new cloudwatch.Metric({
        namespace: INGEST_NAMESPACE,
        metricName,
        statistic: 'Sum',
        period: Duration.minutes(5),
      });
    this.rejectionAlarm = new cloudwatch.Alarm(this, 'Rejections', {
      alarmDescription:
        'An artifact upload was rejected: a file is missing, its size or SHA-256 differs from the manifest, or the manifest is invalid. The record is under provenance/<model>/<version>/.',
      metric: count('Rejected'),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.errorAlarm = new cloudwatch.Alarm(this, 'Errors', {
      alarmDescription: 'The artifact ingest function failed; see its log group.',
      metric: this.function.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    for (const alarm of [this.rejectionAlarm, this.errorAlarm]) {
      alarm.addAlarmAction(new actions.SnsAction(props.topic));
    }
  }

  private grant(role: iam.Role, slugs: readonly string[], props: ArtifactIngestProps): void {
    const stack = Stack.of(this);
    const { artifacts, key } = props;
    const objects = (top: string) => slugs.map((s) => artifacts.arnForObjects(`${top}/${s}/*`));
    const read = [...objects('incoming'), ...objects('models'), ...objects('provenance')];
    const write = [...objects('models'), ...objects('provenance')];
    role.addToPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: read }));
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
        resources: write,
      }),
    );
    // With ListBucket, a missing file is a 404 the function can report, not a 403.
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [artifacts.bucketArn],
        conditions: {
          StringLike: {
            's3:prefix': ['incoming', 'models', 'provenance'].flatMap((t) =>
              slugs.map((s) => `${t}/${s}/*`),
            ),
          },
        },
      }),
    );
    // S3 calls KMS for the caller: Decrypt to read, GenerateDataKey to write. With an S3 Bucket
    // Key the encryption context is the bucket's ARN, so that is the tightest context there is.
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [key.keyArn],
        conditions: {
          StringEquals: {
            'kms:ViaService': `s3.${stack.region}.amazonaws.com`,
            'kms:EncryptionContext:aws:s3:arn': artifacts.bucketArn,
          },
        },
      }),
    );

    const sm = (resource: string, name: string) =>
      stack.formatArn({ service: 'sagemaker', resource, resourceName: name });
    const prefixes = slugs.map((s) => namePrefix(s));
    const created = [
      ...prefixes.map((p) => sm('model', `${p}*`)),
      ...prefixes.map((p) => sm('endpoint-config', `${p}*`)),
    ];
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['sagemaker:CreateModel', 'sagemaker:CreateEndpointConfig', 'sagemaker:AddTags'],
        resources: created,
      }),
    );
    const endpoints = props.models.flatMap((m) =>
      m.hosting === 'endpoint' ? [sm('endpoint', m.endpointName)] : [],
    );
    const components = props.models.flatMap((m) =>
      m.hosting === 'component' ? [sm('inference-component', m.inferenceComponent.name)] : [],
    );
    if (endpoints.length > 0) {
      role.addToPolicy(
        new iam.PolicyStatement({
          actions: ['sagemaker:DescribeEndpoint', 'sagemaker:UpdateEndpoint'],
          resources: [...endpoints, ...created],
        }),
      );
      // The endpoint's current config has a CDK-generated name; it is only read, to copy.
      role.addToPolicy(
        new iam.PolicyStatement({
          actions: ['sagemaker:DescribeEndpointConfig'],
          resources: [sm('endpoint-config', '*')],
        }),
      );
    }
    if (components.length > 0) {
      role.addToPolicy(
        new iam.PolicyStatement({
          actions: ['sagemaker:DescribeInferenceComponent', 'sagemaker:UpdateInferenceComponent'],
          resources: [...components, ...created],
        }),
      );
    }
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [this.modelRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' } },
      }),
    );

    acknowledgeWildcardResources(
      role,
      [...read, ...created],
      'Object names inside a model version, and the versions themselves, are not known at synth time; access is limited to the prefixes of the configured models, and SageMaker resources to names starting with their prefix.',
    );
    acknowledgeWildcardResources(
      role,
      [sm('endpoint-config', '*')],
      'DescribeEndpointConfig only reads; the endpoint config CloudFormation created has a generated name, which ingest copies into the new version’s config.',
    );
  }
}
