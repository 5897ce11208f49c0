import type { Check } from '../types.js';

/**
 * The credentials belong to `sluice.account`: the stacks name that account in their environment,
 * and `cdk deploy` refuses credentials for another one.
 */
export const accountCheck: Check = {
  id: 'account',
  permissions: ['sts:GetCallerIdentity'],

  plan: ({ config }) => [
    `STS: the credentials belong to account ${config.account} (sluice.account)`,
  ],

  async run({ config, account }) {
    const base = { check: 'account', subject: account };
    if (account === config.account) {
      return [{ ...base, status: 'pass', detail: 'credentials are for sluice.account' }];
    }
    return [
      {
        ...base,
        status: 'fail',
        detail: `credentials are for ${account}; sluice.account is ${config.account}`,
        fix: `Set sluice.account to ${account} in cdk.json (or -c), or use credentials for ${config.account}.`,
      },
    ];
  },
};
