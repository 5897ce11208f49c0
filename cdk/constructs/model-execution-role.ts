import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { acknowledgeWildcardResources } from './nag-acknowledge.js';

export interface ModelExecutionRoleProps {
  readonly description: string;
  /** Hot-tier artifact bucket. */
  readonly artifacts: s3.IBucket;
  /** Customer key of the artifact bucket. */
  readonly key: kms.IKey;
  /** Artifact prefixes (`models/<id>/<version>/`) the role may read, and nothing else. */
  readonly prefixes: readonly string[];
  /** ECR image URIs the role may pull. */
  readonly imageUris: readonly string[];
  /** CloudWatch log groups SageMaker writes the containers' logs to. */
  readonly logGroups: readonly string[];
}

/**
 * The role SageMaker assumes to host models: read exactly the given artifact prefixes, decrypt
 * with exactly the customer key, pull exactly the given images, write exactly the given log
 * groups, and put metrics in the SageMaker namespaces. The role is created at `scope/id`, so a
 * construct that used to create it inline keeps its logical ids.
 */
export function createModelExecutionRole(
  scope: Construct,
  id: string,
  props: ModelExecutionRoleProps,
): iam.Role {
  const stack = Stack.of(scope);
  const role = new iam.Role(scope, id, {
    assumedBy: new iam.ServicePrincipal('sagemaker.amazonaws.com'),
    description: props.description,
  });
  const prefixes = [...new Set(props.prefixes)];
  const objectArns = prefixes.map((p) => props.artifacts.arnForObjects(`${p}*`));
  role.addToPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: objectArns }));
  role.addToPolicy(
    new iam.PolicyStatement({
      actions: ['s3:ListBucket'],
      resources: [props.artifacts.bucketArn],
      conditions: { StringLike: { 's3:prefix': prefixes.map((p) => `${p}*`) } },
    }),
  );
  role.addToPolicy(
    new iam.PolicyStatement({ actions: ['kms:Decrypt'], resources: [props.key.keyArn] }),
  );
  role.addToPolicy(
    new iam.PolicyStatement({
      actions: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'],
      resources: [...new Set(props.imageUris.map((uri) => imageRepositoryArn(stack, uri)))],
    }),
  );
  role.addToPolicy(
    new iam.PolicyStatement({
      // GetAuthorizationToken has no resource-level permissions.
      actions: ['ecr:GetAuthorizationToken'],
      resources: ['*'],
    }),
  );
  const logGroupArns = props.logGroups.map((name) =>
    stack.formatArn({
      service: 'logs',
      resource: 'log-group',
      resourceName: `${name}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    }),
  );
  role.addToPolicy(
    new iam.PolicyStatement({
      actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: logGroupArns,
    }),
  );
  role.addToPolicy(
    new iam.PolicyStatement({
      actions: ['cloudwatch:PutMetricData'],
      resources: ['*'],
      conditions: {
        StringLike: { 'cloudwatch:namespace': ['/aws/sagemaker/*', 'AWS/SageMaker'] },
      },
    }),
  );

  acknowledgeWildcardResources(
    role,
    objectArns,
    'Read access is limited to the exact prefix of each model version this endpoint serves; object names under it are not known at synth time.',
  );
  acknowledgeWildcardResources(
    role,
    ['*'],
    'ecr:GetAuthorizationToken has no resource-level permissions, and cloudwatch:PutMetricData is limited by a cloudwatch:namespace condition to the SageMaker namespaces.',
  );
  acknowledgeWildcardResources(
    role,
    logGroupArns,
    'SageMaker writes to the log group of the endpoint (/aws/sagemaker/Endpoints/<endpoint name>) or of the inference component (/aws/sagemaker/InferenceComponents/<component name>), whose log stream names (one per instance or copy) are not known at synth time.',
  );
  return role;
}

/** `arn:aws:ecr:<region>:<account>:repository/<name>` of an image URI in ECR. */
export function imageRepositoryArn(stack: Stack, uri: string): string {
  const match = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com\/([^:@]+)/.exec(uri);
  if (!match) throw new Error(`Not an ECR image URI: ${uri}`);
  return stack.formatArn({
    service: 'ecr',
    account: match[1],
    region: match[2],
    resource: 'repository',
    resourceName: match[3],
  });
}
