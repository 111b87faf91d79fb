/**
 * The lean SigV4 GET signer (lib/store/s3-sign.ts) against the SDK's SignatureV4 on the same requests: every
 * header must be byte-identical (an S3 server recomputes the signature, so any difference is a 403), for
 * seeded random object keys, ranges, dates (day boundaries included), regions, services and credentials
 * with and without session tokens; and the signing key must follow a credential or day change.
 */
import { SignatureV4 } from '@smithy/signature-v4';
import t from 'tap';
import { encodeKey, NodeSha256, type S3Identity } from '../lib/store/s3-get.js';
import { EMPTY_SHA256, GetSigner } from '../lib/store/s3-sign.js';
import { Random } from '../lib/util/random.js';

const KEY_CHARS = ['a', 'Z', '0', '/', '-', '_', '.', '~', ' ', '+', '%', '=', '&', '?', '#', '!', "'", '(', '*', 'é', '日', '\u{1F600}'];

function randomKey(r: Random): string {
  let k = '';
  const n = r.range(1, 40);
  for (let i = 0; i < n; i++) k += KEY_CHARS[r.int(KEY_CHARS.length)]!;
  return k;
}

function randomIdentity(r: Random): S3Identity {
  const id: S3Identity = { accessKeyId: `AKIA${r.int(1e9)}`, secretAccessKey: `secret/${r.int(1e9)}+${r.int(1e9)}` };
  const kind = r.int(4);
  if (kind === 1) id.sessionToken = `token${r.int(1e9)}/+=`;
  if (kind === 2) id.sessionToken = ` spaced  token\twith\ttabs `; // the SDK canonicalizes whitespace
  if (kind === 3) id.sessionToken = ''; // empty: the SDK sends no token header
  return id;
}

async function sdkHeaders(
  identity: S3Identity,
  region: string,
  service: string,
  host: string,
  path: string,
  range: string | undefined,
  now: number,
): Promise<Record<string, string>> {
  const sdk = new SignatureV4({ service, region, credentials: identity, sha256: NodeSha256, uriEscapePath: false, applyChecksum: true });
  const headers: Record<string, string> = { host, 'x-amz-content-sha256': EMPTY_SHA256 };
  if (range !== undefined) headers.range = range;
  const [hostname, port] = host.split(':');
  const signed = await sdk.sign(
    { method: 'GET', protocol: 'http:', hostname: hostname!, port: port === undefined ? undefined : Number(port), path, query: {}, headers },
    { signingDate: new Date(now) },
  );
  return signed.headers;
}

void t.test('lean signer headers equal the SDK signer headers on random GETs', async (t) => {
  const r = new Random(0x5167);
  const regions = ['us-east-1', 'eu-central-1', 'ap-southeast-2'];
  let signer = new GetSigner('us-east-1', 's3');
  let current = { region: 'us-east-1', service: 's3' };
  let mismatches = 0;
  for (let i = 0; i < 400; i++) {
    if (i % 50 === 0) {
      current = { region: regions[r.int(regions.length)]!, service: r.bool(0.8) ? 's3' : 's3-outposts' };
      signer = new GetSigner(current.region, current.service);
    }
    const identity = randomIdentity(r);
    const host = r.bool() ? `127.0.0.1:${r.range(1024, 65535)}` : `bucket${r.int(100)}.s3.${current.region}.amazonaws.com`;
    const path = `/${r.bool() ? `bucket${r.int(10)}/` : ''}${encodeKey(randomKey(r))}`;
    const offset = r.int(1 << 30);
    const rangeKind = r.int(3);
    const range = rangeKind === 0 ? undefined : rangeKind === 1 ? `bytes=${offset}-` : `bytes=${offset}-${offset + r.range(0, 1 << 20)}`;
    // Random instants, many of them within a second of midnight UTC (the short date rolls over there).
    const day = Date.UTC(2020, 0, 1) + r.int(3000) * 86_400_000;
    const now = r.bool() ? day - 1000 + r.int(2000) : day + r.int(86_400_000);
    const expected = await sdkHeaders(identity, current.region, current.service, host, path, range, now);
    const got = signer.sign(path, host, range, identity, now);
    if (JSON.stringify(Object.entries(got).sort()) !== JSON.stringify(Object.entries(expected).sort())) {
      mismatches++;
      if (mismatches <= 3) t.same(got, expected, `request ${i}: ${path} ${range ?? '(whole)'} at ${new Date(now).toISOString()}`);
    }
  }
  t.equal(mismatches, 0, 'all 400 requests signed identically');
});

void t.test('the signing key follows a credential change and a new day', async (t) => {
  const signer = new GetSigner('us-east-1', 's3');
  const a: S3Identity = { accessKeyId: 'A', secretAccessKey: 'first' };
  const b: S3Identity = { accessKeyId: 'A', secretAccessKey: 'second' };
  const t0 = Date.UTC(2024, 5, 1, 23, 59, 59, 500);
  for (const [identity, now] of [
    [a, t0],
    [b, t0], // rotated secret, same day
    [b, t0 + 1000], // next day, same secret
    [a, t0 + 1000],
  ] as const) {
    const got = signer.sign('/bkt/k', 'h:1', 'bytes=0-9', identity, now);
    t.same(got, await sdkHeaders(identity, 'us-east-1', 's3', 'h:1', '/bkt/k', 'bytes=0-9', now), `${identity.secretAccessKey} at ${new Date(now).toISOString()}`);
  }
});
