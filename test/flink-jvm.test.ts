/**
 * The JVM side (flink/, docs/flink.md) inside the tap suite: runs `mvn -B -f flink/pom.xml test` (the Java
 * client's tests and the Flink MiniCluster jobs with their state in a Floe daemon started from dist/), and
 * passes when Maven does. Maven resolves Flink 2.3.0 from the local repository (~/.m2) and downloads what is
 * missing on the first run. The full Maven output goes to flink/target/mvn-test.log; failures are quoted here.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const root = process.cwd();
const logPath = join(root, 'flink', 'target', 'mvn-test.log');

t.test('mvn test of flink/ (Java client + Flink 2.3 jobs on Floe) passes', async (t) => {
  mkdirSync(join(root, 'flink', 'target'), { recursive: true });
  const log = createWriteStream(logPath);
  const lines: string[] = [];
  const result = await new Promise<{ code: number | null; missing: boolean }>((resolve) => {
    const child = spawn('mvn', ['-B', '-f', join(root, 'flink', 'pom.xml'), `-Dfloe.root=${root}`, 'test'], {
      cwd: root,
      env: { ...process.env, MAVEN_OPTS: process.env.MAVEN_OPTS ?? '-Xmx512m' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const collect = (chunk: Buffer) => {
      log.write(chunk);
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim() !== '') lines.push(l);
      if (lines.length > 20000) lines.splice(0, lines.length - 20000);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', (e: NodeJS.ErrnoException) => resolve({ code: null, missing: e.code === 'ENOENT' }));
    child.on('close', (code) => resolve({ code, missing: false }));
  });
  await new Promise<void>((r) => log.end(r));
  if (result.missing) {
    t.fail('mvn is not installed: the JVM tests (flink/) need Maven and a JDK 17 (apt-get install maven openjdk-17-jdk-headless)');
    return;
  }
  const summary = lines.filter((l) => /Tests run: \d+, Failures: \d+, Errors: \d+, Skipped: \d+$/.test(l)).pop() ?? '(no surefire summary)';
  t.comment(`surefire: ${summary}`);
  const problems = lines.filter((l) => /FAILURE!|<<< ERROR!|\[ERROR\]/.test(l)).slice(0, 60);
  t.equal(result.code, 0, `mvn test exit code; full output in ${logPath}\n${problems.join('\n')}\n${lines.slice(-40).join('\n')}`);
  t.match(summary, /Tests run: [1-9]\d*, Failures: 0, Errors: 0/, 'tests ran and none failed');
});
