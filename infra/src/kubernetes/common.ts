import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import type { PlatformModel } from '@numbering/blueprint';
import { pinnedImage } from '../shared/images.js';
import { platformLabels, selectorLabels } from '../shared/labels.js';

type Container = k8s.types.input.core.v1.Container;
type Probe = k8s.types.input.core.v1.Probe;
type PodSecurityContext = k8s.types.input.core.v1.PodSecurityContext;
type SecurityContext = k8s.types.input.core.v1.SecurityContext;

export interface KubernetesComponentArgs {
  model: PlatformModel;
  /** The platform namespace (an output of the Namespace resource, so everything waits for it). */
  namespace: pulumi.Input<string>;
}

/** Object metadata with the platform's labels; names are fixed because the model's DNS names are built from them. */
export function metadata(name: string, component: string, namespace: pulumi.Input<string>, extra: { labels?: Record<string, string>; annotations?: pulumi.Input<Record<string, pulumi.Input<string>>> } = {}) {
  return { name, namespace, labels: { ...platformLabels(component, name), ...extra.labels }, ...(extra.annotations ? { annotations: extra.annotations } : {}) };
}

/** The pod template's labels: the selector plus the descriptive ones. */
export function podLabels(name: string, component: string, selector: Record<string, string> = selectorLabels(name)): Record<string, string> {
  return { ...platformLabels(component, name), ...selector };
}

/**
 * Pods run as a fixed non-root user with the runtime's default seccomp profile, which with the
 * container settings below satisfies the `restricted` Pod Security Standard the namespace enforces.
 */
export function podSecurity(uid: number, gid = uid, fsGroup = gid): PodSecurityContext {
  return { runAsNonRoot: true, runAsUser: uid, runAsGroup: gid, fsGroup, fsGroupChangePolicy: 'OnRootMismatch', seccompProfile: { type: 'RuntimeDefault' } };
}

/** No privilege escalation, no capabilities, and a read-only root filesystem (writable paths are explicit volumes). */
export function containerSecurity(readOnlyRootFilesystem = true): SecurityContext {
  return { allowPrivilegeEscalation: false, readOnlyRootFilesystem, runAsNonRoot: true, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } };
}

const probeTiming = { periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 3 };
export const httpProbe = (port: number, path: string, extra: Partial<Probe> = {}): Probe => ({ httpGet: { port, path }, ...probeTiming, ...extra });
export const tcpProbe = (port: number, extra: Partial<Probe> = {}): Probe => ({ tcpSocket: { port }, ...probeTiming, ...extra });
export const execProbe = (command: string[], extra: Partial<Probe> = {}): Probe => ({ exec: { command }, ...probeTiming, timeoutSeconds: 5, ...extra });

/** A container's image, checked to be pinned (the config key names the setting to fix). */
export const image = (key: string, ref: string) => pinnedImage(key, ref);

export function resources(cpuRequest: string, memoryRequest: string, memoryLimit: string, cpuLimit?: string): k8s.types.input.core.v1.ResourceRequirements {
  return { requests: { cpu: cpuRequest, memory: memoryRequest }, limits: { memory: memoryLimit, ...(cpuLimit ? { cpu: cpuLimit } : {}) } };
}

/** Writable scratch space for containers with a read-only root filesystem. */
export const tmpVolume = (name = 'tmp', sizeLimit = '64Mi'): k8s.types.input.core.v1.Volume => ({ name, emptyDir: { sizeLimit } });

/** The pod name from the downward API; used in subPathExpr to mount the member's own rendered file. */
export const POD_NAME_ENV = { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } };

export const secretEnv = (name: string, secret: pulumi.Input<string>, key: string) => ({ name, valueFrom: { secretKeyRef: { name: secret, key } } });

/** A Secret whose data stays secret in the state and in previews, whatever produced it. */
export function secret(resourceName: string, component: string, namespace: pulumi.Input<string>, stringData: pulumi.Input<Record<string, pulumi.Input<string>>>, parent: pulumi.Resource, opts: pulumi.CustomResourceOptions = {}): k8s.core.v1.Secret {
  return new k8s.core.v1.Secret(
    resourceName,
    { metadata: metadata(resourceName, component, namespace), type: 'Opaque', stringData: pulumi.secret(pulumi.output(stringData)) as pulumi.Output<Record<string, string>> },
    { parent, ...opts },
  );
}

export function configMap(resourceName: string, component: string, namespace: pulumi.Input<string>, data: Record<string, string>, parent: pulumi.Resource): k8s.core.v1.ConfigMap {
  return new k8s.core.v1.ConfigMap(resourceName, { metadata: metadata(resourceName, component, namespace), data }, { parent });
}

/**
 * A headless Service: one DNS record per pod (`<pod>.<service>.<ns>.svc.cluster.local`), the names the
 * model gives Redis nodes, the MariaDB pod and Patroni members. `publishNotReady` lets members find
 * each other before they are ready (a cluster cannot become ready before its members can meet).
 */
export function headlessService(name: string, component: string, namespace: pulumi.Input<string>, selector: Record<string, string>, ports: { name: string; port: number }[], publishNotReady: boolean, parent: pulumi.Resource): k8s.core.v1.Service {
  return new k8s.core.v1.Service(
    name,
    {
      metadata: metadata(name, component, namespace),
      spec: { clusterIP: 'None', publishNotReadyAddresses: publishNotReady, selector, ports: ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.port, protocol: 'TCP' })) },
    },
    { parent },
  );
}

export function clusterService(name: string, component: string, namespace: pulumi.Input<string>, selector: Record<string, string>, ports: { name: string; port: number; targetPort?: number }[], parent: pulumi.Resource): k8s.core.v1.Service {
  return new k8s.core.v1.Service(
    name,
    {
      metadata: metadata(name, component, namespace),
      spec: { type: 'ClusterIP', selector, ports: ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.targetPort ?? p.port, protocol: 'TCP' })) },
    },
    { parent },
  );
}

/** Voluntary disruptions (node drains, upgrades) take at most this many pods at a time. */
export function disruptionBudget(name: string, component: string, namespace: pulumi.Input<string>, selector: Record<string, string>, budget: { maxUnavailable: number } | { minAvailable: number }, parent: pulumi.Resource): k8s.policy.v1.PodDisruptionBudget {
  return new k8s.policy.v1.PodDisruptionBudget(name, { metadata: metadata(name, component, namespace), spec: { selector: { matchLabels: selector }, ...budget } }, { parent });
}

/** Spread replicas over nodes when the cluster has several (preferred, so a one-node cluster still schedules). */
export function spreadOverNodes(selector: Record<string, string>): k8s.types.input.core.v1.Affinity {
  return {
    podAntiAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: selector } } }],
    },
  };
}

/** Keep a stopping pod serving until Services and nginx have stopped sending it requests. */
export const drainBeforeStop: k8s.types.input.core.v1.Lifecycle = { preStop: { sleep: { seconds: 5 } } };

/** A container with the conventions every long-running one follows: probes are mandatory. */
export function longRunning(c: Container & { name: string; image: string; readinessProbe: Probe; livenessProbe: Probe }): Container {
  return { imagePullPolicy: 'IfNotPresent', securityContext: containerSecurity(), ...c };
}

export { selectorLabels };

/**
 * How a rollout replaces pods. `surge`: each new pod is ready before an old one stops, so capacity
 * never drops (needs room for one extra pod). `recreate`: the old pod stops first, for one writer on a
 * ReadWriteOnce volume. Left out: Kubernetes' default rolling update.
 */
const ROLLOUTS = {
  surge: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
  recreate: { type: 'Recreate' },
} satisfies Record<string, k8s.types.input.apps.v1.DeploymentStrategy>;

type SkeletonPodFields = 'securityContext' | 'affinity' | 'enableServiceLinks';

export interface DeploymentArgs {
  /** Left out when an HPA owns the count: setting it here would reset the HPA on every `pulumi up`. */
  replicas?: number;
  /** Must never change for an existing Deployment; the Services and disruption budgets select the same labels. */
  selector: Record<string, string>;
  rollout?: keyof typeof ROLLOUTS;
  minReadySeconds?: number;
  /** Extra labels on the Deployment object itself. */
  labels?: Record<string, string>;
  /** The pod template's labels, when they are not `podLabels(name, component, selector)` (releases of one app). */
  podLabels?: Record<string, string>;
  /** The pod template's annotations: checksums of the files the pods read, so a change rolls them. */
  annotations?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  podSecurity: PodSecurityContext;
  /** Prefer one pod per node (Deployments with several replicas). */
  spreadOverNodes?: boolean;
  /** The rest of the pod spec: containers, volumes, service account, grace period (the skeleton's fields are set above). */
  pod: Omit<k8s.types.input.core.v1.PodSpec, SkeletonPodFields> & Partial<Record<SkeletonPodFields, never>>;
}

/** A Deployment with the platform's skeleton: labels, selector, pod security, no service-link env. */
export function deployment(name: string, component: string, namespace: pulumi.Input<string>, args: DeploymentArgs, parent: pulumi.Resource, opts: pulumi.CustomResourceOptions = {}): k8s.apps.v1.Deployment {
  const { selector } = args;
  return new k8s.apps.v1.Deployment(
    name,
    {
      metadata: metadata(name, component, namespace, { labels: args.labels }),
      spec: {
        ...(args.replicas === undefined ? {} : { replicas: args.replicas }),
        selector: { matchLabels: selector },
        ...(args.rollout ? { strategy: ROLLOUTS[args.rollout] } : {}),
        ...(args.minReadySeconds === undefined ? {} : { minReadySeconds: args.minReadySeconds }),
        template: {
          metadata: { labels: args.podLabels ?? podLabels(name, component, selector), ...(args.annotations ? { annotations: args.annotations } : {}) },
          spec: {
            securityContext: args.podSecurity,
            ...(args.spreadOverNodes ? { affinity: spreadOverNodes(selector) } : {}),
            enableServiceLinks: false,
            ...args.pod,
          },
        },
      },
    },
    { parent, ...opts },
  );
}

/** Where backup CronJobs (the PostgreSQL dump, the ops backups) write, on their own PVC. */
export const BACKUP_DIR = '/backup';

export interface BackupCronJobArgs {
  /** `postgres`: names the PVC (`<component>-backups`) and the CronJob (`<component>-backup`). */
  component: string;
  namespace: pulumi.Input<string>;
  schedule: pulumi.Input<string>;
  storage: string;
  image: pulumi.Input<string>;
  /** bash script that writes one dump under BACKUP_DIR. */
  script: string;
  /** The credential the dump tool reads from its environment (never from argv or the Job object). */
  passwordEnv: { name: string; secret: pulumi.Input<string>; key: string };
  podSecurity: PodSecurityContext;
  memoryLimit: string;
}

/**
 * The PVC `<component>-backups` that a component's backups are written to. Created by the component
 * that owns the data (its URN stays put when the job that writes it moves, e.g. to the ops CronJobs).
 */
export function backupVolume(component: string, namespace: pulumi.Input<string>, storage: string, parent: pulumi.Resource): k8s.core.v1.PersistentVolumeClaim {
  return new k8s.core.v1.PersistentVolumeClaim(
    `${component}-backups`,
    { metadata: metadata(`${component}-backups`, component, namespace), spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage } } } },
    { parent },
  );
}

/** A scheduled dump to a dedicated PVC: one Job at a time, a few kept for inspection, bounded run time. */
export function backupCronJob(args: BackupCronJobArgs, parent: pulumi.Resource): k8s.batch.v1.CronJob {
  const { component, namespace } = args;
  const volume = backupVolume(component, namespace, args.storage, parent);
  const name = `${component}-backup`;
  return new k8s.batch.v1.CronJob(
    name,
    {
      metadata: metadata(name, component, namespace),
      spec: {
        schedule: args.schedule,
        concurrencyPolicy: 'Forbid',
        successfulJobsHistoryLimit: 3,
        failedJobsHistoryLimit: 3,
        jobTemplate: {
          spec: {
            backoffLimit: 2,
            activeDeadlineSeconds: 3600,
            template: {
              metadata: { labels: podLabels(name, component, selectorLabels(name)) },
              spec: {
                restartPolicy: 'Never',
                securityContext: args.podSecurity,
                enableServiceLinks: false,
                containers: [
                  {
                    name: 'dump',
                    image: args.image,
                    command: ['bash', '-c', args.script],
                    env: [secretEnv(args.passwordEnv.name, args.passwordEnv.secret, args.passwordEnv.key)],
                    volumeMounts: [{ name: 'backups', mountPath: BACKUP_DIR }, { name: 'tmp', mountPath: '/tmp' }],
                    securityContext: containerSecurity(),
                    resources: resources('100m', '64Mi', args.memoryLimit),
                  },
                ],
                volumes: [{ name: 'backups', persistentVolumeClaim: { claimName: volume.metadata.name } }, tmpVolume()],
              },
            },
          },
        },
      },
    },
    { parent },
  );
}
