import { Fn, type App } from 'aws-cdk-lib';
import { availabilityZonesContextKey } from '../config/availability-zones.js';
import type { SluiceConfig } from '../config/schema.js';
import { DataStack } from './data-stack.js';
import { EdgeSecurityStack } from './edge-security-stack.js';
import { IdentityStack } from './identity-stack.js';
import { addNagChecks } from './nag.js';
import { ServingStack } from './serving-stack.js';

export interface SluiceStacks {
  readonly data: DataStack;
  readonly identity: IdentityStack;
  readonly edgeSecurity: EdgeSecurityStack;
  readonly serving: ServingStack;
}

export interface BuildOptions {
  /** Register the cdk-nag packs as validation plugins. @default true */
  readonly nag?: boolean;
}

/**
 * Feature flags the constructs rely on: access logging by bucket policy (not the
 * LogDeliveryWrite ACL, which needs ObjectWriter ownership), and strong cross-stack references
 * (an export cannot be removed while a stack still imports it).
 */
export const FEATURE_FLAGS: Record<string, unknown> = {
  '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
  '@aws-cdk/core:defaultCrossStackReferences': 'strong',
};

/**
 * Composes the Sluice stacks in an app. The edge-security stack is always in us-east-1
 * (CLOUDFRONT web ACLs live there); the others in the configured region.
 */
export function buildSluiceApp(
  app: App,
  config: SluiceConfig,
  options: BuildOptions = {},
): SluiceStacks {
  for (const [flag, value] of Object.entries(FEATURE_FLAGS)) {
    if (app.node.tryGetContext(flag) === undefined) app.node.setContext(flag, value);
  }
  // Configured zones stand in for the lookup, so the VPC needs no credentials at synth time. A
  // recorded lookup is never overwritten: the serving stack checks the configured zones against it.
  const azKey = availabilityZonesContextKey(config.account, config.region);
  if (config.availabilityZones && app.node.tryGetContext(azKey) === undefined) {
    app.node.setContext(azKey, config.availabilityZones);
  }
  const env = { account: config.account, region: config.region };
  const p = config.prefix;
  const data = new DataStack(app, `${p}Data`, {
    env,
    config,
    description: 'Sluice: key, artifact tiers, alarm topic',
  });
  const identity = new IdentityStack(app, `${p}Identity`, {
    env,
    config,
    description: 'Sluice: Cognito',
  });
  const edgeSecurity = new EdgeSecurityStack(app, `${p}EdgeSecurity`, {
    env: { account: config.account, region: 'us-east-1' },
    config,
    description: 'Sluice: WAF, edge logs and, outside us-east-1, Lambda@Edge (us-east-1)',
  });
  const serving = new ServingStack(app, `${p}Serving`, {
    env,
    config,
    crossRegionReferences: config.region !== 'us-east-1',
    description: 'Sluice: GPU endpoints, traffic shifter, gateway, CloudFront, alarms',
    key: data.store.key,
    artifactsBucketArn: Fn.importValue(data.artifactsArnExport),
    topic: data.alarmTopic.topic,
    identity: identity.identity,
    webAclArn: edgeSecurity.edge.webAcl.attrArn,
    edgeLogBucket: edgeSecurity.edge.logBucket,
    edgeStack: edgeSecurity,
  });
  serving.addStackDependency(data);
  if (options.nag ?? true) addNagChecks(app);
  return { data, identity, edgeSecurity, serving };
}
