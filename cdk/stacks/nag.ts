import { Validations, type App, type CfnResource } from 'aws-cdk-lib';
import { AwsSolutionsChecks, NIST80053R5Checks } from 'cdk-nag';

/**
 * The NIST 800-53 rev. 5 pack, restricted to SageMaker resources: that is where it checks what
 * AwsSolutions does not (endpoint-config KMS keys, network isolation of models); elsewhere it
 * repeats AwsSolutions or asks for things out of scope here (DynamoDB backups, Lambda DLQs).
 */
export class SageMakerNist80053R5Checks extends NIST80053R5Checks {
  protected override checkResource(node: CfnResource): void {
    if (node.cfnResourceType.startsWith('AWS::SageMaker::')) super.checkResource(node);
  }
}

/** The rule packs every Sluice stack is checked against. */
export function nagPacks(app: App): [AwsSolutionsChecks, SageMakerNist80053R5Checks] {
  return [new AwsSolutionsChecks(app), new SageMakerNist80053R5Checks(app)];
}

/** Registers the packs on the app: `cdk synth` fails on any unacknowledged error. */
export function addNagChecks(app: App): void {
  Validations.of(app).addPlugins(...nagPacks(app));
}
