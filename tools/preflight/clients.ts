import { ACMClient } from '@aws-sdk/client-acm';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ECRClient } from '@aws-sdk/client-ecr';
import { S3Client } from '@aws-sdk/client-s3';
import { ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { SSMClient } from '@aws-sdk/client-ssm';
import { STSClient } from '@aws-sdk/client-sts';
import type { Clients } from './types.js';

/** Resolved credentials, typed from the client so no extra types package is needed. */
export type AwsCredentialIdentity = Awaited<ReturnType<STSClient['config']['credentials']>>;

/**
 * Real SDK clients, one per service and region, all signing with the credentials resolved once at
 * start (so an SSO or `credential_process` profile is not asked eight times).
 */
export function sdkClients(credentials: AwsCredentialIdentity): Clients {
  const cache = new Map<string, unknown>();
  const make =
    <C>(Ctor: new (config: { region: string; credentials: AwsCredentialIdentity }) => C) =>
    (region: string): C => {
      const key = `${Ctor.name}:${region}`;
      if (!cache.has(key)) cache.set(key, new Ctor({ region, credentials }));
      return cache.get(key) as C;
    };
  return {
    sts: make(STSClient),
    quotas: make(ServiceQuotasClient),
    ec2: make(EC2Client),
    cloudFormation: make(CloudFormationClient),
    ssm: make(SSMClient),
    acm: make(ACMClient),
    s3: make(S3Client),
    ecr: make(ECRClient),
  };
}

/**
 * Resolves credentials through the SDK's default provider chain (environment, SSO and shared
 * files, web identity, container and instance metadata).
 *
 * @returns the credentials, or the chain's reason for finding none.
 */
export async function resolveCredentials(
  region: string,
  timeoutMs: number,
): Promise<{ credentials: AwsCredentialIdentity } | { reason: string }> {
  const client = new STSClient({ region });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no credentials within ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
  });
  try {
    return { credentials: await Promise.race([client.config.credentials(), timeout]) };
  } catch (err) {
    return { reason: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
    client.destroy();
  }
}
