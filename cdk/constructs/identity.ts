import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import { Construct } from 'constructs';

/** Groups the gateway maps to roles (see DESIGN.md, "Roles"). */
export const ROLE_GROUPS = ['Admin', 'Operator', 'Viewer'] as const;

/** Scopes of the `inference` resource server; the gateway checks `inference/invoke`. */
export const SCOPES = {
  invoke: 'Call the inference API',
  read: 'Read models, metrics and deployment status',
  operate: 'Drain, pause and resume models; reset circuit breakers',
  admin: 'Change aliases and canary weights; roll back',
} as const;

export interface IdentityProps {
  /** Prefix of the Cognito hosted domain. */
  readonly domainPrefix: string;
  /** Redirect URLs of the authorization-code client. */
  readonly callbackUrls: readonly string[];
  /** Access-token lifetime. @default 2 hours */
  readonly accessTokenValidity?: Duration;
}

/**
 * Cognito: a user pool with the role groups, MFA required and threat protection enforced, a
 * resource server with the gateway's scopes, an authorization-code + PKCE client on the hosted
 * domain for people and a client-credentials client for services, both with 2-hour access tokens.
 */
export class Identity extends Construct {
  public readonly userPool: cognito.UserPool;
  public readonly userClient: cognito.UserPoolClient;
  public readonly serviceClient: cognito.UserPoolClient;
  public readonly domain: cognito.UserPoolDomain;
  /** `https://cognito-idp.<region>.amazonaws.com/<pool id>`: the `iss` of its tokens. */
  public readonly issuer: string;
  public readonly jwksUrl: string;

  constructor(scope: Construct, id: string, props: IdentityProps) {
    super(scope, id);
    if (props.callbackUrls.length === 0) throw new Error('Identity: at least one callback URL');
    const validity = props.accessTokenValidity ?? Duration.hours(2);

    this.userPool = new cognito.UserPool(this, 'Users', {
      selfSignUpEnabled: false,
      signInAliases: { email: true },
      mfa: cognito.Mfa.REQUIRED,
      mfaSecondFactor: { otp: true, sms: false },
      featurePlan: cognito.FeaturePlan.PLUS,
      standardThreatProtectionMode: cognito.StandardThreatProtectionMode.FULL_FUNCTION,
      passwordPolicy: {
        minLength: 14,
        requireDigits: true,
        requireLowercase: true,
        requireUppercase: true,
        requireSymbols: true,
      },
      accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    for (const group of ROLE_GROUPS) {
      new cognito.CfnUserPoolGroup(this, `Group${group}`, {
        userPoolId: this.userPool.userPoolId,
        groupName: group,
        description: `Sluice ${group}`,
      });
    }

    const scopes = Object.entries(SCOPES).map(
      ([name, description]) =>
        new cognito.ResourceServerScope({ scopeName: name, scopeDescription: description }),
    );
    const server = this.userPool.addResourceServer('Inference', {
      identifier: 'inference',
      scopes,
    });
    const oauthScopes = scopes.map((s) => cognito.OAuthScope.resourceServer(server, s));

    this.domain = this.userPool.addDomain('Domain', {
      cognitoDomain: { domainPrefix: props.domainPrefix },
    });

    this.userClient = this.userPool.addClient('AuthorizationCode', {
      generateSecret: false,
      authFlows: {},
      oAuth: {
        flows: { authorizationCodeGrant: true },
        scopes: [cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, ...oauthScopes],
        callbackUrls: [...props.callbackUrls],
      },
      accessTokenValidity: validity,
      idTokenValidity: validity,
      refreshTokenValidity: Duration.days(1),
      preventUserExistenceErrors: true,
      enableTokenRevocation: true,
    });
    this.serviceClient = this.userPool.addClient('ClientCredentials', {
      generateSecret: true,
      authFlows: {},
      // Least privilege for machines: call models and read status. Operating or administering
      // from a machine takes a client of its own, created deliberately.
      oAuth: {
        flows: { clientCredentials: true },
        scopes: oauthScopes.filter((s) => /\/(invoke|read)$/.test(s.scopeName)),
      },
      accessTokenValidity: validity,
      preventUserExistenceErrors: true,
      enableTokenRevocation: true,
    });

    const region = Stack.of(this).region;
    this.issuer = `https://cognito-idp.${region}.amazonaws.com/${this.userPool.userPoolId}`;
    this.jwksUrl = `${this.issuer}/.well-known/jwks.json`;
  }
}
