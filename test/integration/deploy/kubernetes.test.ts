/**
 * deploy/kubernetes/ (README "Deploying", "Kubernetes"): every file parses
 * as YAML, kustomization.yaml lists them all, and the pieces fit together:
 * selectors match the pod labels, port names exist, the probes ask /health
 * and /ping on the admin port that lb4's config opens, the config file lb4
 * is given is where the ConfigMap is mounted, the pod runs as the image's
 * user, the grace period covers the drain, and the srv: source names the
 * headless Service's SRV records. The ConfigMap's lb4.yaml passes
 * `lb4 check`; while this lb4 cannot read `srv:` sources yet, every problem
 * found must be about them, and the file with them replaced by an address
 * must pass.
 */
import t from 'tap';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { runLb4 } from '../../helpers/lb4.js';
import { tempDir, type Json } from '../../helpers/ops.js';

const DIR = fileURLToPath(new URL('../../../deploy/kubernetes/', import.meta.url));
const DOCKERFILE = fileURLToPath(new URL('../../../Dockerfile', import.meta.url));

interface Doc {
  file: string;
  obj: Json;
}

function load(): Doc[] {
  const docs: Doc[] = [];
  for (const file of readdirSync(DIR).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml')).sort()) {
    for (const d of parseAllDocuments(readFileSync(join(DIR, file), 'utf8'))) {
      if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0]!.message}`);
      const obj = d.toJS() as Json;
      if (obj !== null && obj !== undefined) docs.push({ file, obj });
    }
  }
  return docs;
}

/** Every key/value of `sub` is in `labels`. */
const selects = (sub: Record<string, string>, labels: Record<string, string>): boolean =>
  Object.keys(sub).length > 0 && Object.entries(sub).every(([k, v]) => labels[k] === v);

const seconds = (d: string | number): number => {
  if (typeof d === 'number') return d / 1000;
  const m = /^([\d.]+)(ms|s|m|h)?$/.exec(d.trim());
  if (!m) throw new Error(`duration ${d}`);
  return Number(m[1]) * ({ ms: 0.001, s: 1, m: 60, h: 3600 } as Record<string, number>)[m[2] ?? 'ms']!;
};

t.test('the manifests parse and refer to each other correctly', async (t) => {
  const docs = load();
  for (const { file, obj } of docs) t.ok(obj.apiVersion && obj.kind && (obj.kind === 'Kustomization' || obj.metadata?.name), `${file}: apiVersion, kind, metadata.name`);
  const of = (kind: string, name?: string): Json => {
    const found = docs.filter((d) => d.obj.kind === kind && (name === undefined || d.obj.metadata.name === name));
    if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
    return found[0]!.obj;
  };

  const kustomization = of('Kustomization');
  t.same([...kustomization.resources].sort(), [...new Set(docs.map((d) => d.file))].filter((f) => f !== 'kustomization.yaml').sort(), 'kustomization.yaml lists every manifest');

  const deployment = of('Deployment', 'lb4');
  const pod = deployment.spec.template;
  const labels = pod.metadata.labels as Record<string, string>;
  t.ok(selects(deployment.spec.selector.matchLabels, labels), 'the Deployment selects its pods');
  const service = of('Service', 'lb4');
  t.ok(selects(service.spec.selector, labels), 'the Service selects the lb4 pods');
  t.ok(selects(of('PodDisruptionBudget').spec.selector.matchLabels, labels), 'the PodDisruptionBudget too');

  const container = (pod.spec.containers as Json[]).find((c) => c.name === 'lb4');
  const ports = new Map<string, number>((container.ports as Json[]).map((p) => [p.name, p.containerPort]));
  for (const p of service.spec.ports as Json[]) t.ok(ports.has(p.targetPort), `Service port ${p.name} targets the container port ${p.targetPort}`);
  t.match(container.readinessProbe.httpGet, { path: '/health', port: 'admin' }, 'readiness asks /health');
  t.match(container.livenessProbe.httpGet, { path: '/ping', port: 'admin' }, 'liveness asks /ping');

  // the config file: mounted from the ConfigMap where --config says
  const args = container.args as string[];
  const configPath = args[args.indexOf('--config') + 1]!;
  const mount = (container.volumeMounts as Json[]).find((m) => configPath.startsWith(`${m.mountPath}/`));
  t.ok(mount, `${configPath} is on a mounted volume`);
  const volume = (pod.spec.volumes as Json[]).find((v) => v.name === mount.name);
  const configMap = of('ConfigMap', volume.configMap.name);
  const key = configPath.slice(mount.mountPath.length + 1);
  t.type(configMap.data[key], 'string', `the ConfigMap ${configMap.metadata.name} has the key ${key}`);
  const lb4 = parseAllDocuments(configMap.data[key] as string)[0]!.toJS() as Json;
  const portOf = (addr: string): number => Number(addr.slice(addr.lastIndexOf(':') + 1));
  t.equal(portOf(lb4.listen), ports.get('lb'), 'lb4 listens on the container port "lb"');
  t.equal(portOf(lb4.admin), ports.get('admin'), 'the admin listener is on the container port "admin"');
  t.match(lb4.admin, /^0\.0\.0\.0:/, 'on the pod address, where the kubelet probes');

  // security and lifecycle
  const user = /^USER (\d+):(\d+)$/m.exec(readFileSync(DOCKERFILE, 'utf8'));
  t.equal(pod.spec.securityContext.runAsNonRoot, true);
  t.equal(String(pod.spec.securityContext.runAsUser), user?.[1], "runAsUser is the image's USER");
  t.equal(container.securityContext.allowPrivilegeEscalation, false);
  t.same(container.securityContext.capabilities.drop, ['ALL']);
  t.ok(container.resources.requests.cpu && container.resources.requests.memory && container.resources.limits.memory, 'resources');
  const preStop = container.lifecycle?.preStop?.exec?.command as string[] | undefined;
  const pause = preStop?.[0] === 'sleep' ? Number(preStop[1]) : 0;
  t.ok(pod.spec.terminationGracePeriodSeconds > pause + seconds(lb4.drainTimeout), 'the grace period covers the preStop pause and the drain');

  // the backends: the headless Service's SRV records
  const sources = (lb4.backends as unknown[]).filter((b): b is string => typeof b === 'string' && b.startsWith('srv:'));
  t.equal(sources.length, 1, 'one srv: source');
  const m = /^srv:_([a-z0-9-]+)\._(tcp|udp)\.([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local$/.exec(sources[0]!);
  t.ok(m, `${sources[0]} is a Kubernetes SRV name`);
  const headless = of('Service', m![3]);
  t.equal(headless.spec.clusterIP, 'None', `${m![3]} is headless (one SRV record per pod)`);
  t.equal(headless.metadata.namespace ?? 'default', m![4], 'in the namespace the SRV name says');
  t.ok((headless.spec.ports as Json[]).some((p) => p.name === m![1] && (p.protocol ?? 'TCP').toLowerCase() === m![2]), `it has a ${m![2]} port named ${m![1]}`);
  t.ok(Object.keys(headless.spec.selector ?? {}).length > 0, 'it selects backend pods');
});

t.test("the ConfigMap's lb4.yaml passes lb4 check", async (t) => {
  const configMap = load().find((d) => d.obj.kind === 'ConfigMap')!.obj;
  const text = configMap.data['lb4.yaml'] as string;
  const dir = tempDir(t);
  const file = join(dir, 'lb4.yaml');
  writeFileSync(file, text);
  const r = await runLb4(['check', '--config', file]);
  if (r.code === 0) {
    t.equal(r.stdout, 'config ok\n', 'config ok, srv: source included');
    return;
  }
  // this lb4 does not read srv: sources yet: every problem must be about one of them
  const backends = parseAllDocuments(text)[0]!.toJS().backends as unknown[];
  const srvIndexes = backends.map((b, i) => (typeof b === 'string' && b.startsWith('srv:') ? i : -1)).filter((i) => i >= 0);
  const problems = r.stderr.trim().split('\n');
  for (const p of problems) {
    const i = /backends\[(\d+)\]/.exec(p);
    t.ok(p.includes('srv:') || (i !== null && srvIndexes.includes(Number(i[1]))), `only the srv: source is a problem: ${p}`);
  }
  writeFileSync(file, text.replace(/- srv:\S+/g, '- 127.0.0.1:8080'));
  const without = await runLb4(['check', '--config', file]);
  t.equal(without.code, 0, `with an address instead of the srv: source it passes: ${without.stderr}`);
  t.equal(without.stdout, 'config ok\n');
});
