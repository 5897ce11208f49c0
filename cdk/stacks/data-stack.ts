import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { SluiceConfig } from '../config/schema.js';
import { AlarmTopic } from '../constructs/alarm-topic.js';
import { ArtifactIngest } from '../constructs/artifact-ingest.js';
import { ArtifactStore } from '../constructs/artifact-store.js';

export interface DataStackProps extends StackProps {
  readonly config: SluiceConfig;
}

/**
 * Stateful foundations: the customer key, the tiered artifact buckets, the alarm topic, and the
 * ingest function that turns an upload into a verified, registered model version.
 */
export class DataStack extends Stack {
  public readonly store: ArtifactStore;
  public readonly alarmTopic: AlarmTopic;
  public readonly ingest: ArtifactIngest;
  /**
   * Export of the artifact bucket's ARN under a readable name, so the IAM statements that scope
   * it to a model prefix (and their cdk-nag acknowledgments) do not carry generated export names.
   */
  public readonly artifactsArnExport: string;

  constructor(scope: Construct, id: string, props: DataStackProps) {
    super(scope, id, props);
    const { artifacts, alarms } = props.config;
    this.store = new ArtifactStore(this, 'Artifacts', artifacts);
    this.artifactsArnExport = `${props.config.prefix}-artifacts-bucket-arn`;
    new CfnOutput(this, 'ArtifactsBucketArn', {
      value: this.store.artifacts.bucketArn,
      exportName: this.artifactsArnExport,
    });
    this.alarmTopic = new AlarmTopic(this, 'AlarmTopic', {
      key: this.store.key,
      email: alarms.email,
    });
    this.ingest = new ArtifactIngest(this, 'Ingest', {
      artifacts: this.store.artifacts,
      key: this.store.key,
      models: props.config.models,
      topic: this.alarmTopic.topic,
    });
  }
}
