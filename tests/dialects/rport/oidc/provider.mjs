// A real OpenID Connect provider for the rport OAuth login tests (tests/dialects/rport/test_oauth.py):
// panva's oidc-provider on 127.0.0.1 with its development login form (any login name, no password
// check) and two confidential clients. The login name is the user's preferred_username; the
// account "outsider" has no groups, every other one is in "fleetdeck-admins". Conformant ID
// tokens (the default): profile claims come from the userinfo endpoint, not the ID token.
// Usage: node provider.mjs <port> <redirect_uri>; prints "ready <issuer>" once it listens.
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const redirect = process.argv[3];
const issuer = `http://127.0.0.1:${port}`;
const client = (id) => ({
  client_id: id,
  client_secret: `${id}-secret-0123456789abcdef`,
  redirect_uris: [redirect],
  grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
});

const provider = new Provider(issuer, {
  clients: [client('fleetdeck'), client('other-app')],
  features: { devInteractions: { enabled: true }, deviceFlow: { enabled: true } },
  claims: { openid: ['sub'], profile: ['preferred_username', 'name', 'groups'], email: ['email'] },
  cookies: { keys: ['test-cookie-key-0123456789'] },
  pkce: { required: () => true },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: `sub-${id}`,
          preferred_username: id,
          name: id,
          email: `${id}@example.test`,
          groups: id === 'outsider' ? [] : ['fleetdeck-admins'],
        };
      },
    };
  },
});
provider.proxy = false;
const server = provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
