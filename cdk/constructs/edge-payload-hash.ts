import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Aws, AssetHashType, Duration, Names, Stack, Validations } from 'aws-cdk-lib';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { buildSync } from 'esbuild';
import { acknowledgeWildcardResources } from './nag-acknowledge.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SOURCE_DIR = path.join(REPO_ROOT, 'functions/edge-payload-hash');

/** Lambda@Edge runs Node.js up to 22 (CloudFront developer guide, "Restrictions on Lambda@Edge"). */
export const EDGE_RUNTIME = lambda.Runtime.NODEJS_22_X;

const EDGE_REGION = 'us-east-1';

export interface EdgePayloadHashProps {
  /**
   * The stack in us-east-1 that holds the function when this construct's stack is in another
   * region (Lambda@Edge functions must be created in us-east-1). The distribution's stack then
   * reads the version ARN through an SSM parameter, which follows each new version.
   * @default this construct's stack, which must then be in us-east-1
   */
  readonly edgeStack?: Stack;
  /** CPU scales with memory; hashing a 1 MB body should take milliseconds. @default 256 */
  readonly memoryMiB?: number;
}

/**
 * The Lambda@Edge origin-request function (`functions/edge-payload-hash/`) that puts the
 * SHA-256 of the request body into `x-amz-content-sha256`, which origin access control needs to
 * sign a POST to a function URL. Bundled by the local esbuild (no Docker) into one CommonJS
 * file with no dependencies. Its role may only write its own logs, which Lambda@Edge writes in
 * whichever region ran it, to `/aws/lambda/us-east-1.<function name>`.
 */
export class EdgePayloadHash extends Construct {
  public readonly function: cloudfront.experimental.EdgeFunction;
  public readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: EdgePayloadHashProps = {}) {
    super(scope, id);
    const here = Stack.of(this);
    const home = here.region === EDGE_REGION ? here : props.edgeStack;
    if (home === undefined || home.region !== EDGE_REGION) {
      throw new Error(`EdgePayloadHash: outside ${EDGE_REGION}, edgeStack must be a stack there`);
    }
    // The role must live in the function's stack: in another region it could not be referenced.
    const roleScope = home === here ? this : home;
    const prefix = home === here ? '' : Names.uniqueId(this);

    this.role = new iam.Role(roleScope, `${prefix}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Sluice edge payload hash (Lambda@Edge): write its own logs only',
    });

    this.function = new cloudfront.experimental.EdgeFunction(this, 'Function', {
      runtime: EDGE_RUNTIME,
      architecture: lambda.Architecture.X86_64,
      handler: 'index.handler',
      code: bundledCode(),
      memorySize: props.memoryMiB ?? 256,
      timeout: Duration.seconds(5),
      role: this.role,
      description: 'Sluice: SHA-256 of the request body into x-amz-content-sha256 for OAC',
      ...(home === here ? {} : { stackId: home.node.id }),
    });

    const logGroup = `arn:${Aws.PARTITION}:logs:*:${home.account}:log-group:/aws/lambda/${EDGE_REGION}.${this.function.functionName}`;
    const logs = new iam.Policy(roleScope, `${prefix}Logs`, {
      roles: [this.role],
      statements: [
        new iam.PolicyStatement({
          actions: ['logs:CreateLogGroup'],
          resources: [logGroup],
        }),
        new iam.PolicyStatement({
          actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          resources: [`${logGroup}:*`],
        }),
      ],
    });
    acknowledgeWildcardResources(
      logs,
      [logGroup, `${logGroup}:*`],
      'Lambda@Edge writes logs in the region of the edge location that ran it, so the log group of this one function is granted in every region (and its streams).',
    );
    Validations.of(this.function.lambda).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Lambda@Edge supports Node.js up to 22 (CloudFront developer guide, Restrictions on Lambda@Edge); nodejs22.x is the newest runtime an edge function can use.',
    });
  }
}

/** One CommonJS file built by the local esbuild; Docker is never used. */
function bundledCode(): lambda.Code {
  return lambda.Code.fromAsset(SOURCE_DIR, {
    // The bundle includes `shared/errors.ts`, outside the source folder: hash what is built.
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      image: EDGE_RUNTIME.bundlingImage,
      local: {
        tryBundle(outputDir: string): boolean {
          buildSync({
            entryPoints: [path.join(SOURCE_DIR, 'handler.ts')],
            outfile: path.join(outputDir, 'index.js'),
            bundle: true,
            platform: 'node',
            target: 'node22',
            format: 'cjs',
            minify: true,
            logLevel: 'error',
          });
          return true;
        },
      },
    },
  });
}
