import { posix } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { COMMON_RULE_SET_BODY_RULES, EdgeSecurity } from '../../../cdk/constructs/edge-security.js';

const LONG = 120_000;

/** Every rule of the AWS managed common rule set (AWS's "Baseline rule groups" page). */
const COMMON_RULE_SET = [
  'NoUserAgent_HEADER',
  'UserAgent_BadBots_HEADER',
  'SizeRestrictions_QUERYSTRING',
  'SizeRestrictions_Cookie_HEADER',
  'SizeRestrictions_BODY',
  'SizeRestrictions_URIPATH',
  'EC2MetaDataSSRF_BODY',
  'EC2MetaDataSSRF_COOKIE',
  'EC2MetaDataSSRF_URIPATH',
  'EC2MetaDataSSRF_QUERYARGUMENTS',
  'GenericLFI_QUERYARGUMENTS',
  'GenericLFI_URIPATH',
  'GenericLFI_BODY',
  'RestrictedExtensions_URIPATH',
  'RestrictedExtensions_QUERYARGUMENTS',
  'GenericRFI_QUERYARGUMENTS',
  'GenericRFI_BODY',
  'GenericRFI_URIPATH',
  'CrossSiteScripting_COOKIE',
  'CrossSiteScripting_QUERYARGUMENTS',
  'CrossSiteScripting_BODY',
  'CrossSiteScripting_URIPATH',
];
const BODY_RULES = COMMON_RULE_SET.filter((r) => r.endsWith('_BODY'));

/** The label a rule of the set adds (AWS's table: `_BODY` → `_Body`, `_URIPATH` → `_URIPath`, …). */
const labelOf = (rule: string): string =>
  `awswaf:managed:aws:core-rule-set:${rule
    .replace('UserAgent_BadBots_HEADER', 'BadBots_HEADER')
    .replace(/_BODY$/, '_Body')
    .replace(/_HEADER$/, '_Header')
    .replace(/_COOKIE$/, '_Cookie')
    .replace(/_URIPATH$/, '_URIPath')
    .replace(/_QUERYSTRING$/, '_QueryString')
    .replace(/_QUERYARGUMENTS$/, '_QueryArguments')}`;

type Json = Record<string, unknown>;
interface Request {
  /** The raw URI path as the client sent it. */
  readonly path: string;
  /** The managed rules whose pattern the request matches. */
  readonly matches: readonly string[];
}

/** AWS WAF's text transformations the web ACL uses. */
function transform(value: string, transformations: { Type: string; Priority: number }[]): string {
  return [...transformations]
    .sort((a, b) => a.Priority - b.Priority)
    .reduce((v, t) => {
      if (t.Type === 'NONE') return v;
      if (t.Type === 'URL_DECODE') return decodeURIComponent(v);
      if (t.Type === 'NORMALIZE_PATH') return posix.normalize(v);
      throw new Error(`transformation ${t.Type} is not modelled`);
    }, value);
}

/** Whether a (non-managed) statement matches, given the labels added so far. */
function matches(statement: Json, request: Request, labels: Set<string>): boolean {
  const [[type, body]] = Object.entries(statement) as [[string, Json]];
  switch (type) {
    case 'AndStatement':
      return (body.Statements as Json[]).every((s) => matches(s, request, labels));
    case 'OrStatement':
      return (body.Statements as Json[]).some((s) => matches(s, request, labels));
    case 'NotStatement':
      return !matches(body.Statement as Json, request, labels);
    case 'LabelMatchStatement':
      return labels.has(body.Key as string);
    case 'RateBasedStatement':
      return false; // one request is never over the rate
    case 'ByteMatchStatement': {
      expect(body.FieldToMatch).toEqual({ UriPath: {} });
      const value = transform(request.path, body.TextTransformations as never);
      const search = body.SearchString as string;
      if (body.PositionalConstraint === 'STARTS_WITH') return value.startsWith(search);
      if (body.PositionalConstraint === 'EXACTLY') return value === search;
      throw new Error(`positional constraint ${String(body.PositionalConstraint)} is not modelled`);
    }
    default:
      throw new Error(`statement ${type} is not modelled`);
  }
}

/**
 * What the web ACL does with a request that matches the given managed rules: evaluates the rules
 * in priority order as AWS WAF does (a managed rule blocks unless overridden to count; counted
 * and blocking rules both add their label; labels are visible to later rules).
 */
function verdict(rules: Json[], request: Request): { action: 'BLOCK' | 'ALLOW'; by?: string } {
  const labels = new Set<string>();
  for (const rule of [...rules].sort((a, b) => (a.Priority as number) - (b.Priority as number))) {
    const statement = rule.Statement as Json;
    const group = statement.ManagedRuleGroupStatement as Json | undefined;
    if (group) {
      expect(group).toMatchObject({ VendorName: 'AWS', Name: 'AWSManagedRulesCommonRuleSet' });
      expect(rule.OverrideAction).toEqual({ None: {} });
      if (group.ScopeDownStatement && !matches(group.ScopeDownStatement as Json, request, labels))
        continue;
      const counted = new Set(
        ((group.RuleActionOverrides as Json[] | undefined) ?? [])
          .filter((o) => JSON.stringify(o.ActionToUse) === '{"Count":{}}')
          .map((o) => o.Name as string),
      );
      for (const m of request.matches) {
        labels.add(labelOf(m));
        if (!counted.has(m)) return { action: 'BLOCK', by: `${rule.Name as string}:${m}` };
      }
      continue;
    }
    if (matches(statement, request, labels)) {
      if ('Block' in (rule.Action as Json)) return { action: 'BLOCK', by: rule.Name as string };
      if ('Allow' in (rule.Action as Json)) return { action: 'ALLOW', by: rule.Name as string };
    }
  }
  return { action: 'ALLOW' };
}

let rules: Json[];

beforeAll(() => {
  const stack = new Stack(new App(), 'Edge', {
    env: { account: '111111111111', region: 'us-east-1' },
  });
  new EdgeSecurity(stack, 'Security', { rateLimitPer5Min: 2000 });
  const acl = Object.values(Template.fromStack(stack).findResources('AWS::WAFv2::WebACL'))[0]!;
  rules = (acl.Properties as { Rules: Json[] }).Rules;
}, LONG);

describe('EdgeSecurity', () => {
  it('names exactly the body rules of the common rule set, with the labels AWS documents', () => {
    expect(Object.keys(COMMON_RULE_SET_BODY_RULES).sort()).toEqual([...BODY_RULES].sort());
    for (const [rule, label] of Object.entries(COMMON_RULE_SET_BODY_RULES)) {
      expect(label).toBe(labelOf(rule));
    }
  });

  it('counts the common rule set’s body rules on /v1/ bodies and blocks them on every other path', () => {
    const table = BODY_RULES.flatMap((rule) =>
      [
        '/v1/chat/completions',
        '/v1/completions',
        '/v1/embeddings',
        '/admin/models/m/weights',
        '/admin/models/m/breakers/reset',
        '/healthz',
        // Paths that leave /v1/ once decoded and normalized (the router resolves dot segments).
        '/v1/../admin/models/m/weights',
        '/v1/%2e%2e/admin/models/m/weights',
        '/v1//..//admin/models',
        '/V1/chat/completions',
      ].map((path) => `${rule} ${path} ${verdict(rules, { path, matches: [rule] }).action}`),
    );
    const expected = BODY_RULES.flatMap((rule) => [
      `${rule} /v1/chat/completions ALLOW`,
      `${rule} /v1/completions ALLOW`,
      `${rule} /v1/embeddings ALLOW`,
      `${rule} /admin/models/m/weights BLOCK`,
      `${rule} /admin/models/m/breakers/reset BLOCK`,
      `${rule} /healthz BLOCK`,
      `${rule} /v1/../admin/models/m/weights BLOCK`,
      `${rule} /v1/%2e%2e/admin/models/m/weights BLOCK`,
      `${rule} /v1//..//admin/models BLOCK`,
      `${rule} /V1/chat/completions BLOCK`,
    ]);
    expect(table).toEqual(expected);
  });

  it('keeps every other rule of the set blocking on /v1/ and elsewhere', () => {
    for (const rule of COMMON_RULE_SET.filter((r) => !BODY_RULES.includes(r))) {
      for (const path of ['/v1/chat/completions', '/admin/models']) {
        expect(verdict(rules, { path, matches: [rule] })).toEqual({
          action: 'BLOCK',
          by: `aws-common:${rule}`,
        });
      }
    }
    // A prompt that matches a body rule and a header rule is still blocked by the header rule.
    expect(
      verdict(rules, {
        path: '/v1/chat/completions',
        matches: ['CrossSiteScripting_BODY', 'NoUserAgent_HEADER'],
      }),
    ).toEqual({ action: 'BLOCK', by: 'aws-common:NoUserAgent_HEADER' });
    expect(verdict(rules, { path: '/v1/chat/completions', matches: [] })).toEqual({
      action: 'ALLOW',
    });
  });
});
