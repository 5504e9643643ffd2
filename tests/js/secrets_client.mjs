// The AWS SDK for JavaScript v3 Secrets Manager client against the server, unmodified: the
// endpoint, region and credentials come from the environment alone (AWS_ENDPOINT_URL_SECRETS_MANAGER,
// AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), as they would for any application.
//
//   SECRET_NAME=<unique name> node secrets_client.mjs
//
// Creates, reads, updates, lists and finally deletes a secret under SECRET_NAME (and a binary
// one under SECRET_NAME + "-bin"), and prints what the SDK returned as one JSON object on
// stdout; tests/api/test_secrets_real_clients.py checks it.  Any SDK error ends the script
// with a non-zero exit code, except the ones it provokes on purpose (recorded under "errors").

import {
  BatchGetSecretValueCommand,
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetRandomPasswordCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
  paginateListSecrets,
} from "@aws-sdk/client-secrets-manager";

const name = process.env.SECRET_NAME;
if (!name) {
  console.error("SECRET_NAME is not set");
  process.exit(2);
}

const client = new SecretsManagerClient({ maxAttempts: 1 });

// What the SDK resolved and sent, seen from its own middleware stack: every request's host.
const hosts = new Set();
client.middlewareStack.add(
  (next) => async (args) => {
    hosts.add(`${args.request.protocol}//${args.request.hostname}:${args.request.port}`);
    return next(args);
  },
  { step: "finalizeRequest", name: "recordHost" },
);

const out = { errors: {} };
const dates = (d) => (d instanceof Date ? d.toISOString() : d);

const created = await client.send(new CreateSecretCommand({
  Name: name,
  Description: "from the JavaScript SDK v3",
  SecretString: JSON.stringify({ user: "app", password: "p\u00e4ss \"w\" 1" }),
  Tags: [{ Key: "team", Value: "js" }],
}));
out.created = { ARN: created.ARN, Name: created.Name, VersionId: created.VersionId };

const first = await client.send(new GetSecretValueCommand({ SecretId: name }));
out.first = { SecretString: first.SecretString, VersionId: first.VersionId, VersionStages: first.VersionStages,
  CreatedDateIsDate: first.CreatedDate instanceof Date };

const token = "js-token-" + "0".repeat(24);
const put = await client.send(new PutSecretValueCommand({ SecretId: name, SecretString: "second value",
  ClientRequestToken: token }));
out.put = { VersionId: put.VersionId, VersionStages: put.VersionStages };
// the same token and value again: idempotent, the same version
const again = await client.send(new PutSecretValueCommand({ SecretId: name, SecretString: "second value",
  ClientRequestToken: token }));
out.putAgain = { VersionId: again.VersionId };

const current = await client.send(new GetSecretValueCommand({ SecretId: created.ARN }));
const previous = await client.send(new GetSecretValueCommand({ SecretId: name, VersionStage: "AWSPREVIOUS" }));
out.current = { SecretString: current.SecretString, VersionId: current.VersionId };
out.previous = { SecretString: previous.SecretString, VersionId: previous.VersionId };

await client.send(new UpdateSecretVersionStageCommand({ SecretId: name, VersionStage: "blue",
  MoveToVersionId: created.VersionId }));

const versions = await client.send(new ListSecretVersionIdsCommand({ SecretId: name }));
out.versions = versions.Versions.map((v) => ({ VersionId: v.VersionId, VersionStages: [...v.VersionStages].sort(),
  CreatedDateIsDate: v.CreatedDate instanceof Date }));

const described = await client.send(new DescribeSecretCommand({ SecretId: name }));
out.described = { ARN: described.ARN, Name: described.Name, Description: described.Description,
  Tags: described.Tags, VersionIdsToStages: described.VersionIdsToStages,
  CreatedDate: dates(described.CreatedDate), LastChangedDate: dates(described.LastChangedDate) };

const bytes = new Uint8Array([0, 1, 2, 253, 254, 255, 10, 13]);
await client.send(new CreateSecretCommand({ Name: `${name}-bin`, SecretBinary: bytes }));
const bin = await client.send(new GetSecretValueCommand({ SecretId: `${name}-bin` }));
out.binary = { SecretBinary: Array.from(bin.SecretBinary), SecretStringAbsent: bin.SecretString === undefined,
  isUint8Array: bin.SecretBinary instanceof Uint8Array };

const listed = await client.send(new ListSecretsCommand({ Filters: [{ Key: "name", Values: [name] }] }));
out.listed = listed.SecretList.map((s) => s.Name).sort();
// the SDK's paginator, one secret a page
const paged = [];
for await (const page of paginateListSecrets({ client, pageSize: 1 }, { Filters: [{ Key: "name", Values: [name] }],
  MaxResults: 1 })) {
  paged.push(page.SecretList.map((s) => s.Name));
}
out.paged = paged;

const batch = await client.send(new BatchGetSecretValueCommand({ SecretIdList: [name, `${name}-bin`, `${name}-missing`] }));
out.batch = { values: Object.fromEntries(batch.SecretValues.map((s) => [s.Name, s.SecretString ?? Array.from(s.SecretBinary)])),
  errors: batch.Errors.map((e) => ({ SecretId: e.SecretId, ErrorCode: e.ErrorCode })) };

const random = await client.send(new GetRandomPasswordCommand({ PasswordLength: 24, ExcludePunctuation: true }));
out.randomPassword = random.RandomPassword;

try {
  await client.send(new GetSecretValueCommand({ SecretId: `${name}-missing` }));
  out.errors.missing = null;
} catch (e) {
  out.errors.missing = { name: e.name, status: e.$metadata?.httpStatusCode, message: e.message };
}
try {
  await client.send(new CreateSecretCommand({ Name: name, SecretString: "x" }));
  out.errors.duplicate = null;
} catch (e) {
  out.errors.duplicate = { name: e.name, status: e.$metadata?.httpStatusCode };
}

const deleted = await client.send(new DeleteSecretCommand({ SecretId: `${name}-bin`, ForceDeleteWithoutRecovery: true }));
out.deleted = { Name: deleted.Name, DeletionDateIsDate: deleted.DeletionDate instanceof Date };
try {
  await client.send(new DescribeSecretCommand({ SecretId: `${name}-bin` }));
  out.errors.afterDelete = null;
} catch (e) {
  out.errors.afterDelete = { name: e.name };
}

out.hosts = [...hosts];
process.stdout.write(JSON.stringify(out) + "\n");
