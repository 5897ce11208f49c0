/**
 * `npm run artifact -- <command>`: seal and open model files for use outside S3, and move a model
 * version between the artifact bucket's tiers. Run with no command for usage.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { openFile, SealError, sealFile, type ArtifactIdentity } from './envelope.js';
import { kmsKeyring, localKeyFile, localKeyring } from './keyrings.js';
import { promoteVersion, restoreVersion, tierStatus, TierError } from './tiers.js';

const USAGE = `Usage: npm run artifact -- <command> [options]

  seal <in> <out> --model <id> --version <v> [--kms-key <arn>]
      Encrypt a file (AWS Encryption SDK, framed, bound to model and version). Without
      --kms-key the local key (.local/artifact.key, or SLUICE_ARTIFACT_KEY_FILE) is used,
      and created (mode 0600) on first use.
  open <in> <out> [--model <id>] [--version <v>] [--kms-key <arn>]
      Decrypt a sealed file; refuses one sealed for another model or version.
  status  <model> <version> --bucket <name>    where each file is: hot, warm, Deep Archive
  promote <model> <version> --bucket <name> --kms-key <arn>
      copy warm or restored files back to the hot tier (S3 Standard, SSE-KMS)
  restore <model> <version> --bucket <name> [--days 7] [--tier Standard|Bulk]
      start restoring archived files (hours); run it again to see progress

  --region <r> (or AWS_REGION) picks the region for S3 and KMS; --bucket defaults to
  SLUICE_ARTIFACT_BUCKET.`;

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    model: { type: 'string' },
    version: { type: 'string' },
    'kms-key': { type: 'string' },
    bucket: { type: 'string' },
    region: { type: 'string' },
    days: { type: 'string', default: '7' },
    tier: { type: 'string', default: 'Standard' },
    help: { type: 'boolean', short: 'h' },
  },
});

const say = (line: string) => process.stdout.write(`${line}\n`);
const region = values.region ?? process.env.AWS_REGION;

async function keyring(create: boolean) {
  const keyId = values['kms-key'];
  if (keyId) return kmsKeyring({ keyId, config: region ? { region } : {} });
  return localKeyring(localKeyFile(), { create });
}

function need(value: string | undefined, what: string): string {
  if (!value) throw new UsageError(`${what} is missing.`);
  return value;
}

class UsageError extends Error {}

async function main(): Promise<void> {
  const [command, ...args] = positionals;
  if (!command || values.help) {
    say(USAGE);
    return;
  }
  switch (command) {
    case 'seal': {
      const [input, output] = args;
      const identity: ArtifactIdentity = {
        model: need(values.model, '--model'),
        version: need(values.version, '--version'),
      };
      const started = performance.now();
      await sealFile(need(input, '<in>'), need(output, '<out>'), {
        keyring: await keyring(true),
        identity,
      });
      const { size } = await stat(output!);
      say(
        `Sealed ${input} → ${output} (${size} bytes, ${identity.model}@${identity.version}, ${
          values['kms-key'] ? `KMS key ${values['kms-key']}` : `local key ${localKeyFile()}`
        }) in ${Math.round(performance.now() - started)} ms`,
      );
      return;
    }
    case 'open': {
      const [input, output] = args;
      const identity = await openFile(need(input, '<in>'), need(output, '<out>'), {
        keyring: await keyring(false),
        expect: { model: values.model, version: values.version },
      });
      say(`Opened ${input} → ${output} (${identity.model}@${identity.version})`);
      return;
    }
    case 'status':
    case 'promote':
    case 'restore': {
      const [model, version] = args;
      const target = {
        bucket: need(values.bucket ?? process.env.SLUICE_ARTIFACT_BUCKET, '--bucket'),
        model: need(model, '<model>'),
        version: need(version, '<version>'),
      };
      const s3 = new S3Client(region ? { region } : {});
      try {
        if (command === 'status') {
          const files = await tierStatus(s3, target);
          for (const f of files) say(`${f.tier.padEnd(12)} ${f.storageClass.padEnd(13)} ${f.key}`);
          if (files.length === 0) say(`No files for ${target.model}@${target.version}.`);
        } else if (command === 'promote') {
          const result = await promoteVersion(s3, {
            ...target,
            kmsKeyId: need(values['kms-key'], '--kms-key'),
          });
          say(result.message);
        } else {
          const result = await restoreVersion(s3, {
            ...target,
            days: Number(values.days),
            tier: values.tier === 'Bulk' ? 'Bulk' : 'Standard',
          });
          say(result.message);
        }
      } finally {
        s3.destroy();
      }
      return;
    }
    default:
      throw new UsageError(`Unknown command "${command}".`);
  }
}

try {
  await main();
} catch (err) {
  if (err instanceof UsageError) {
    process.stderr.write(`${err.message}\n\n${USAGE}\n`);
    process.exitCode = 2;
  } else if (err instanceof SealError || err instanceof TierError) {
    process.stderr.write(`${err.message}\n`);
    process.exitCode = 1;
  } else {
    const e = err as NodeJS.ErrnoException;
    process.stderr.write(`${e.code === 'ENOENT' ? `No such file: ${e.path}` : e.message}\n`);
    process.exitCode = 1;
  }
}
