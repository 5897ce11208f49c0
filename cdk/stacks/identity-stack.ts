import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { SluiceConfig } from '../config/schema.js';
import { Identity } from '../constructs/identity.js';

export interface IdentityStackProps extends StackProps {
  readonly config: SluiceConfig;
}

/** The Cognito user pool, its groups, scopes and clients. */
export class IdentityStack extends Stack {
  public readonly identity: Identity;

  constructor(scope: Construct, id: string, props: IdentityStackProps) {
    super(scope, id, props);
    this.identity = new Identity(this, 'Identity', props.config.identity);
  }
}
