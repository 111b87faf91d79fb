/**
 * What tests need to talk to the S3-protocol test server that test/support/run-tests.ts started
 * (FLOE_TEST_S3_ENDPOINT): client options, and bucket creation / removal.
 *
 * Tests call `s3TestConfig()`; when it returns undefined they must skip LOUDLY:
 *   t.skip(`S3 server not available: ${S3_UNAVAILABLE}`)
 */
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  AbortMultipartUploadCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';

export interface S3TestConfig {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  forcePathStyle: boolean;
}

export const S3_ENDPOINT_VAR = 'FLOE_TEST_S3_ENDPOINT';

/** Why the S3 tests skip when they do. */
export const S3_UNAVAILABLE =
  `${S3_ENDPOINT_VAR} is not set. Run the tests through test/support/run-tests.ts (make test), or install moto ` +
  `(bash test/support/install-moto.sh), start node dist/test/support/s3-server.js and export the variable it prints.`;

/** Client options for the test server, or undefined when no server was started. */
export function s3TestConfig(): S3TestConfig | undefined {
  const endpoint = process.env[S3_ENDPOINT_VAR];
  if (endpoint === undefined || endpoint === '') return undefined;
  // moto accepts any credentials unless authentication is switched on; these are the conventional ones.
  return { endpoint, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }, forcePathStyle: true };
}

function client(config: S3TestConfig): S3Client {
  return new S3Client({
    endpoint: config.endpoint,
    region: config.region,
    credentials: config.credentials,
    forcePathStyle: config.forcePathStyle,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

function requireConfig(): S3TestConfig {
  const config = s3TestConfig();
  if (config === undefined) throw new Error(`S3 server not available: ${S3_UNAVAILABLE}`);
  return config;
}

/** Creates bucket `name` on the test server (no error if it exists). Returns the name. */
export async function createTestBucket(name: string, config: S3TestConfig = requireConfig()): Promise<string> {
  const c = client(config);
  try {
    await c.send(new CreateBucketCommand({ Bucket: name }));
  } catch (err) {
    const code = (err as { name?: string }).name;
    if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') throw err;
  } finally {
    c.destroy();
  }
  return name;
}

/** Empties and removes bucket `name` (objects and unfinished multipart uploads). Missing bucket: no error. */
export async function deleteTestBucket(name: string, config: S3TestConfig = requireConfig()): Promise<void> {
  const c = client(config);
  try {
    let token: string | undefined;
    do {
      const page = await c.send(new ListObjectsV2Command({ Bucket: name, ...(token ? { ContinuationToken: token } : {}) }));
      for (const o of page.Contents ?? []) if (o.Key !== undefined) await c.send(new DeleteObjectCommand({ Bucket: name, Key: o.Key }));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    const uploads = await c.send(new ListMultipartUploadsCommand({ Bucket: name }));
    for (const u of uploads.Uploads ?? []) {
      if (u.Key !== undefined && u.UploadId !== undefined) {
        await c.send(new AbortMultipartUploadCommand({ Bucket: name, Key: u.Key, UploadId: u.UploadId }));
      }
    }
    await c.send(new DeleteBucketCommand({ Bucket: name }));
  } catch (err) {
    if ((err as { name?: string }).name !== 'NoSuchBucket') throw err;
  } finally {
    c.destroy();
  }
}

/** Deletes every object under `prefix` in bucket `name` (a contract subtest's cleanup). */
export async function deletePrefix(name: string, prefix: string, config: S3TestConfig = requireConfig()): Promise<void> {
  const c = client(config);
  try {
    let token: string | undefined;
    do {
      const page = await c.send(new ListObjectsV2Command({ Bucket: name, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }));
      await Promise.all((page.Contents ?? []).map((o) => c.send(new DeleteObjectCommand({ Bucket: name, Key: o.Key }))));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  } finally {
    c.destroy();
  }
}

/** Lists unfinished multipart uploads in `name` (tests check that failed uploads were aborted). */
export async function pendingMultipartUploads(name: string, config: S3TestConfig = requireConfig()): Promise<string[]> {
  const c = client(config);
  try {
    const out = await c.send(new ListMultipartUploadsCommand({ Bucket: name }));
    return (out.Uploads ?? []).map((u) => u.Key ?? '');
  } finally {
    c.destroy();
  }
}
