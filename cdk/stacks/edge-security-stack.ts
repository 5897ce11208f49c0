import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { SluiceConfig } from '../config/schema.js';
import { EdgeSecurity } from '../constructs/edge-security.js';

export interface EdgeSecurityStackProps extends StackProps {
  readonly config: SluiceConfig;
}

/**
 * WAF and the edge log bucket; always in us-east-1, where CLOUDFRONT web ACLs live. When the
 * serving stack is in another region, it also receives that stack's Lambda@Edge function
 * (`EdgePayloadHash` places it here by stack id).
 */
export class EdgeSecurityStack extends Stack {
  public readonly edge: EdgeSecurity;

  constructor(scope: Construct, id: string, props: EdgeSecurityStackProps) {
    super(scope, id, props);
    this.edge = new EdgeSecurity(this, 'Edge', {
      rateLimitPer5Min: props.config.edge.rateLimitPer5Min,
    });
  }
}
