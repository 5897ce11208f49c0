import {
  CodeDeployClient,
  PutLifecycleEventHookExecutionStatusCommand,
  type LifecycleEventStatus,
} from '@aws-sdk/client-codedeploy';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';

/** The event CodeDeploy sends a Lambda lifecycle hook. */
export interface LifecycleHookEvent {
  DeploymentId: string;
  LifecycleEventHookExecutionId: string;
}

export interface PreTrafficHookOptions {
  /** ARN of the new gateway version (not yet behind the alias). */
  targetVersionArn: string;
  /** Path the health probe requests. @default '/healthz' */
  healthPath?: string;
  lambda?: LambdaClient;
  codeDeploy?: CodeDeployClient;
}

/**
 * A function-URL (payload format 2.0) GET request to the health path, as the gateway's Hono
 * `handle(app)` adapter expects it.
 */
export function healthProbeEvent(path: string): Record<string, unknown> {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: { host: 'pre-traffic.sluice.internal', 'user-agent': 'sluice-pre-traffic' },
    requestContext: {
      http: {
        method: 'GET',
        path,
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: 'sluice-pre-traffic',
      },
      requestId: 'pre-traffic',
      routeKey: '$default',
      stage: '$default',
      timeEpoch: 0,
    },
    isBase64Encoded: false,
  };
}

/** Eight NUL bytes separate the HTTP prelude from the body in a streamed Lambda response. */
const PRELUDE_DELIMITER = '\u0000'.repeat(8);

/**
 * The HTTP status in a gateway response read through `Invoke`: either a buffered
 * `{ statusCode, … }` object, or (the gateway uses `streamHandle`) the raw stream, whose JSON
 * prelude precedes eight NUL bytes and the body. `undefined` when neither parses.
 */
export function probeStatus(payload: Uint8Array): number | undefined {
  const text = new TextDecoder().decode(payload);
  const cut = text.indexOf(PRELUDE_DELIMITER);
  try {
    const head = JSON.parse(cut >= 0 ? text.slice(0, cut) : text) as { statusCode?: unknown };
    return typeof head.statusCode === 'number' ? head.statusCode : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Invokes the new version once with a health request and reports `Succeeded` to CodeDeploy only
 * when it answers 200; anything else (function error, other status, unreadable payload) reports
 * `Failed`, which stops the deployment before any traffic reaches the new version.
 */
export async function runPreTrafficHook(
  event: LifecycleHookEvent,
  options: PreTrafficHookOptions,
): Promise<LifecycleEventStatus> {
  const lambda = options.lambda ?? new LambdaClient({});
  const codeDeploy = options.codeDeploy ?? new CodeDeployClient({});
  let status: LifecycleEventStatus = 'Failed';
  try {
    const out = await lambda.send(
      new InvokeCommand({
        FunctionName: options.targetVersionArn,
        InvocationType: 'RequestResponse',
        Payload: new TextEncoder().encode(
          JSON.stringify(healthProbeEvent(options.healthPath ?? '/healthz')),
        ),
      }),
    );
    if (!out.FunctionError && out.Payload && probeStatus(out.Payload) === 200) status = 'Succeeded';
  } catch (err) {
    console.error(
      JSON.stringify({ msg: 'pre-traffic probe failed', error: (err as Error).message }),
    );
  }
  await codeDeploy.send(
    new PutLifecycleEventHookExecutionStatusCommand({
      deploymentId: event.DeploymentId,
      lifecycleEventHookExecutionId: event.LifecycleEventHookExecutionId,
      status,
    }),
  );
  return status;
}

/** Lambda entry: the target version comes from `TARGET_VERSION_ARN`, set by the CDK app. */
export const handler = async (
  event: LifecycleHookEvent,
): Promise<{ status: LifecycleEventStatus }> => {
  const targetVersionArn = process.env.TARGET_VERSION_ARN;
  if (!targetVersionArn) throw new Error('TARGET_VERSION_ARN is not set');
  const status = await runPreTrafficHook(event, {
    targetVersionArn,
    healthPath: process.env.HEALTH_PATH,
  });
  return { status };
};
