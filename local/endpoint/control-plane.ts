import type { Context } from 'hono';
import type { EndpointBackend, EndpointDescription } from './backend.js';

/** Where the local control plane says its endpoints live (only used to build ARNs). */
export interface ControlPlaneIdentity {
  region: string;
  accountId: string;
  /** Epoch seconds reported as `CreationTime`. */
  startedAt: number;
}

const JSON_11 = 'application/x-amz-json-1.1';

function jsonRpcError(c: Context, status: number, type: string, message: string): Response {
  // awsJson1_1 clients read the code from `__type` first; the header is there for other readers.
  return c.body(JSON.stringify({ __type: type, message }), status as 400, {
    'content-type': JSON_11,
    'x-amzn-errortype': type,
  });
}

/**
 * `POST /` with `X-Amz-Target: SageMaker.<Operation>`, as `@aws-sdk/client-sagemaker` sends it.
 * Only `DescribeEndpoint` is implemented: it is what a readiness check needs.
 */
export async function handleControlPlane(
  c: Context,
  backends: Readonly<Record<string, EndpointBackend>>,
  identity: ControlPlaneIdentity,
  body: Uint8Array,
): Promise<Response> {
  const target = c.req.header('x-amz-target') ?? '';
  if (target !== 'SageMaker.DescribeEndpoint') {
    return jsonRpcError(
      c,
      400,
      'UnknownOperationException',
      `Operation ${target || '(none)'} is not implemented by the local endpoint.`,
    );
  }
  let name: unknown;
  try {
    name = (JSON.parse(new TextDecoder().decode(body)) as { EndpointName?: unknown }).EndpointName;
  } catch {
    return jsonRpcError(c, 400, 'SerializationException', 'The request body is not valid JSON.');
  }
  const arn = `arn:aws:sagemaker:${identity.region}:${identity.accountId}:endpoint/${String(name).toLowerCase()}`;
  const backend = typeof name === 'string' ? backends[name] : undefined;
  if (typeof name !== 'string' || backend === undefined) {
    return jsonRpcError(c, 400, 'ValidationException', `Could not find endpoint "${arn}".`);
  }
  const description: EndpointDescription = (await backend.describe?.()) ?? {};
  const variants = description.variants ?? [{ name: 'AllTraffic', weight: 1, instanceCount: 1 }];
  // Timestamps are epoch seconds in awsJson1_1.
  const now = Math.floor(Date.now() / 1000);
  const output = {
    EndpointName: name,
    EndpointArn: arn,
    EndpointConfigName: name,
    EndpointStatus: description.status ?? 'InService',
    ...(description.failureReason === undefined
      ? {}
      : { FailureReason: description.failureReason }),
    CreationTime: identity.startedAt,
    LastModifiedTime: now,
    ProductionVariants: variants.map((v) => ({
      VariantName: v.name,
      CurrentWeight: v.weight,
      DesiredWeight: v.weight,
      CurrentInstanceCount: v.instanceCount,
      DesiredInstanceCount: v.instanceCount,
    })),
  };
  return c.body(JSON.stringify(output), 200, { 'content-type': JSON_11 });
}
