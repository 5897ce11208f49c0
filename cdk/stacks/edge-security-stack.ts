import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { SluiceConfig } from '../config/schema.js';
import { EdgeSecurity } from '../constructs/edge-security.js';

export interface EdgeSecurityStackProps extends StackProps {
  readonly config: SluiceConfig;
}

/** WAF and the edge log bucket; always in us-east-1, where CLOUDFRONT web ACLs live. */
export class EdgeSecurityStack extends Stack {
  public readonly edge: EdgeSecurity;

  constructor(scope: Construct, id: string, props: EdgeSecurityStackProps) {
    super(scope, id, props);
    this.edge = new EdgeSecurity(this, 'Edge', {
      rateLimitPer5Min: props.config.edge.rateLimitPer5Min,
    });
  }
}
