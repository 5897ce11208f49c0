import { DescribeCertificateCommand } from '@aws-sdk/client-acm';
import { errorName } from '../errors.js';
import type { Check, CheckResult } from '../types.js';

/** CloudFront takes certificates from ACM in us-east-1 only. */
const ACM_REGION = 'us-east-1';

/**
 * Whether a certificate name covers a domain: the same name, or a wildcard `*.example.com` for
 * exactly one more label (`api.example.com`, not `a.b.example.com` nor `example.com`).
 */
export function covers(certName: string, domain: string): boolean {
  const name = certName.toLowerCase();
  const host = domain.toLowerCase();
  if (name === host) return true;
  if (!name.startsWith('*.')) return false;
  const dot = host.indexOf('.');
  return dot > 0 && host.slice(dot + 1) === name.slice(2);
}

/** The ACM certificate in `edge.certificateArn` exists, is ISSUED and covers `edge.domainNames`. */
export const certificateCheck: Check = {
  id: 'certificate',
  permissions: ['acm:DescribeCertificate'],

  plan: ({ config }) => [
    `ACM (${ACM_REGION}): ${config.edge.certificateArn} is ISSUED and covers ${config.edge.domainNames.join(', ')}`,
  ],

  async run({ config, account, clients }) {
    const arn = config.edge.certificateArn;
    const domains = config.edge.domainNames;
    const base = { check: 'certificate', subject: domains.join(', ') };
    const request = `Request a public certificate in ${ACM_REGION} for ${domains.join(', ')} with DNS validation and set sluice.edge.certificateArn to its ARN.`;
    const arnAccount = arn.split(':')[4];
    if (arnAccount !== account) {
      return [
        {
          ...base,
          status: 'fail',
          detail: `edge.certificateArn belongs to account ${arnAccount}, the credentials to ${account}`,
          fix: `CloudFront uses certificates of its own account. ${request}`,
        },
      ];
    }
    let cert;
    try {
      const out = await clients
        .acm(ACM_REGION)
        .send(new DescribeCertificateCommand({ CertificateArn: arn }));
      cert = out.Certificate;
    } catch (err) {
      if (errorName(err) !== 'ResourceNotFoundException') throw err;
    }
    if (!cert) {
      return [{ ...base, status: 'fail', detail: `no certificate ${arn}`, fix: request }];
    }
    const names = [...new Set([cert.DomainName, ...(cert.SubjectAlternativeNames ?? [])])].filter(
      (n): n is string => typeof n === 'string',
    );
    const uncovered = domains.filter((d) => !names.some((n) => covers(n, d)));
    const results: CheckResult[] = [];
    if (cert.Status !== 'ISSUED') {
      results.push({
        ...base,
        status: 'fail',
        detail: `certificate is ${cert.Status ?? 'in an unknown state'}`,
        fix:
          cert.Status === 'PENDING_VALIDATION'
            ? 'Create the DNS validation records ACM lists for the certificate and wait for ISSUED.'
            : request,
      });
    }
    if (uncovered.length > 0) {
      results.push({
        ...base,
        status: 'fail',
        detail: `certificate names ${names.join(', ')} do not cover ${uncovered.join(', ')}`,
        fix: `${request} Or change sluice.edge.domainNames.`,
      });
    }
    if (results.length > 0) return results;
    return [{ ...base, status: 'pass', detail: `ISSUED, names ${names.join(', ')}` }];
  },
};
