import { Stack, Validations } from 'aws-cdk-lib';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference.js';
import type { IConstruct } from 'constructs';

/**
 * Acknowledges cdk-nag `AwsSolutions-IAM5` findings for wildcard resources that are scoped as
 * tightly as the service allows (an exact S3 prefix, the versions of one function). cdk-nag 3
 * wants one acknowledgment per finding, named after the resource as it renders it, so the ids
 * are computed here from the resource strings rather than copied from a report.
 */
export function acknowledgeWildcardResources(
  scope: IConstruct,
  resources: readonly string[],
  reason: string,
): void {
  const stack = Stack.of(scope);
  for (const resource of resources) {
    const rendered = flattenCfnReference(stack.resolve(resource));
    Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[Resource::${rendered}]`, reason });
  }
}
