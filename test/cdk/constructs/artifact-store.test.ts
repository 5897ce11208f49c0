import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { parseSluiceConfig } from '../../../cdk/config/load.js';
import { ArtifactStore } from '../../../cdk/constructs/artifact-store.js';
import { FEATURE_FLAGS } from '../../../cdk/stacks/sluice-app.js';

const stack = () =>
  new Stack(new App({ context: FEATURE_FLAGS }), 'Data', {
    env: { account: '111111111111', region: 'us-east-1' },
  });

describe('ArtifactStore', () => {
  it('moves archive/ to Deep Archive after the configured number of days', () => {
    const s = stack();
    new ArtifactStore(
      s,
      'Store',
      parseSluiceConfig({ artifacts: { archiveAfterDays: 180 } }).artifacts,
    );
    Template.fromStack(s).hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({
            Prefix: 'archive/',
            Transitions: [{ StorageClass: 'DEEP_ARCHIVE', TransitionInDays: 180 }],
          }),
        ]),
      },
    });
  });

  it('defaults the archive transition to 30 days and rejects a negative one', () => {
    expect(parseSluiceConfig({}).artifacts.archiveAfterDays).toBe(30);
    expect(() => parseSluiceConfig({ artifacts: { archiveAfterDays: -1 } })).toThrow(
      /archiveAfterDays/,
    );
    expect(() => new ArtifactStore(stack(), 'Store', { archiveAfterDays: -1 })).toThrow(
      /archiveAfterDays/,
    );
  });
});
