/**
 * What tests need to talk to the HDFS test cluster that test/support/run-tests.ts started
 * (test/support/hdfs-server.ts prints FLOE_TEST_HDFS_URL and FLOE_TEST_HDFS_USER): the URI and user, and
 * removal of a test's folder without going through the store under test.
 *
 * Tests call `hdfsTestConfig()`; when it returns undefined they must skip LOUDLY:
 *   t.skip(`HDFS not available: ${HDFS_UNAVAILABLE}`)
 */

export const HDFS_URL_VAR = 'FLOE_TEST_HDFS_URL';
export const HDFS_USER_VAR = 'FLOE_TEST_HDFS_USER';
/** The folder of the test cluster under which tests make their own sub-folders. */
export const HDFS_TEST_ROOT = '/floe-test';
export const HDFS_TEST_USER = 'floe';

/** Why the HDFS tests skip when they do. */
export const HDFS_UNAVAILABLE =
  `${HDFS_URL_VAR} is not set. Run the tests through test/support/run-tests.ts (make test), or build the test ` +
  `cluster (bash test/support/install-hdfs.sh), start node dist/test/support/hdfs-server.js and export the ` +
  `variables it prints.`;

export interface HdfsTestConfig {
  /** hdfs://127.0.0.1:<WebHDFS HTTP port>/floe-test */
  url: string;
  user: string;
}

/** The test cluster's URI and user, or undefined when no cluster was started. */
export function hdfsTestConfig(): HdfsTestConfig | undefined {
  const url = process.env[HDFS_URL_VAR];
  if (url === undefined || url === '') return undefined;
  const user = process.env[HDFS_USER_VAR];
  return { url, user: user === undefined || user === '' ? HDFS_TEST_USER : user };
}

/** The WebHDFS REST URL of the absolute HDFS path `path` on the cluster of `config`. */
function restUrl(config: HdfsTestConfig, path: string, op: string, extra = ''): string {
  const u = new URL(config.url.replace(/^hdfs:/, 'http:'));
  const encoded = path
    .split('/')
    .map((s) => encodeURIComponent(s))
    .join('/');
  return `http://${u.host}/webhdfs/v1${encoded}?op=${op}&user.name=${encodeURIComponent(config.user)}${extra}`;
}

/** The absolute HDFS path of the test URI's folder (e.g. '/floe-test'). */
export function hdfsRootPath(config: HdfsTestConfig): string {
  return new URL(config.url.replace(/^hdfs:/, 'http:')).pathname.replace(/\/+$/, '');
}

/**
 * Deletes the absolute HDFS path `path` and everything under it (missing: no error), straight over WebHDFS
 * so that it works whatever state the store under test is in.
 */
export async function deleteHdfsTree(config: HdfsTestConfig, path: string): Promise<void> {
  const root = hdfsRootPath(config);
  if (!path.startsWith(`${root}/`)) throw new Error(`refusing to delete ${path}: tests only delete below ${root}/ (the test URI's folder)`);
  const res = await fetch(restUrl(config, path, 'DELETE', '&recursive=true'), { method: 'DELETE' });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`WebHDFS DELETE ${path} answered ${res.status}: ${body}`);
}

/** Every name under the absolute HDFS folder `path`, recursively (files and folders, relative), sorted. */
export async function listHdfsTree(config: HdfsTestConfig, path: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    const res = await fetch(restUrl(config, dir, 'LISTSTATUS'));
    if (res.status === 404) {
      await res.text();
      return;
    }
    const body = (await res.json()) as { FileStatuses: { FileStatus: Array<{ pathSuffix: string; type: string }> } };
    for (const s of body.FileStatuses.FileStatus) {
      const name = rel === '' ? s.pathSuffix : `${rel}/${s.pathSuffix}`;
      out.push(name);
      if (s.type === 'DIRECTORY') await walk(`${dir}/${s.pathSuffix}`, name);
    }
  };
  await walk(path, '');
  return out.sort();
}
