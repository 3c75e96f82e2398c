import { spawnSync } from 'node:child_process';

/** Programs the devstack runs, and the Debian package each comes from. */
export const REQUIRED_PROGRAMS: Record<string, string> = {
  'redis-server': 'redis-server',
  'redis-cli': 'redis-tools',
  mariadbd: 'mariadb-server',
  'mariadb-install-db': 'mariadb-server',
  mariadb: 'mariadb-client',
  nginx: 'nginx',
  prometheus: 'prometheus',
  promtool: 'prometheus',
  'prometheus-alertmanager': 'prometheus-alertmanager',
  'prometheus-redis-exporter': 'prometheus-redis-exporter',
  'prometheus-mysqld-exporter': 'prometheus-mysqld-exporter',
  etcd: 'etcd-server',
  patroni: 'patroni',
  haproxy: 'haproxy',
  pgbouncer: 'pgbouncer',
  supervisord: 'supervisor',
};

export function missingPrograms(): { program: string; pkg: string }[] {
  return Object.entries(REQUIRED_PROGRAMS)
    .filter(([program]) => spawnSync('sh', ['-c', `command -v ${program}`]).status !== 0)
    .map(([program, pkg]) => ({ program, pkg }));
}

/** Fails with the exact install command instead of a daemon's cryptic ENOENT halfway through `up`. */
export function checkPrerequisites(): void {
  const missing = missingPrograms();
  if (!missing.length) return;
  const pkgs = [...new Set(missing.map((m) => m.pkg))].join(' ');
  throw new Error(`missing programs: ${missing.map((m) => m.program).join(', ')}\ninstall them with:\n  sudo apt-get install -y --no-install-recommends ${pkgs}\n(or run: bash scripts/bootstrap.sh)`);
}
